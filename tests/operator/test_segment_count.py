"""D13: an explicit `segmentation.segments` is honoured or refused with a message, never silently lowered.

The controller with a fake Kube (no cluster): the detect Job's pod reports a plan, the controller decides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from videojob.common.jobmodel import SegmentationConfig as SegmentationSpec
from videojob.operator.controller import Controller
from videojob.operator.settings import OperatorSettings

UID = "6f1c2d3e-aaaa-bbbb-cccc-000000000001"


class FakeKube:
    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self.created: list[dict[str, Any]] = []

    def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name.endswith("-detect"):  # the detect Job completed; the segment Job does not exist yet
            return {"metadata": {"name": name}, "spec": {}, "status": {"succeeded": 1, "conditions": [COMPLETE]}}
        return None

    def job_seen(self, namespace: str, name: str) -> bool:
        return self.get_job(namespace, name) is not None

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None  # the output's Lease: nobody holds it

    def create_lease(self, lease: dict[str, Any]) -> bool:
        return True

    def create(self, manifest: dict[str, Any]) -> bool:
        self.created.append(manifest)
        return True

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        if not selector.endswith("stage=detect"):
            return []
        state = {"terminated": {"exitCode": 0, "message": json.dumps(self.summary)}}
        return [
            {
                "metadata": {"name": "many-detect-x1y2z", "namespace": namespace, "uid": "pod-uid"},
                "status": {"phase": "Succeeded", "containerStatuses": [{"name": "worker", "state": state}]},
            }
        ]


COMPLETE = {"type": "Complete", "status": "True"}


def reconcile(segmentation: dict[str, Any], planned: int, frames: int) -> tuple[Any, FakeKube]:
    kube = FakeKube({"segments": planned, "frames": frames, "fps": 25.0, "width": 64, "height": 48})
    settings = OperatorSettings("img:1", None, 5.0, 300.0, 0, None)
    body = {
        "metadata": {"name": "many", "namespace": "team-a", "uid": UID, "generation": 1},
        "spec": {
            "input": {"claimName": "media", "path": "in/clip.mp4"},
            "output": {"path": "out/clip.mp4"},
            "segmentation": segmentation,
        },
    }
    status = {"phase": "Detecting", "stageStarts": {"detect": "2026-01-01T00:00:00Z"}}
    step = Controller(kube, settings).reconcile(body, status, now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))  # type: ignore[arg-type]
    return step, kube


def test_fewer_planned_segments_than_asked_fail_with_a_message() -> None:
    # 10000 asked of 480 frames at 24 frames a segment: the plan can make 20 at most.
    step, kube = reconcile({"segments": 10000}, planned=20, frames=480)
    st = step.status
    assert st.phase == "Failed"
    assert "segmentation.segments" in st.message and "10000" in st.message and "20" in st.message
    assert "minFramesPerSegment" in st.message
    assert ("Warning", "SegmentsUnavailable") in [(t, r) for t, r, _ in step.events]
    assert not [m for m in kube.created if m["kind"] == "Job"]  # no GPU time spent


def test_asked_segments_that_fit_are_honoured() -> None:
    step, kube = reconcile({"segments": 4, "minFramesPerSegment": 4}, planned=4, frames=48)
    assert step.status.phase == "Processing" and step.status.segments.total == 4
    jobs = [m for m in kube.created if m["kind"] == "Job"]
    assert jobs and all(job["spec"]["completions"] == 4 for job in jobs)


def test_automatic_counts_are_planned_freely() -> None:
    step, _ = reconcile({}, planned=1, frames=48)
    assert step.status.phase == "Processing"


def test_the_segment_cap_is_in_the_schema() -> None:
    """Above 10000 the API server refuses (the schema's maximum), so nothing above it reaches the plan."""
    field = SegmentationSpec.model_json_schema(by_alias=True)["properties"]["segments"]
    assert field["anyOf"][0]["maximum"] == 10000
    with pytest.raises(ValueError, match="10000"):
        SegmentationSpec(segments=10001)
