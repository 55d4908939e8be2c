"""Builders: pure manifests checked field by field and against the Kubernetes 1.35 OpenAPI schema (offline)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
from videojob.operator import api
from videojob.operator.builders import (
    InvalidSpecError,
    build_detect_job,
    build_finalize_job,
    build_progress_secret,
    build_segment_job,
    context_from_body,
)
from videojob.operator.builders.stages import build_cleanup_job, cleanup_name
from videojob.operator.naming import child_name, secret_name
from videojob.operator.outputlock import build_output_lease, holder_is_live, holder_of, lease_name, output_id

K8S = "1.35.0"
UID = "6f1c2d3e-aaaa-bbbb-cccc-000000000001"
NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def body(name: str = "clip", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "input": {"claimName": "media", "path": "in/clip.mp4"},
        "output": {"path": "out/clip.mp4"},
    }
    base.update(spec)
    return {"metadata": {"name": name, "namespace": "team-a", "uid": UID}, "spec": base}


def ctx_of(**spec: Any):
    return context_from_body(body(**spec), default_image="registry.local/videojob-worker:1")


def container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec["containers"]
    return only


def env_of(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(pod_spec)["env"]}


def all_manifests(ctx) -> list[dict[str, Any]]:
    return [build_detect_job(ctx), build_segment_job(ctx, 7), build_finalize_job(ctx)]


def pod_specs(ctx) -> list[dict[str, Any]]:
    detect, job, final = all_manifests(ctx)
    return [m["spec"]["template"]["spec"] for m in (detect, job, final)]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"output": {"claimName": "results", "path": "x.mkv"}},
        {"resources": {"gpuResourceName": "nvidia.com/mig-1g.10gb", "gpusPerPod": 2}},
        {
            "nodeSelector": {"gpu": "a100"},
            "tolerations": [{"key": "gpu", "operator": "Exists"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}
                        ]
                    }
                }
            },
            "priorityClassName": "batch-low",
            "runtimeClassName": "nvidia",
            "redis": {"urlSecretRef": {"name": "redis-creds", "key": "url"}},
            "keepWorkdir": True,
        },
    ],
)
def test_every_manifest_is_valid_kubernetes(spec: dict[str, Any]) -> None:
    ctx = ctx_of(**spec)
    for manifest in [*all_manifests(ctx), build_cleanup_job(ctx), build_output_lease(ctx, NOW)]:
        kubernetes_validate.validate(manifest, K8S, strict=True)
    with_url = ctx_default_redis(**spec)
    if with_url.redis_url:  # a urlSecretRef needs no Secret of ours
        kubernetes_validate.validate(build_progress_secret(with_url), K8S, strict=True)


def test_indexed_job_shape() -> None:
    job = build_segment_job(
        ctx_of(maxParallelPods=3, retriesPerSegment=5, segmentation={"mode": "pod-per-segment"}), 10
    )["spec"]
    assert job["completionMode"] == "Indexed"
    assert (job["completions"], job["parallelism"]) == (10, 3)
    assert job["backoffLimitPerIndex"] == 5
    assert job["maxFailedIndexes"] == 0
    assert job["podReplacementPolicy"] == "Failed"
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    ignore, fail_index = job["podFailurePolicy"]["rules"]
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert fail_index["action"] == "FailIndex"
    assert fail_index["onExitCodes"] == {"containerName": "worker", "operator": "In", "values": [2]}
    # Fewer segments than the parallel limit: no idle parallelism.
    assert build_segment_job(ctx_of(maxParallelPods=8), 2)["spec"]["parallelism"] == 2
    with pytest.raises(ValueError, match="at least one segment"):
        build_segment_job(ctx_of(), 0)


def test_segment_pods_get_their_index_from_the_downward_api() -> None:
    env = env_of(build_segment_job(ctx_of(), 4)["spec"]["template"]["spec"])
    assert env["JOB_COMPLETION_INDEX"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
    }
    assert container(build_segment_job(ctx_of(), 4)["spec"]["template"]["spec"])["command"][-1] == "segment"


def test_detect_and_finalize_are_one_completion_jobs_with_the_failure_rules() -> None:
    ctx = ctx_of(retriesPerSegment=2, deadlines={"detectSeconds": 120, "finalizeSeconds": 900})
    for build, deadline in ((build_detect_job, 120), (build_finalize_job, 900)):
        job = build(ctx)
        assert job["kind"] == "Job"
        spec = job["spec"]
        assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 2)
        assert spec["podReplacementPolicy"] == "Failed" and spec["ttlSecondsAfterFinished"] > 0
        ignore, fail = spec["podFailurePolicy"]["rules"]
        assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        assert fail["action"] == "FailJob" and fail["onExitCodes"]["values"] == [2]
        assert spec["template"]["spec"]["activeDeadlineSeconds"] == deadline
    segment_pod = build_segment_job(ctx_of(deadlines={"segmentSeconds": 77}), 2)["spec"]["template"]["spec"]
    assert segment_pod["activeDeadlineSeconds"] == 77


def test_chosen_labels_and_annotations_reach_the_jobs() -> None:
    meta = {
        "labels": {"kueue.x-k8s.io/queue-name": "gpus", "team": "a"},
        "annotations": {"kueue.x-k8s.io/priority-class": "low", "note": "x"},
    }
    raw = body()
    raw["metadata"].update(meta)
    ctx = context_from_body(raw, default_image="img:1", propagate_keys=("kueue.x-k8s.io/", "team"))
    for job in all_manifests(ctx):
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpus"
        assert job["metadata"]["labels"]["team"] == "a"
        assert job["metadata"]["annotations"] == {"kueue.x-k8s.io/priority-class": "low"}
        assert job["metadata"]["labels"]["videojob.dev/job"] == "clip"


def test_suspend_mirrors_spec() -> None:
    assert build_segment_job(ctx_of(suspend=True), 3)["spec"]["suspend"] is True
    assert build_segment_job(ctx_of(), 3)["spec"]["suspend"] is False


@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb"])
def test_gpu_requests_equal_limits(resource: str) -> None:
    ctx = ctx_of(resources={"gpuResourceName": resource, "gpusPerPod": 2, "cpu": "3", "memory": "6Gi"})
    res = container(build_segment_job(ctx, 2)["spec"]["template"]["spec"])["resources"]
    assert res["requests"] == {"cpu": "3", "memory": "6Gi", resource: "2"}
    assert res["limits"] == {"memory": "6Gi", resource: "2"}
    assert env_of(build_segment_job(ctx, 2)["spec"]["template"]["spec"])["NVIDIA_DRIVER_CAPABILITIES"] == (
        "compute,utility,video"
    )


def test_gpu_only_where_a_stage_uses_it() -> None:
    plain = ctx_of()
    assert (
        "nvidia.com/gpu" not in container(build_detect_job(plain)["spec"]["template"]["spec"])["resources"]["requests"]
    )
    assert (
        "nvidia.com/gpu"
        not in container(build_finalize_job(plain)["spec"]["template"]["spec"])["resources"]["requests"]
    )
    yolo = ctx_of(detector={"kind": "yolo", "model": "models/yolo.pt"})
    assert container(build_detect_job(yolo)["spec"]["template"]["spec"])["resources"]["limits"]["nvidia.com/gpu"] == "1"
    late = ctx_of(encode={"stage": "finalize", "encoder": "nvenc"})
    assert (
        container(build_finalize_job(late)["spec"]["template"]["spec"])["resources"]["limits"]["nvidia.com/gpu"] == "1"
    )
    cpu_only = ctx_of(resources={"gpusPerPod": 0})
    seg = container(build_segment_job(cpu_only, 2)["spec"]["template"]["spec"])
    assert set(seg["resources"]["requests"]) == {"cpu", "memory"}
    assert "NVIDIA_DRIVER_CAPABILITIES" not in env_of(build_segment_job(cpu_only, 2)["spec"]["template"]["spec"])


def test_restricted_security_context_everywhere() -> None:
    for spec in pod_specs(ctx_of()):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        sc = container(spec)["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
        scratch = next(v for v in spec["volumes"] if v["name"] == "scratch")
        assert "emptyDir" in scratch
        assert {"name": "scratch", "mountPath": "/tmp"} in container(spec)["volumeMounts"]


def test_one_claim_shared_by_input_and_output() -> None:
    ctx = ctx_of()
    for spec in pod_specs(ctx):
        assert [v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v] == [
            {"claimName": "media", "readOnly": False}
        ]
        env = env_of(spec)
        assert env["VIDEOJOB_INPUT"] == f"{api.DATA_MOUNT}/in/clip.mp4"
        assert env["VIDEOJOB_WORKDIR"] == f"{api.DATA_MOUNT}/.videojob/team-a.clip.6f1c2d3e"
        assert env["VIDEOJOB_JOB_KEY"] == f"team-a/clip/{UID}"  # a namesake made later never reads these keys
        assert env["VIDEOJOB_INPUT_VOLUME"] == env["VIDEOJOB_OUTPUT_VOLUME"] == api.DATA_MOUNT
        assert env["VIDEOJOB_TERMINATION_LOG"] == container(spec)["terminationMessagePath"]
        assert container(spec)["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert "VIDEOJOB_REDIS_URL" not in env
    assert (
        env_of(build_finalize_job(ctx)["spec"]["template"]["spec"])["VIDEOJOB_OUTPUT"]
        == f"{api.DATA_MOUNT}/out/clip.mp4"
    )
    assert (
        env_of(build_detect_job(ctx)["spec"]["template"]["spec"])["VIDEOJOB_OUTPUT"] == f"{api.DATA_MOUNT}/out/clip.mp4"
    )


def test_separate_output_claim_mounts_input_read_only() -> None:
    ctx = ctx_of(output={"claimName": "results", "path": "done/clip.mp4"})
    spec = build_finalize_job(ctx)["spec"]["template"]["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {
        "input": {"claimName": "media", "readOnly": True},
        "output": {"claimName": "results", "readOnly": False},
    }
    mounts = {m["name"]: m for m in container(spec)["volumeMounts"]}
    assert mounts["input"]["readOnly"] is True and mounts["output"]["readOnly"] is False
    env = env_of(spec)
    assert env["VIDEOJOB_OUTPUT"] == f"{api.OUTPUT_MOUNT}/done/clip.mp4"
    assert env["VIDEOJOB_WORKDIR"].startswith(f"{api.OUTPUT_MOUNT}/.videojob/")
    assert (env["VIDEOJOB_INPUT_VOLUME"], env["VIDEOJOB_OUTPUT_VOLUME"]) == (api.INPUT_MOUNT, api.OUTPUT_MOUNT)


URL = "redis://:s3cret-pw@redis.vj-system.svc:6379/0"


def ctx_default_redis(**spec: Any):
    """A VideoJob under an operator with a default Redis URL (VIDEOJOB_REDIS_URL, from the chart)."""
    return context_from_body(body(**spec), default_image="registry.local/videojob-worker:1", default_redis_url=URL)


def test_redis_url_reaches_segment_pods_only_through_the_secret() -> None:
    ctx = ctx_default_redis()
    detect, job, final = all_manifests(ctx)
    for manifest in (detect, job, final):
        assert "s3cret" not in json.dumps(manifest)  # nowhere in a pod spec, the Job's template included
    for pod in (detect, final):  # they report no progress: no URL at all
        assert "VIDEOJOB_REDIS_URL" not in env_of(pod["spec"]["template"]["spec"])
    env = env_of(job["spec"]["template"]["spec"])
    assert env["VIDEOJOB_REDIS_URL"] == {
        "secretKeyRef": {"name": "clip-progress", "key": api.REDIS_URL_KEY, "optional": True}
    }
    # Without a URL, no reference to a Secret that will not exist.
    assert "VIDEOJOB_REDIS_URL" not in env_of(build_segment_job(ctx_of(), 3)["spec"]["template"]["spec"])


def test_progress_secret_is_owned_immutable_and_named_for_the_job() -> None:
    ctx = ctx_default_redis()
    secret = build_progress_secret(ctx)
    assert secret["metadata"]["name"] == secret_name("clip") == "clip-progress"
    assert secret["metadata"]["namespace"] == "team-a"
    assert secret["metadata"]["ownerReferences"] == [ctx.owner_reference()]
    assert secret["metadata"]["labels"]["videojob.dev/job"] == "clip"
    assert secret["immutable"] is True and secret["type"] == "Opaque"
    assert secret["stringData"] == {api.REDIS_URL_KEY: URL}
    # The pods' reference and the Secret agree on name and key.
    env = env_of(build_segment_job(ctx, 2)["spec"]["template"]["spec"])
    ref = env["VIDEOJOB_REDIS_URL"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], *secret["stringData"])
    long = dataclasses.replace(ctx, name="y" * 80)
    assert len(build_progress_secret(long)["metadata"]["name"]) <= 63
    with pytest.raises(ValueError, match="Redis URL"):
        build_progress_secret(ctx_of())


def test_config_env_is_the_pipeline_job_config() -> None:
    from videojob.pipeline.config import JobConfig  # tests may cross the layer the operator may not

    ctx = ctx_of(
        detector={
            "kind": "static",
            "regions": [{"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.3}],
            "sampleEvery": 3,
        },
        operation={"kind": "pixelate", "pixelateBlocks": 12},
        encode={"codec": "hevc", "quality": 30},
        segmentation={"segments": 4},
    )
    config = JobConfig.model_validate_json(env_of(build_detect_job(ctx)["spec"]["template"]["spec"])["VIDEOJOB_CONFIG"])
    assert config.detector.kind == "static" and config.detector.sample_every == 3
    assert config.detector.regions[0].h == pytest.approx(0.3)
    assert (config.operation.kind, config.operation.pixelate_blocks) == ("pixelate", 12)
    assert (config.encode.codec, config.encode.quality, config.segmentation.segments) == ("hevc", 30, 4)
    # No detector given: nothing is detected, like JobConfig's own default.
    assert (
        JobConfig.model_validate_json(
            env_of(build_detect_job(ctx_of())["spec"]["template"]["spec"])["VIDEOJOB_CONFIG"]
        ).detector.kind
        == "none"
    )


def test_relative_model_path_is_on_the_input_volume() -> None:
    ctx = ctx_of(detector={"kind": "yolo", "model": "models/y.pt"})
    assert json.loads(ctx.config_json())["detector"]["model"] == f"{api.DATA_MOUNT}/models/y.pt"
    baked = ctx_of(detector={"kind": "yolo", "model": "/opt/models/y.pt"})
    assert json.loads(baked.config_json())["detector"]["model"] == "/opt/models/y.pt"
    with pytest.raises(InvalidSpecError, match=r"spec\.detector\.model.*'\.\.'"):
        ctx_of(detector={"kind": "yolo", "model": "../../etc/y.pt"}).config_json()


def test_owner_reference_and_labels() -> None:
    for manifest in all_manifests(ctx_of()):
        (ref,) = manifest["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "videojob.dev/v1alpha1",
            "kind": "VideoJob",
            "name": "clip",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        labels = manifest["metadata"]["labels"]
        assert labels["videojob.dev/job"] == "clip"
        assert labels["app.kubernetes.io/managed-by"] == "videojob-operator"
    detect, job, final = all_manifests(ctx_of())
    assert [m["metadata"]["name"] for m in (detect, job, final)] == ["clip-detect", "clip-segments", "clip-finalize"]
    assert job["spec"]["template"]["metadata"]["labels"]["videojob.dev/stage"] == "segment"
    assert final["metadata"]["labels"]["videojob.dev/stage"] == "finalize"


def test_long_names_are_truncated_stably_and_uniquely() -> None:
    a, b = "x" * 100 + "a", "x" * 100 + "b"
    for stage in ("detect", "segments", "finalize"):
        assert len(child_name(a, stage)) <= 63
        assert child_name(a, stage) == child_name(a, stage)
        assert child_name(a, stage) != child_name(b, stage)
        assert child_name(a, stage).endswith(f"-{stage}")
    long = context_from_body(body(name=a), default_image="img:1")
    for manifest in all_manifests(long):
        kubernetes_validate.validate(manifest, K8S, strict=True)
        assert len(manifest["metadata"]["labels"]["videojob.dev/job"]) <= 63


@pytest.mark.parametrize(
    ("field", "spec", "message"),
    [
        ("spec.input.path", {"input": {"claimName": "media", "path": "/etc/passwd"}}, "absolute"),
        ("spec.input.path", {"input": {"claimName": "media", "path": "a/../../x.mp4"}}, r"'\.\.'"),
        ("spec.output.path", {"output": {"path": "../x.mp4"}}, r"'\.\.'"),
        ("spec.output.path", {"output": {"path": "./in/../in/clip.mp4"}}, r"'\.\.'"),
        ("spec.output.path", {"output": {"path": "in//clip.mp4"}}, "input itself"),
        ("spec.resources.gpusPerPod", {"resources": {"gpusPerPod": -1}}, "greater than or equal"),
    ],
)
def test_invalid_specs_are_refused_with_the_field(field: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message) as info:
        ctx_of(**spec)
    assert str(info.value).startswith(field.replace("gpusPerPod", "gpus_per_pod")) or field in str(info.value)
    assert "\n" not in str(info.value)


def test_worker_image_default_and_override() -> None:
    assert (
        container(build_detect_job(ctx_of())["spec"]["template"]["spec"])["image"] == "registry.local/videojob-worker:1"
    )
    mine = ctx_of(workerImage="mine:2", imagePullPolicy="Always")
    assert container(build_detect_job(mine)["spec"]["template"]["spec"])["image"] == "mine:2"
    assert container(build_detect_job(mine)["spec"]["template"]["spec"])["imagePullPolicy"] == "Always"
    with pytest.raises(InvalidSpecError, match=r"spec\.workerImage"):
        context_from_body(body(), default_image="")


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LEGAL_NAMES = [
    "clip",
    "cam.01.v2",
    "cam-01-v2",
    "a" * 53,
    "b" * 58,
    "c" * 63,
    "d" * 64,
    "e.f" * 83 + "e",  # 250 characters with dots
    "g" * 253,
]


@pytest.mark.parametrize("name", _LEGAL_NAMES)
def test_every_legal_name_gives_valid_child_names(name: str) -> None:
    """D1: names of 53+ characters or with dots left the segment Job's pods without a valid hostname
    (`<job>-<index>` must be a DNS label) and long names made a work directory name over 255 bytes."""
    ctx = context_from_body(body(name=name), default_image="img:1")
    for stage in ("detect", "segments", "finalize"):
        child = child_name(name, stage)
        assert _DNS_LABEL.match(child) and len(child) <= 63, child
        assert child == child_name(name, stage)
    # The Indexed Job's pods are named and hostnamed `<job>-<index>`: a DNS label for every index up to 9999.
    assert len(f"{child_name(name, 'segments')}-9999") <= 63
    secret = secret_name(name)
    assert _DNS_LABEL.match(secret) and len(secret) <= 63
    for manifest in [*all_manifests(ctx), build_progress_secret(dataclasses.replace(ctx, redis_url="redis://r:6379"))]:
        kubernetes_validate.validate(manifest, K8S, strict=True)
        assert len(manifest["metadata"]["labels"]["videojob.dev/job"]) <= 63
    folder = ctx.workdir.rsplit("/", 1)[1]
    assert len(folder) <= 140 and UID[:8] in folder and "/" not in folder


def test_names_that_differ_only_in_dots_get_different_children() -> None:
    for stage in ("detect", "segments", "finalize"):
        assert child_name("cam.01.v2", stage) != child_name("cam-01-v2", stage)
    assert secret_name("cam.01.v2") != secret_name("cam-01-v2")
    # Short DNS-label names keep their children's names (a restarted operator finds them again).
    assert child_name("cam-01-v2", "segments") == "cam-01-v2-segments"


def test_redis_url_from_the_users_secret_reaches_segment_pods_and_is_in_no_spec() -> None:
    """Issue 12 D10: spec.redis.urlSecretRef; the pods read the user's Secret, the operator's default is unused."""
    ref = {"redis": {"urlSecretRef": {"name": "redis-creds", "key": "url"}}}
    for ctx in (ctx_of(**ref), ctx_default_redis(**ref)):
        assert ctx.redis_url is None and ctx.redis_secret == ("redis-creds", "url") and ctx.reports_progress
        detect, job, final = all_manifests(ctx)
        env = env_of(job["spec"]["template"]["spec"])
        assert env["VIDEOJOB_REDIS_URL"] == {"secretKeyRef": {"name": "redis-creds", "key": "url", "optional": True}}
        for pod in (detect, final):
            assert "VIDEOJOB_REDIS_URL" not in env_of(pod["spec"]["template"]["spec"])
        assert "redis://" not in json.dumps([detect, job, final])
    with pytest.raises(InvalidSpecError, match="redisUrl"):
        ctx_of(redisUrl="redis://r:6379/0")  # the plain field is gone from the API


def test_finalize_is_told_whether_to_keep_the_work_directory() -> None:
    for keep, flag in ((False, "false"), (True, "true")):
        env = env_of(build_finalize_job(ctx_of(keepWorkdir=keep))["spec"]["template"]["spec"])
        assert env["VIDEOJOB_KEEP_WORKDIR"] == flag
    assert "VIDEOJOB_KEEP_WORKDIR" not in env_of(build_detect_job(ctx_of())["spec"]["template"]["spec"])


def test_cleanup_job_mounts_only_the_output_and_runs_the_cleanup_stage() -> None:
    ctx = ctx_of(output={"claimName": "results", "path": "done/clip.mp4"}, tolerations=[{"operator": "Exists"}])
    job = build_cleanup_job(ctx)
    assert job["metadata"]["name"] == cleanup_name("clip") == "clip-cleanup"
    assert job["metadata"]["ownerReferences"] == [ctx.owner_reference()]
    spec = job["spec"]
    assert spec["completions"] == 1 and spec["ttlSecondsAfterFinished"] > 0 and spec["activeDeadlineSeconds"] > 0
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [api.EXIT_BAD_INPUT]
    pod = spec["template"]["spec"]
    assert container(pod)["command"] == ["python", "-m", "videojob.worker", "cleanup"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v] == [
        "results"
    ]
    env = env_of(pod)
    assert env["VIDEOJOB_WORKDIR"] == ctx.workdir and env["VIDEOJOB_OUTPUT_VOLUME"] == api.OUTPUT_MOUNT
    assert container(pod)["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False and pod["tolerations"] == [{"operator": "Exists"}]
    assert len(cleanup_name("y" * 250)) <= 63


def test_output_lease_names_the_output_not_the_job() -> None:
    a, b = ctx_of(output={"path": "out/./clip.mp4"}), ctx_of(name="other", output={"path": "out/clip.mp4"})
    assert output_id(a) == output_id(b) == "media:out/clip.mp4"
    assert lease_name(a) == lease_name(b) and len(lease_name(a)) <= 63
    assert lease_name(ctx_of(output={"claimName": "other", "path": "out/clip.mp4"})) != lease_name(a)
    lease = build_output_lease(a, NOW)
    assert lease["spec"] == {"holderIdentity": f"team-a/clip/{UID}", "acquireTime": "2026-01-02T03:04:05.678000Z"}
    assert lease["metadata"]["ownerReferences"][0]["uid"] == UID and "resourceVersion" not in lease["metadata"]
    assert build_output_lease(a, NOW, resource_version="42")["metadata"]["resourceVersion"] == "42"
    holder = holder_of(lease)
    assert holder is not None and str(holder) == "team-a/clip"
    job = {"metadata": {"uid": UID}, "status": {"phase": "Processing"}}
    assert holder_is_live(holder, job)
    assert not holder_is_live(holder, {**job, "status": {"phase": "Succeeded"}})
    assert not holder_is_live(holder, {**job, "metadata": {"uid": "another"}})  # recreated under the name
    assert not holder_is_live(holder, None)
