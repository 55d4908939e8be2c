"""The product as a user installs it: `helm install` of charts/ with the images `make images` built, a VideoJob
applied with kubectl, and every piece in a container on the real node: the operator (its Deployment), Redis (the
chart's StatefulSet), the detect pod, the segment Job's pods and the finalize pod. The node advertises
nvidia.com/gpu as an extended resource with no GPU behind it: the workers take their CPU paths."""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml
from cluster.chart import helm, install_chart
from cluster.fixtures import OPERATOR_IMAGE, REDIS_IMAGE, WORKER_SLIM_IMAGE, KubeCluster
from support.media import audio_span, make_clip
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


REGION = {"left": 0.25, "top": 0.25, "width": 0.25, "height": 0.25}


def test_helm_installed_operator_runs_a_videojob_in_containers(kube: KubeCluster, namespace: str) -> None:
    volume = kube.create_claim(namespace, "media")
    (volume / "in").mkdir()
    source = make_clip(volume / "in" / "clip.mp4", 160, 120, frames=72, fps=24)
    release = "vj"
    t0 = time.monotonic()
    install_chart(kube, namespace, release, operator={"resyncSeconds": 1})
    installed = time.monotonic() - t0
    job = {
        "apiVersion": "videojob.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "clip", "namespace": namespace},
        "spec": {
            "input": {"claimName": "media", "path": "in/clip.mp4"},
            "output": {"path": "out/clip.mp4"},
            "detector": {
                "kind": "static",
                "padding": 0,
                "regions": [{"left": 0.25, "top": 0.25, "width": 0.25, "height": 0.25}],
            },
            "operation": {"kind": "blur"},
            "segmentation": {"segments": 3, "minFramesPerSegment": 4},
            "encode": {"encoder": "software"},
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(job))

    def status() -> dict:
        out = kube.kubectl("get", "videojob", "clip", "-n", namespace, "-o", "json").stdout
        return json.loads(out).get("status") or {}

    def done() -> dict | None:
        st = status()
        if st.get("phase") == "Failed":
            logs = kube.kubectl("logs", f"deployment/{release}-videojob-operator", "-n", namespace, check=False)
            raise AssertionError(f"VideoJob failed: {st.get('message')}\n{logs.stdout[-3000:]}")
        return st if st.get("phase") == "Succeeded" else None

    st = kube.wait_for("the VideoJob to succeed", done, timeout=240, interval=0.5)
    out = volume / "out" / "clip.mp4"
    assert probe(out).frames == 72
    a_in, a_out = audio_span(source), audio_span(out)
    assert a_in is not None and a_out is not None and a_out[1] == pytest.approx(a_in[1], abs=0.05)
    assert st["segments"]["succeeded"] == 3 and st["progress"] == 100

    # Every stage ran as a pod on the node, from the images we built.
    runs = [r for r in kube.control.records if r.namespace == namespace]
    images = {r.name.rsplit("-", 1)[0]: r.image for r in runs}
    assert {r.image for r in runs} == {OPERATOR_IMAGE, REDIS_IMAGE, WORKER_SLIM_IMAGE}, images
    assert {r.node for r in runs} == {kube.node.name}
    workers = [r for r in runs if r.image == WORKER_SLIM_IMAGE]
    assert sorted(r.env.get("JOB_COMPLETION_INDEX", "-") for r in workers).count("-") == 2  # detect, finalize

    # The segment pods reported progress to the chart's Redis, found through cluster DNS (`kubectl exec` into
    # its container: the API server reaches kubelet through the node's egress proxy): one HSET per progress
    # report at least for each of the 3 segments; the operator deletes the keys once the job has ended.
    def redis(command: str) -> str:
        script = f"REDISCLI_AUTH=$REDIS_PASSWORD redis-cli {command}"
        sts = f"statefulset/{release}-videojob-redis"
        return kube.kubectl("exec", sts, "-n", namespace, "--", "sh", "-c", script).stdout

    hset = re.search(r"cmdstat_hset:calls=(\d+)", redis("INFO commandstats"))
    assert hset and int(hset.group(1)) >= 3, redis("INFO commandstats")
    assert redis("--scan --pattern 'videojob:*'").split() == []
    print(f"helm install --wait: {installed:.1f}s")
    # `helm test`: its pod, on the node, finds the VideoJob API served and the operator's /readyz answering.
    out = helm(kube, "test", release, "-n", namespace, "--logs", "--timeout=180s")
    assert "Phase:          Succeeded" in out or "Phase: Succeeded" in " ".join(out.split()), out
    assert "serves videojob.dev/v1alpha1 VideoJob" in out and "operator: ok: the API server answers" in out, out
    helm(kube, "uninstall", release, "-n", namespace, "--wait", "--timeout=120s")
