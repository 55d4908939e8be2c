"""`videojob logs -f`: every pod of a VideoJob as it starts (detect, each segment, finalize), streamed at once.

Each started pod gets a thread that streams its container's log (the API's follow=true) until the container
ends; lines are prefixed with the pod's part of the job, like `kubectl logs -f --prefix`. New pods are looked
for every POLL seconds; it ends when the VideoJob has Succeeded or Failed and every stream has ended.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from videojob.operator import api, naming

from .cluster import CliError, Cluster, line
from .kubeview import FINAL

POLL = 2.0


def _started(pod: Any) -> bool:
    """A container that runs or ran has a log; a pending one has none yet (the API answers 400)."""
    for cs in pod.status.container_statuses or []:
        if cs.name == api.WORKER_CONTAINER and (cs.state.running or cs.state.terminated):
            return True
    return False


def _label(pod: Any) -> str:
    stage = (pod.metadata.labels or {}).get(f"{api.GROUP}/stage", "")
    if stage == "segment":
        index = (pod.metadata.annotations or {}).get("batch.kubernetes.io/job-completion-index", "?")
        return f"segment {index}"
    return stage or pod.metadata.name


class _Printer:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def write(self, prefix: str, text: str) -> None:
        with self.lock:
            sys.stdout.write(f"[{prefix}] {text}\n")
            sys.stdout.flush()


def _stream(k: Cluster, pod: str, prefix: str, tail: int | None, out: _Printer, errors: list[str]) -> None:
    try:
        resp = k.log_stream(pod, tail)
        pending = b""
        for chunk in resp.stream(4096, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                out.write(prefix, raw.decode(errors="replace"))
        if pending:
            out.write(prefix, pending.decode(errors="replace"))
        resp.release_conn()
    except CliError as e:
        errors.append(str(e))
    except Exception as e:  # the connection broke mid-stream
        errors.append(f"logs of pod {pod!r} ended early: {line(e)}")


def follow_logs(k: Cluster, name: str, stage: str | None, segment: int | None, tail: int | None) -> int:
    k.get(name)  # not found, forbidden, no CRD: one line before anything else
    if segment is not None:
        stage = "segments"
    selector = naming.selector(name, stage)
    out, errors = _Printer(), list[str]()
    threads: dict[str, threading.Thread] = {}
    while True:
        phase = (k.get(name).get("status") or {}).get("phase") or "Pending"
        for pod in sorted(k.pods(selector), key=lambda p: p.metadata.creation_timestamp):
            pod_name = pod.metadata.name
            if pod_name in threads or not _started(pod):
                continue
            if segment is not None and (pod.metadata.annotations or {}).get(
                "batch.kubernetes.io/job-completion-index"
            ) != str(segment):
                continue
            t = threading.Thread(target=_stream, args=(k, pod_name, _label(pod), tail, out, errors), daemon=True)
            threads[pod_name] = t
            t.start()
        if phase in FINAL:
            for t in threads.values():
                t.join()
            for e in errors:
                print(f"videojob: {e}", file=sys.stderr)
            if not threads:
                print(f"videojob: videojob {name} is {phase} and none of its pods is left to show", file=sys.stderr)
            return FINAL[phase]
        time.sleep(POLL)
