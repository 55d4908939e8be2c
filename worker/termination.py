"""The termination message: one line of compact JSON (<= 4096 bytes) the operator reads from the pod status."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

LIMIT = 4096
DEFAULT_PATH = "/dev/termination-log"


def encode(payload: dict[str, Any]) -> str:
    """Compact JSON that fits the kubelet's limit; a long error message is shortened, never the JSON broken."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) <= LIMIT:
        return text
    if isinstance(payload.get("error"), str):
        error = payload["error"]
        overflow = len(text.encode()) - LIMIT
        cut = error.encode()[: max(0, len(error.encode()) - overflow - 3)].decode(errors="ignore")
        return encode({**payload, "error": cut + "..."})
    raise ValueError(f"termination message of {len(text)} bytes exceeds {LIMIT}")


def write(payload: dict[str, Any], path: str | None = None) -> None:
    """Write the message where the container's terminationMessagePath points (VIDEOJOB_TERMINATION_LOG)."""
    target = Path(path or os.environ.get("VIDEOJOB_TERMINATION_LOG") or DEFAULT_PATH)
    text = encode(payload)
    try:
        target.write_text(text + "\n")
    except OSError as e:  # outside Kubernetes there may be no such file: stdout still carries the summary
        print(f"videojob-worker: cannot write termination message to {target}: {e}", file=sys.stderr)
    print(text, flush=True)
