"""`videojob submit|status|watch|logs|cancel` as a user runs them (the installed console script), against the
harness's real API server. No operator runs here: status is written by the test, as the operator would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cluster.fixtures import KubeCluster

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
VIDEOJOB = Path(sys.executable).with_name("videojob")
KUBECTL_VIDEOJOB = Path(sys.executable).with_name("kubectl-videojob")


def cli(kube: KubeCluster, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(VIDEOJOB), *args, "--kubeconfig", str(kubeconfig or kube.kubeconfig)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture
def crd(kube: KubeCluster) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("videojob: "), out.stderr
    return lines[0]


def test_submit_creates_a_valid_videojob(kube: KubeCluster, namespace: str, crd: None) -> None:
    out = cli(
        kube,
        "submit",
        "in/street.mp4",
        "out/street.mp4",
        "--claim",
        "media",
        "--op",
        "pixelate",
        "--region",
        "0.1,0.1,0.2,0.3",
        "--segments",
        "3",
        "--gpus",
        "0",
        "--name",
        "street",
        "--max-parallel",
        "2",
        "--codec",
        "hevc",
        "--hwaccel",
        "none",
        "-n",
        namespace,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"videojob street created in namespace {namespace}"
    job = json.loads(kube.kubectl("get", "videojob", "street", "-n", namespace, "-o", "json").stdout)
    spec = job["spec"]
    assert spec["input"] == {"claimName": "media", "path": "in/street.mp4"}
    assert spec["output"]["path"] == "out/street.mp4"
    assert spec["detector"]["kind"] == "static"
    assert spec["detector"]["regions"] == [{"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.3}]
    assert spec["operation"]["kind"] == "pixelate"
    assert spec["segmentation"]["segments"] == 3
    assert spec["resources"]["gpusPerPod"] == 0
    assert spec["resources"]["gpuResourceName"] == "nvidia.com/gpu"  # the CRD's default filled in
    assert spec["encode"]["codec"] == "hevc" and spec["maxParallelPods"] == 2
    assert spec["decode"] == {"hwaccel": "none"}

    # Without --name: a generated name from the input's file name.
    out = cli(kube, "submit", "in/My Clip.MP4", "out/x.mp4", "--claim", "media", "-n", namespace)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1].startswith("my-clip-")

    # Same name twice, and an invalid job: one line each, nothing created.
    again = cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "media", "--name", "street", "-n", namespace)
    assert "already exists" in one_line_error(again)
    bad = cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "media", "--region", "0.9,0,0.5,0.1", "-n", namespace)
    assert "region extends past the frame" in one_line_error(bad) or "invalid job" in one_line_error(bad)
    escape = cli(kube, "submit", "../etc/passwd", "o.mp4", "--claim", "media", "-n", namespace)
    assert "'..'" in one_line_error(escape)
    names = kube.kubectl("get", "videojobs", "-n", namespace, "-o", "name").stdout.split()
    assert len(names) == 2


def test_status_watch_logs_cancel(kube: KubeCluster, namespace: str, crd: None, tmp_path: Path) -> None:
    assert (
        cli(kube, "submit", "in/a.mp4", "out/a.mp4", "--claim", "media", "--name", "a", "-n", namespace).returncode == 0
    )
    out = cli(kube, "status", "a", "-n", namespace)
    assert out.returncode == 0 and out.stdout.startswith(f"videojob {namespace}/a: Pending"), out

    # The operator's status write, done here by hand (status subresource), then status/watch read it.
    status = {
        "phase": "Succeeded",
        "progress": 100,
        "segments": {"total": 4, "succeeded": 4},
        "frames": {"total": 480, "done": 480},
        "output": {"path": "/videojob/data/out/a.mp4", "bytes": 12345, "duration": 16.0},
        "message": "done",
    }
    patch = tmp_path / "status.yaml"
    patch.write_text(yaml.safe_dump({"status": status}))
    kube.kubectl(
        "patch", "videojob", "a", "-n", namespace, "--subresource=status", "--type=merge", "--patch-file", str(patch)
    )
    out = cli(kube, "status", "a", "-n", namespace)
    assert "Succeeded (100%)" in out.stdout and "segments: 4/4 done" in out.stdout and "12345 bytes" in out.stdout
    assert json.loads(cli(kube, "status", "a", "-n", namespace, "--json").stdout)["frames"] == {
        "total": 480,
        "done": 480,
    }
    watch = cli(kube, "watch", "a", "-n", namespace)
    assert watch.returncode == 0 and "Succeeded" in watch.stdout  # exits at once at a final phase
    status["phase"] = "Failed"
    patch.write_text(yaml.safe_dump({"status": status}))
    kube.kubectl(
        "patch", "videojob", "a", "-n", namespace, "--subresource=status", "--type=merge", "--patch-file", str(patch)
    )
    assert cli(kube, "watch", "a", "-n", namespace).returncode == 1

    # No pods ran (no operator): a clear line rather than empty output.
    assert "no finalize pod for videojob a" in one_line_error(cli(kube, "logs", "a", "-n", namespace))
    assert "no segment 2 pod" in one_line_error(cli(kube, "logs", "a", "--segment", "2", "-n", namespace))

    out = subprocess.run(
        [str(KUBECTL_VIDEOJOB), "cancel", "a", "-n", namespace, "--kubeconfig", str(kube.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "deleted" in out.stdout, out.stderr
    gone = kube.kubectl("get", "videojob", "a", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_cancel_while_the_operator_is_away(kube: KubeCluster, namespace: str, crd: None) -> None:
    """The operator's finalizer holds a deleted VideoJob until the operator releases it: `cancel` says so in one
    line and how to go on; `--force` removes the finalizer so the API server deletes it at once."""
    assert (
        cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "media", "--name", "held", "-n", namespace).returncode == 0
    )
    finalizer = {"metadata": {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]}}
    kube.kubectl("patch", "videojob", "held", "-n", namespace, "--type=merge", "-p", json.dumps(finalizer))
    line = one_line_error(cli(kube, "cancel", "held", "--wait", "1", "-n", namespace))
    assert "has not released it" in line and f"videojob cancel held --force -n {namespace}" in line, line
    held = json.loads(kube.kubectl("get", "videojob", "held", "-n", namespace, "-o", "json").stdout)
    assert held["metadata"]["deletionTimestamp"]  # marked, still there

    out = cli(kube, "cancel", "held", "--force", "-n", namespace)
    assert out.returncode == 0 and "deleted" in out.stdout, out.stderr
    gone = kube.kubectl("get", "videojob", "held", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_missing_job_and_unreachable_cluster(kube: KubeCluster, namespace: str, crd: None, tmp_path: Path) -> None:
    for cmd in (["status", "nope"], ["watch", "nope"], ["logs", "nope"], ["cancel", "nope"]):
        line = one_line_error(cli(kube, *cmd, "-n", namespace))
        assert line == f"videojob: videojob 'nope' not found in namespace '{namespace}'", line
    # A kubeconfig whose server nothing listens on (loopback port 1).
    config = yaml.safe_load(kube.kubeconfig.read_text())
    for c in config["clusters"]:
        c["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    line = one_line_error(cli(kube, "status", "x", "-n", namespace, kubeconfig=dead))
    assert line.startswith("videojob: cannot reach the Kubernetes API server at https://127.0.0.1:1"), line
    line = one_line_error(cli(kube, "status", "x", kubeconfig=tmp_path / "missing.kubeconfig"))
    assert "kubeconfig" in line


def test_missing_crd_is_named(kube: KubeCluster, namespace: str) -> None:
    """The CRD is cluster-wide and shared by every test of the session; it is put back afterwards.

    Deleting a CRD deletes its objects. pytest runs one test at a time, so a VideoJob still there now is a finished
    test's, kept only by the finalizer of an operator that has stopped: drop that finalizer (what `videojob cancel
    --force` does) so that the CRD's deletion is not held up by it."""
    columns = "custom-columns=NS:.metadata.namespace,NAME:.metadata.name"
    left = kube.kubectl("get", "videojobs", "-A", "--no-headers", "-o", columns, check=False).stdout.split()
    release = '{"metadata":{"finalizers":null}}'
    for ns, name in zip(left[::2], left[1::2], strict=True):
        kube.kubectl("patch", "videojob", name, "-n", ns, "--type=merge", "-p", release, check=False)  # may be gone
    kube.kubectl("delete", "crd", "videojobs.videojob.dev", "--ignore-not-found", "--wait=true", "--timeout=60s")
    try:
        for cmd in (["status", "x"], ["submit", "in/a.mp4", "o.mp4", "--claim", "media"], ["list"]):
            line = one_line_error(cli(kube, *cmd, "-n", namespace))
            assert "the VideoJob CRD (videojobs.videojob.dev) is not installed" in line, line
    finally:
        kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")
