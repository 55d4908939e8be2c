"""VideoJobs whose input or output is an object (`url: s3://bucket/key`): what the pods are given (pure builders)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from videojob.operator import api
from videojob.operator.builders import (
    InvalidSpecError,
    build_detect_job,
    build_finalize_job,
    build_segment_job,
    context_from_body,
)
from videojob.operator.outputlock import output_id

UID = "6f1c2d3e-aaaa-bbbb-cccc-000000000002"
STORE = {
    "endpoint": "http://minio.storage:9000",
    "region": "eu-west-1",
    "credentialsSecretRef": {"name": "s3-keys"},
}


def ctx_of(**spec: Any) -> Any:
    body = {"metadata": {"name": "clip", "namespace": "team-a", "uid": UID}, "spec": spec}
    return context_from_body(body, default_image="registry.local/videojob-worker:1")


def pods(ctx: Any) -> list[dict[str, Any]]:
    jobs = [build_detect_job(ctx), build_segment_job(ctx, 3), build_finalize_job(ctx)]
    return [j["spec"]["template"]["spec"] for j in jobs]


def env_of(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}


def test_object_in_object_out_with_the_claim_as_scratch() -> None:
    ctx = ctx_of(
        input={"url": "s3://media/in/clip.mp4"},
        output={"url": "s3://media/out/clip.mp4", "claimName": "scratch"},
        objectStore=STORE,
    )
    for pod in pods(ctx):
        env = env_of(pod)
        assert env["VIDEOJOB_INPUT"] == "s3://media/in/clip.mp4"
        assert env["VIDEOJOB_WORKDIR"].startswith(f"{api.DATA_MOUNT}/.videojob/")
        assert env["AWS_ENDPOINT_URL"] == "http://minio.storage:9000" and env["AWS_REGION"] == "eu-west-1"
        # The key pair only by reference: no value of it is in the pod spec.
        assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "s3-keys", "key": "AWS_ACCESS_KEY_ID"}}
        assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-keys", "key": "AWS_SECRET_ACCESS_KEY"}}
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims == ["scratch"]
    assert env_of(pods(ctx)[2])["VIDEOJOB_OUTPUT"] == "s3://media/out/clip.mp4"
    assert output_id(ctx) == "s3://media/out/clip.mp4"  # two VideoJobs may not write one object at once


def test_object_input_file_output_and_the_reverse() -> None:
    ctx = ctx_of(input={"url": "s3://media/in/clip.mp4"}, output={"claimName": "media", "path": "out/clip.mp4"})
    finalize = env_of(pods(ctx)[2])
    assert finalize["VIDEOJOB_OUTPUT"] == f"{api.DATA_MOUNT}/out/clip.mp4"
    assert "AWS_ACCESS_KEY_ID" not in finalize  # no objectStore: workload identity (the pod's own AWS variables)
    ctx = ctx_of(input={"claimName": "media", "path": "in/clip.mp4"}, output={"url": "s3://media/out/clip.mp4"})
    finalize = env_of(pods(ctx)[2])
    assert finalize["VIDEOJOB_INPUT"] == f"{api.DATA_MOUNT}/in/clip.mp4"
    assert finalize["VIDEOJOB_OUTPUT"] == "s3://media/out/clip.mp4"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"input": {"url": "s3://media/in.mp4"}, "output": {"url": "s3://media/in.mp4", "claimName": "c"}},
            "is the input",
        ),
        ({"input": {"url": "s3://media/in.mp4"}, "output": {"url": "s3://media/out.mp4"}}, "needs a claim"),
        ({"input": {"url": "s3://media/in.mp4"}, "output": {"path": "out.mp4"}}, "needs a claim"),
    ],
)
def test_object_specs_that_cannot_run(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        ctx_of(**spec)


def test_manifests_are_valid_kubernetes() -> None:
    ctx = ctx_of(
        input={"url": "s3://media/in/clip.mp4"},
        output={"url": "s3://media/out/clip.mp4", "claimName": "scratch"},
        objectStore=STORE,
    )
    for job in (build_detect_job(ctx), build_segment_job(ctx, 3), build_finalize_job(ctx)):
        kubernetes_validate.validate(job, "1.35.0", strict=True)
