"""The full worker image (torch, ultralytics) runs a YOLO VideoJob in containers on the real node: the chart
installed with helm, a random-weight YOLOv8n made offline on the claim, every frame in the output. No GPU stands
behind the node's nvidia.com/gpu, so YOLO runs on the container's CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from cluster.chart import install_chart
from cluster.fixtures import CACHE, POD_UID, WORKER_IMAGE, KubeCluster
from support.media import make_clip
from videojob.pipeline.probe import probe

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

MAKE_MODEL = """
import sys
from ultralytics import YOLO
YOLO("yolov8n.yaml").save(sys.argv[1])
"""


def test_full_worker_image_runs_a_yolo_videojob(kube: KubeCluster, namespace: str) -> None:
    # 6.5 GB: minutes the first time, then kept in the node's containerd store (keyed by the archive)
    kube.node.import_images([CACHE / "images" / "videojob-worker.tar"])
    volume = kube.create_claim(namespace, "media")
    (volume / "in").mkdir()
    make_clip(volume / "in" / "clip.mp4", 160, 120, frames=48, fps=24)
    model = volume / "models" / "random-yolov8n.pt"
    model.parent.mkdir()
    env = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONSAFEPATH": "1"}
    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(model)], check=True, env=env, capture_output=True)
    os.chown(model, POD_UID, POD_UID)
    install_chart(kube, namespace, "vj", worker={"image": WORKER_IMAGE}, operator={"resyncSeconds": 1})
    job = {
        "apiVersion": "videojob.dev/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "yolo", "namespace": namespace},
        "spec": {
            "input": {"claimName": "media", "path": "in/clip.mp4"},
            "output": {"path": "out/clip.mp4"},
            "detector": {"kind": "yolo", "model": "models/random-yolov8n.pt", "confidence": 0.01},
            "operation": {"kind": "pixelate"},
            "segmentation": {"segments": 2, "minFramesPerSegment": 4},
            "encode": {"encoder": "software"},
            "resources": {"cpu": "500m", "memory": "3Gi"},
        },
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(job))

    def done() -> dict | None:
        out = kube.kubectl("get", "videojob", "yolo", "-n", namespace, "-o", "json").stdout
        st = json.loads(out).get("status") or {}
        if st.get("phase") == "Failed":
            raise AssertionError(f"VideoJob failed: {st.get('message')}")
        return st if st.get("phase") == "Succeeded" else None

    st = kube.wait_for("the YOLO VideoJob to succeed", done, timeout=600, interval=1)
    assert probe(volume / "out" / "clip.mp4").frames == 48
    assert st["segments"]["succeeded"] == 2
    workers = [r for r in kube.control.records if r.namespace == namespace and r.name.startswith("yolo-")]
    assert workers and {r.image for r in workers} == {WORKER_IMAGE}
    assert all(r.exit_code == 0 for r in workers)
