"""The CLI's kubectl manners against the harness's real API server and node: `list`, `-o json|yaml|name`,
`submit --dry-run` (client and server), the worker-pod flags, `watch` through the watch API (the API server's
own request counters say so), and `logs -f` streaming real pods' logs as they are written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster.fixtures import OPERATOR_IMAGE, POD_UID, KubeCluster
from kubernetes import client
from videojob.operator import api, naming

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
VIDEOJOB = Path(sys.executable).with_name("videojob")


def cli(kube: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(VIDEOJOB), *args, "--kubeconfig", str(kube.kubeconfig)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 1, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("videojob: "), out.stderr
    return lines[0]


@pytest.fixture
def crd(kube: KubeCluster) -> None:
    kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "videojob.yaml"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/videojobs.videojob.dev")


def stored(kube: KubeCluster, namespace: str) -> list[str]:
    return kube.kubectl("get", "videojobs", "-n", namespace, "-o", "name").stdout.split()


def set_status(kube: KubeCluster, namespace: str, name: str, status: dict[str, Any]) -> None:
    """The operator's status write, by hand: one PATCH of the status subresource, no GET."""
    client.CustomObjectsApi(kube.api_client()).patch_namespaced_custom_object_status(
        api.GROUP, api.VERSION, namespace, api.PLURAL, name, {"status": status}
    )


