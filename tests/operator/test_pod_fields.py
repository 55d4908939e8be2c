"""The VideoJob's pod fields reach the pods the Job controller makes, on the real control plane and node: image pull
secrets, per-stage resources with ephemeral storage, the pod template patch (labels, annotations, env, volumes,
mounts), the service account, typed tolerations and affinity. Typos and the operator's own names are refused at
admission (strict field validation and CEL), with the rule's message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _pods(kube, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    out = kube.kubectl("get", "pods", "-n", namespace, "-l", f"videojob.dev/job={name}", "-o", "json").stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def _run_collecting_pods(kube, videojobs, name: str, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply, wait for Succeeded, and keep every pod seen on the way (finished children may be cleaned up)."""
    seen: dict[str, dict[str, Any]] = {}
    videojobs.apply(name, spec)

    def done() -> bool:
        seen.update(_pods(kube, videojobs.namespace, name))
        st = videojobs.status(name)
        if st.get("phase") == "Failed":
            raise AssertionError(f"{name} failed: {st.get('message')}")
        return st.get("phase") == "Succeeded"

    kube.wait_for(f"{name} to succeed", done, timeout=180)
    return seen


def _stage(pod: dict[str, Any]) -> str:
    return pod["metadata"]["labels"]["videojob.dev/stage"]


def test_pod_fields_reach_every_worker_pod(kube, operator, videojobs) -> None:
    ns = videojobs.namespace
    kube.kubectl("create", "serviceaccount", "s3-reader", "-n", ns)
    videojobs.clip(frames=48)
    spec = videojobs.spec(segments=2)
    del spec["resources"]  # the stage defaults must schedule on this 2-CPU node
    spec["resources"] = {
        "segments": {"memory": "1Gi", "ephemeralStorage": {"request": "100Mi", "limit": "2Gi"}},
        "finalize": {"cpu": "250m"},
    }
    spec["imagePullSecrets"] = [{"name": "registry-creds"}]
    spec["serviceAccountName"] = "s3-reader"
    spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "video", "effect": "NoSchedule"}]
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [kube.node.name]}
                        ]
                    }
                ]
            }
        }
    }
    spec["podTemplate"] = {
        "labels": {"team": "media"},
        "annotations": {"cost-center": "42"},
        "env": [{"name": "EXTRA_SETTING", "value": "on"}],
        "volumes": [{"name": "extra", "emptyDir": {"sizeLimit": "16Mi"}}],
        "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
    }
    pods = _run_collecting_pods(kube, videojobs, "fields", spec)
    assert probe(videojobs.volume / "out" / "clip.mp4").frames == 48

    stages = {_stage(p) for p in pods.values()}
    assert {"detect", "segment", "finalize"} <= stages, stages
    for name, pod in pods.items():
        meta, pod_spec = pod["metadata"], pod["spec"]
        (worker,) = [c for c in pod_spec["containers"] if c["name"] == "worker"]
        assert pod_spec["imagePullSecrets"] == [{"name": "registry-creds"}], name
        assert pod_spec["serviceAccountName"] == "s3-reader"
        assert pod_spec["automountServiceAccountToken"] is False
        assert {"key": "dedicated", "operator": "Equal", "value": "video", "effect": "NoSchedule"} in pod_spec[
            "tolerations"
        ]
        assert pod_spec["affinity"] == spec["affinity"]
        assert meta["labels"]["team"] == "media" and meta["annotations"]["cost-center"] == "42"
        assert {"name": "EXTRA_SETTING", "value": "on"} in worker["env"]
        assert {"name": "extra", "emptyDir": {"sizeLimit": "16Mi"}} in pod_spec["volumes"]
        assert {"name": "extra", "mountPath": "/extra"}.items() <= next(
            m for m in worker["volumeMounts"] if m["name"] == "extra"
        ).items()
        requests, limits = worker["resources"]["requests"], worker["resources"].get("limits", {})
        assert "cpu" not in limits
        stage = _stage(pod)
        if stage == "detect":
            assert requests["cpu"] == "500m" and requests["memory"] == "4Gi"
        elif stage == "segment":
            assert requests["cpu"] == "1" and requests["memory"] == "1Gi"
            assert requests["ephemeral-storage"] == "100Mi" and limits["ephemeral-storage"] == "2Gi"
        elif stage == "finalize":
            assert requests["cpu"] == "250m" and "ephemeral-storage" not in requests
    # The env reached the worker processes themselves (the node's record of what it started).
    runs = videojobs.runs("fields")
    assert runs and all(r.env.get("EXTRA_SETTING") == "on" for r in runs)


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("tolerations", [{"key": "gpu", "opertor": "Exists"}], 'unknown field "spec.tolerations[0].opertor"'),
        ("tolerations", [{"key": "gpu", "operator": "Exist"}], "Unsupported value"),
        ("affinity", {"nodeAfinity": {}}, 'unknown field "spec.affinity.nodeAfinity"'),
        (
            "affinity",
            {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}]}},
            "podAffinityTerm: Required value",
        ),
        ("imagePullSecrets", [{"nam": "x"}], 'unknown field "spec.imagePullSecrets[0].nam"'),
        ("podTemplate", {"env": [{"name": "VIDEOJOB_INPUT", "value": "x"}]}, "are set by the operator"),
        ("podTemplate", {"volumes": [{"name": "scratch", "emptyDir": {}}]}, "are the operator's"),
        ("podTemplate", {"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "each names a volume"),
        ("resources", {"segments": {"ephemeralStorage": {"request": "2Gi", "limit": "1Gi"}}}, "limit must be >="),
        ("resources", {"detect": {"cpus": "1"}}, 'unknown field "spec.resources.detect.cpus"'),
    ],
)
def test_typos_and_reserved_names_are_refused_at_admission(kube, videojobs, field, value, refusal) -> None:
    spec = videojobs.spec()
    spec[field] = value
    result = videojobs.apply("typo", spec, check=False)
    assert result.returncode != 0, f"{field}={value!r} was accepted"
    assert refusal in result.stderr, result.stderr
