"""The pod fields of the VideoJob API in the builders' manifests (offline; the cluster test is test_pod_fields.py):
image pull secrets, per-stage resources and ephemeral storage, the pod template patch, the service account, and
typed tolerations and affinity. Every manifest is checked against the Kubernetes 1.35 OpenAPI schema too."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from videojob.operator.builders import InvalidSpecError, build_detect_job, build_finalize_job, build_segment_job
from videojob.operator.spec import STAGE_DEFAULTS

from .test_builders import K8S, container, ctx_of

STAGES = ("detect", "segments", "finalize")


def pods(**spec: Any) -> dict[str, dict[str, Any]]:
    ctx = ctx_of(**spec)
    jobs = {"detect": build_detect_job(ctx), "segments": build_segment_job(ctx, 3), "finalize": build_finalize_job(ctx)}
    for job in jobs.values():
        kubernetes_validate.validate(job, K8S, strict=True)
    return {stage: job["spec"]["template"] for stage, job in jobs.items()}


def test_default_cpu_requests_fit_a_two_cpu_node() -> None:
    for stage, template in pods().items():
        res = container(template["spec"])["resources"]
        assert res["requests"]["cpu"] == STAGE_DEFAULTS[stage][0]
        assert "cpu" not in res["limits"], "CPU is never limited"
    requested = {stage: container(t["spec"])["resources"]["requests"]["cpu"] for stage, t in pods().items()}
    assert requested == {"detect": "500m", "segments": "1", "finalize": "1"}


def test_stage_resources_override_the_shared_ones() -> None:
    templates = pods(
        resources={
            "cpu": "750m",
            "memory": "3Gi",
            "segments": {"cpu": "3", "ephemeralStorage": {"request": "2Gi", "limit": "8Gi"}},
            "finalize": {"memory": "6Gi"},
        }
    )
    res = {stage: container(t["spec"])["resources"] for stage, t in templates.items()}
    assert res["detect"]["requests"] == {"cpu": "750m", "memory": "3Gi"}
    assert res["segments"]["requests"] == {
        "cpu": "3",
        "memory": "3Gi",
        "ephemeral-storage": "2Gi",
        "nvidia.com/gpu": "1",
    }
    assert res["segments"]["limits"] == {"memory": "3Gi", "ephemeral-storage": "8Gi", "nvidia.com/gpu": "1"}
    assert res["finalize"]["requests"] == {"cpu": "750m", "memory": "6Gi"}
    assert res["finalize"]["limits"] == {"memory": "6Gi"}


def test_pull_secrets_service_account_tolerations_affinity_reach_every_stage() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}]
            }
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
            ]
        },
    }
    tolerations = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    templates = pods(
        imagePullSecrets=[{"name": "registry"}],
        serviceAccountName="s3-reader",
        tolerations=tolerations,
        affinity=affinity,
    )
    for stage in STAGES:
        spec = templates[stage]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "registry"}], stage
        assert spec["serviceAccountName"] == "s3-reader"
        assert spec["automountServiceAccountToken"] is False, "the API token stays out unless asked for"
        assert spec["tolerations"] == tolerations and spec["affinity"] == affinity
    token = pods(serviceAccountName="s3-reader", automountServiceAccountToken=True)["segments"]["spec"]
    assert token["automountServiceAccountToken"] is True


def test_pod_template_is_merged_into_every_worker_pod() -> None:
    patch = {
        "labels": {"team": "media"},
        "annotations": {"cost-center": "42"},
        "env": [
            {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}},
        ],
        "volumes": [{"name": "certs", "configMap": {"name": "ca-bundle"}}],
        "volumeMounts": [{"name": "certs", "mountPath": "/etc/ssl/extra", "readOnly": True}],
    }
    for stage, template in pods(podTemplate=patch).items():
        meta, spec = template["metadata"], template["spec"]
        assert meta["labels"]["team"] == "media" and meta["labels"]["videojob.dev/job"] == "clip", stage
        assert meta["annotations"] == {"cost-center": "42"}
        env = container(spec)["env"]
        assert all(e in env for e in patch["env"]) and "VIDEOJOB_CONFIG" in {e["name"] for e in env}
        assert len({e["name"] for e in env}) == len(env), "no name twice"
        assert spec["volumes"][-1] == {"name": "certs", "configMap": {"name": "ca-bundle"}}
        assert {v["name"] for v in spec["volumes"]} >= {"data", "scratch", "certs"}
        assert container(spec)["volumeMounts"][-1] == {"name": "certs", "mountPath": "/etc/ssl/extra", "readOnly": True}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"env": [{"name": "VIDEOJOB_INPUT", "value": "x"}]}, "VIDEOJOB_INPUT is set by the operator"),
        ({"env": [{"name": "HOME", "value": "/root"}]}, "HOME is set by the operator"),
        ({"volumes": [{"name": "scratch", "emptyDir": {}}]}, "scratch is the operator's volume"),
        ({"labels": {"videojob.dev/job": "other"}}, "videojob.dev/job is set by the operator"),
        ({"volumeMounts": [{"name": "data", "mountPath": "/videojob/x"}]}, "/videojob/x is the operator's mount"),
        ({"volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, "nope is not a volume of podTemplate.volumes"),
    ],
)
def test_pod_template_cannot_replace_what_the_operator_sets(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=r"spec\.podTemplate") as e:
        ctx_of(podTemplate=patch)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "spec",
    [
        {"tolerations": [{"key": "gpu", "opertor": "Exists"}]},
        {"tolerations": [{"key": "gpu", "operator": "Exist"}]},
        {"affinity": {"nodeAfinity": {}}},
        {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKy": "x"}]}}},
        {"imagePullSecrets": [{"nam": "registry"}]},
    ],
)
def test_typos_in_pod_fields_are_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpecError):
        ctx_of(**spec)