def test_dry_run_prints_the_manifest_and_stores_nothing(kube: KubeCluster, namespace: str, crd: None) -> None:
    base = ["submit", "in/a.mp4", "out/a.mp4", "--claim", "media", "--name", "dry", "-n", namespace]
    out = cli(kube, *base, "--region", "0.1,0.1,0.2,0.2", "--dry-run", "-o", "yaml")
    assert out.returncode == 0, out.stderr
    job = yaml.safe_load(out.stdout)
    assert job["kind"] == "VideoJob" and job["metadata"] == {"name": "dry", "namespace": namespace}
    assert job["spec"]["detector"]["regions"] == [{"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2}]
    # The printed manifest is what kubectl accepts as it is.
    applied = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=out.stdout)
    assert "created (server dry run)" in applied.stdout
    # Server dry run: the API server's defaults are filled in, its CEL rules apply, nothing is stored.
    out = cli(kube, *base, "--region", "0.1,0.1,0.2,0.2", "--dry-run=server", "-o", "json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["spec"]["resources"]["gpuResourceName"] == "nvidia.com/gpu" and job["metadata"]["uid"]
    line = one_line_error(cli(kube, *base, "--region", "0.9,0,0.5,0.1", "--dry-run=server"))
    assert "region extends past the frame" in line and "Value error" not in line, line
    assert stored(kube, namespace) == []


def test_worker_pod_flags_reach_the_spec(kube: KubeCluster, namespace: str, crd: None) -> None:
    out = cli(
        kube,
        "submit",
        "in/a.mp4",
        "out/a.mp4",
        "--claim",
        "media",
        "--name",
        "sized",
        "--cpu",
        "250m",
        "--memory",
        "1Gi",
        "--priority-class",
        "batch-low",
        "--node-selector",
        "disk=ssd,zone=a",
        "--node-selector",
        "nvidia.com/gpu.product=NVIDIA-L4",
        "-n",
        namespace,
        "-o",
        "json",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metadata"]["name"] == "sized"  # -o json prints what was created
    spec = json.loads(kube.kubectl("get", "videojob", "sized", "-n", namespace, "-o", "json").stdout)["spec"]
    assert spec["resources"]["cpu"] == "250m" and spec["resources"]["memory"] == "1Gi"
    assert spec["priorityClassName"] == "batch-low"
    assert spec["nodeSelector"] == {"disk": "ssd", "zone": "a", "nvidia.com/gpu.product": "NVIDIA-L4"}
    # Plain words for a bad quantity or selector, before anything is sent.
    line = one_line_error(cli(kube, "submit", "i.mp4", "o.mp4", "--claim", "m", "--cpu", "lots", "-n", namespace))
    assert line == "videojob: invalid job: resources.cpu: 'lots' is not a CPU quantity such as 500m or 2", line
    line = one_line_error(
        cli(kube, "submit", "i.mp4", "o.mp4", "--claim", "m", "--node-selector", "x", "-n", namespace)
    )
    assert "expected KEY=VALUE" in line


def test_list_and_output_formats(kube: KubeCluster, namespace: str, crd: None) -> None:
    empty = cli(kube, "list", "-n", namespace)
    assert empty.returncode == 0 and empty.stdout == "" and f"No VideoJobs in namespace {namespace}" in empty.stderr
    for name in ("alpha", "beta"):
        assert cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "m", "--name", name, "-n", namespace).returncode == 0
    set_status(
        kube, namespace, "beta", {"phase": "Processing", "progress": 40, "segments": {"total": 5, "succeeded": 2}}
    )
    out = cli(kube, "list", "-n", namespace)
    rows = [re.split(r"\s{2,}", r.strip()) for r in out.stdout.splitlines()]
    assert rows[0] == ["NAME", "PHASE", "PROGRESS", "SEGMENTS", "AGE", "MESSAGE"], out.stdout
    assert rows[1][:4] == ["alpha", "Pending", "-", "-"] and rows[2][:4] == ["beta", "Processing", "40%", "2/5"]
    assert re.fullmatch(r"\d+[smhd]", rows[1][4])
    assert cli(kube, "list", "-n", namespace, "-o", "name").stdout.split() == [
        "videojob.videojob.dev/alpha",
        "videojob.videojob.dev/beta",
    ]
    listing = json.loads(cli(kube, "list", "-n", namespace, "-o", "json").stdout)
    assert listing["kind"] == "VideoJobList" and [i["kind"] for i in listing["items"]] == ["VideoJob"] * 2
    # Every namespace: a NAMESPACE column, ours among them.
    wide = cli(kube, "list", "-A").stdout.splitlines()
    assert wide[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [ln.split()[1] for ln in wide[1:] if ln.split()[0] == namespace] == ["alpha", "beta"]
    job = yaml.safe_load(cli(kube, "status", "beta", "-n", namespace, "-o", "yaml").stdout)
    assert job["metadata"]["name"] == "beta" and job["status"]["progress"] == 40
    assert json.loads(cli(kube, "status", "beta", "-n", namespace, "-o", "json").stdout)["spec"]["input"]["path"]


def request_counts(kube: KubeCluster) -> dict[str, float]:
    """The API server's apiserver_request_total for videojobs, by verb (GET, LIST, WATCH, PATCH...)."""
    counts: dict[str, float] = {}
    for ln in kube.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if ln.startswith("apiserver_request_total{") and 'resource="videojobs"' in ln:
            verb = re.search(r'verb="([A-Z]+)"', ln)
            assert verb
            counts[verb.group(1)] = counts.get(verb.group(1), 0) + float(ln.rsplit(" ", 1)[1])
    return counts


def _watch_changes(
    kube: KubeCluster, namespace: str, proc: subprocess.Popen[str]
) -> tuple[list[tuple[float, str]], list[float]]:
    """Status changes 1.5 s apart while `videojob watch` runs; its lines with the time each was read."""
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), ln) for ln in proc.stdout or []))
    reader.start()
    kube.wait_for("watch's first line", lambda: lines, timeout=30, interval=0.1)
    steps = [
        {"phase": "Detecting", "progress": 1},
        {"phase": "Processing", "progress": 30, "segments": {"total": 4, "succeeded": 1}},
        {"phase": "Processing", "progress": 60, "segments": {"total": 4, "succeeded": 3}},
        {"phase": "Succeeded", "progress": 100, "segments": {"total": 4, "succeeded": 4}, "message": "done"},
    ]
    sent = []
    for st in steps:
        time.sleep(1.5)
        sent.append(time.monotonic())
        set_status(kube, namespace, "w", st)
    assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    reader.join(5)
    return lines, sent


def test_watch_follows_changes_through_the_watch_api(kube: KubeCluster, namespace: str, crd: None) -> None:
    assert cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "m", "--name", "w", "-n", namespace).returncode == 0
    before = request_counts(kube)
    cmd = [str(VIDEOJOB), "watch", "w", "-n", namespace, "--kubeconfig", str(kube.kubeconfig)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        lines, sent = _watch_changes(kube, namespace, proc)
    text = [ln for _, ln in lines]
    text = [ln for _, ln in lines]
    assert text[0].startswith(f"videojob {namespace}/w: Pending")
    assert any("Detecting (1%)" in ln for ln in text) and any("segments 3/4" in ln for ln in text), text
    assert "Succeeded (100%)" in "".join(text)
    # Each change was printed as it happened (well within a poll interval), not discovered later.
    seen_detecting = next(t for t, ln in lines if "Detecting" in ln)
    assert seen_detecting - sent[0] < 1.0
    after = request_counts(kube)
    delta = {verb: after.get(verb, 0) - before.get(verb, 0) for verb in after}
    # One GET to start (and the test's PATCHes), then the watch: no GET per second over ~6 s.
    assert delta.get("WATCH", 0) >= 1 and delta.get("GET", 0) <= 2, delta


def start_pod(kube: KubeCluster, namespace: str, job: str, stage: str, index: int | None, script: str) -> None:
    name = f"{naming.child_name(job, stage)}" + (f"-{index}-x" if index is not None else "")
    annotations = {"batch.kubernetes.io/job-completion-index": str(index)} if index is not None else {}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": naming.labels(job, stage),
            "annotations": annotations,
        },
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": POD_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": api.WORKER_CONTAINER,
                    "image": OPERATOR_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-u", "-c", textwrap.dedent(script)],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))


