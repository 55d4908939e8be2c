"""The pod and node status the pod runner writes, shaped as kubelet writes it."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from kubernetes import client

MESSAGE_LIMIT = 4096  # kubelet truncates termination messages to 4096 bytes
LOG_FALLBACK_BYTES, LOG_FALLBACK_LINES = 2048, 80


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def termination_message(message_file: Path, logfile: Path, code: int, policy: str | None) -> str:
    # kubelet keeps the last 4096 bytes of the file (tail.ReadAtMost)
    data = message_file.read_bytes()[-MESSAGE_LIMIT:] if message_file.exists() else b""
    if not data and code != 0 and policy == "FallbackToLogsOnError":
        lines = logfile.read_bytes().splitlines()[-LOG_FALLBACK_LINES:]
        data = b"\n".join(lines)[-LOG_FALLBACK_BYTES:]
    return data.decode(errors="replace")


def pod_conditions(ready: bool) -> list[dict[str, Any]]:
    t = now().isoformat()
    r = "True" if ready else "False"
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": t},
        {"type": "ContainersReady", "status": r, "lastTransitionTime": t},
        {"type": "Ready", "status": r, "lastTransitionTime": t},
    ]


def container_status(
    container: client.V1Container, running: dt.datetime | None = None, terminated: dict[str, Any] | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": running.isoformat()}} if running else {"terminated": terminated}
    return {
        "name": container.name,
        "image": container.image,
        "imageID": "",
        "ready": running is not None,
        "restartCount": 0,
        "started": running is not None,
        "state": state,
    }


def node_info() -> dict[str, str]:
    return {
        "machineID": "test",
        "systemUUID": "test",
        "bootID": "test",
        "kernelVersion": os.uname().release,
        "osImage": "videojob pod runner",
        "containerRuntimeVersion": "local://0",
        "kubeletVersion": "v1.35.4",
        "kubeProxyVersion": "",
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
