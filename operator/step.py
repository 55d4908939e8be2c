"""Step: what one reconciliation of a VideoJob produces (the status to write, the Events to post)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .conditions import set_condition
from .observe import parse_time
from .status import VideoJobStatus


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Step:
    """One reconciliation: the status being written and the Events to post."""

    status: VideoJobStatus
    now: datetime
    generation: int | None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    # A pod of this VideoJob changed since the last step: read the pods, not only the Jobs' (lagging) status.
    pods_changed: bool = False

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(("Warning" if warning else "Normal", reason, message))

    def condition(self, type_: str, value: bool, reason: str, message: str = "") -> None:
        self.status.conditions = set_condition(
            self.status.conditions, type_, value, reason, message, self.generation, iso(self.now)
        )

    def seconds_since(self, started: str | None) -> float:
        begin = parse_time(started)
        return max(0.0, (self.now - begin).total_seconds()) if begin else 0.0