def test_logs_follow_streams_every_pod_of_the_job(kube: KubeCluster, namespace: str, crd: None) -> None:
    assert cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "m", "--name", "f", "-n", namespace).returncode == 0
    set_status(kube, namespace, "f", {"phase": "Processing"})
    talk = "import time\nfor i in range(3):\n    print('{who} line', i, flush=True)\n    time.sleep(2)\n"
    start_pod(kube, namespace, "f", "detect", None, talk.format(who="detect"))
    cmd = [str(VIDEOJOB), "logs", "-f", "f", "-n", namespace, "--kubeconfig", str(kube.kubeconfig)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        lines = _follow_logs(kube, namespace, proc)
        errors = proc.stderr.read() if proc.stderr else ""
    text = [ln.rstrip("\n") for _, ln in lines]
    for prefix, who in (("[detect]", "detect"), ("[segment 0]", "seg0"), ("[segment 1]", "seg1")):
        wanted = [f"{prefix} {who} line {i}" for i in range(3)]
        assert [ln for ln in text if ln.startswith(prefix)] == wanted, (text, errors)
    # Streamed as written (2 s apart in the pod), not read once the pod had ended: the last line arrives about 2 s
    # after the one before it. (The first lines may arrive together: on a loaded node the stream can attach after
    # the pod printed them.)
    times = [t for t, ln in lines if ln.startswith("[segment 0]")]
    assert times[-1] - times[-2] >= 1.5, times


def _follow_logs(kube: KubeCluster, namespace: str, proc: subprocess.Popen[str]) -> list[tuple[float, str]]:
    """Two segment pods start while `videojob logs -f` runs; then the VideoJob succeeds. Its lines, timed."""
    talk = "import time\nfor i in range(3):\n    print('{who} line', i, flush=True)\n    time.sleep(2)\n"
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), ln) for ln in proc.stdout or []))
    reader.start()
    for i in (0, 1):  # two segment pods appear later, while logs -f runs
        start_pod(kube, namespace, "f", "segments", i, talk.format(who=f"seg{i}"))
    core = client.CoreV1Api(kube.api_client())

    def all_done() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector=naming.selector("f")).items
        return len(pods) == 3 and all(p.status.phase == "Succeeded" for p in pods)

    kube.wait_for("the three pods to finish", all_done, timeout=180, interval=0.5)
    set_status(kube, namespace, "f", {"phase": "Succeeded"})
    assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    reader.join(5)
    return lines


def test_bash_completes_videojob_names_from_the_cluster(kube: KubeCluster, namespace: str, crd: None) -> None:
    """TAB after `videojob status` lists the VideoJobs of the namespace given on the line (a pty running bash)."""
    from support.terminal import Terminal

    for name in ("street-cam", "street-drone", "parade"):
        assert cli(kube, "submit", "in/a.mp4", "o.mp4", "--claim", "m", "--name", name, "-n", namespace).returncode == 0
    script = subprocess.run([str(VIDEOJOB), "completion", "bash"], capture_output=True, text=True, check=True).stdout
    env = {
        "PATH": f"{VIDEOJOB.parent}:/usr/bin:/bin",
        "PS1": "$ ",
        "TERM": "dumb",
        "HOME": str(kube.root),
        "KUBECONFIG": str(kube.kubeconfig),  # a short line: bash scrolls a line longer than the terminal
    }
    terminal = Terminal(env)
    try:
        path = kube.root / "videojob-completion.bash"
        path.write_text(script)
        terminal.type(f"source {path}\n", 1.0)
        line = f"videojob status -n {namespace} "
        # TAB completes the common prefix (street-), the next two list the candidates.
        listed = terminal.type(line + "st\t\t\t", 8.0)
        assert "street-cam" in listed and "street-drone" in listed and "parade" not in listed, listed
        shown = terminal.type(line + "par\t", 8.0)
        assert shown.endswith("parade ") or "ade " in shown, shown
    finally:
        terminal.close()
