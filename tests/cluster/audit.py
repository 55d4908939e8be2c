"""The API server's audit log (controlplane.py writes ServiceAccounts' requests there): who asked what, when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Request:
    user: str
    verb: str
    resource: str
    namespace: str
    name: str
    at: float  # unix seconds the API server received it
    uri: str = ""  # the request's path and query (a list's labelSelector is there)


def requests(log: Path, user_prefix: str, since: float = 0.0, until: float = float("inf")) -> list[Request]:
    out: list[Request] = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        user = (entry.get("user") or {}).get("username", "")
        if not user.startswith(user_prefix):
            continue
        at = datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if not since <= at <= until:
            continue
        ref = entry.get("objectRef") or {}
        sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
        out.append(
            Request(
                user,
                entry["verb"],
                ref.get("resource", "") + sub,
                ref.get("namespace", ""),
                ref.get("name", ""),
                at,
                entry.get("requestURI", ""),
            )
        )
    return out
