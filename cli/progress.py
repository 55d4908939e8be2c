"""Progress for local runs: rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class ProgressDisplay:
    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.progress: Progress | None = None
        self.tasks: dict[tuple[str, int], TaskID] = {}
        self.started: dict[tuple[str, int], float] = {}
        self.done: dict[tuple[str, int], int] = {}
        self.last_line = 0.0

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
            # rich only on a terminal: importing it costs tens of milliseconds a scripted run would pay for nothing
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description:<12}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>7.1f} fps"),
                TimeRemainingColumn(),
            )
            self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, stage: str, key: int, done: int, total: int) -> None:
        name = (stage, key)
        now = time.monotonic()
        if done <= self.done.get(name, -1):
            return  # a repeat, or a pool result that overtook its worker's last progress message
        self.done[name] = done
        # Stages report (0, total) when they start; a first report further on (a resumed segment, a result that
        # overtook its messages) has no start time, so no rate.
        start = self.started.setdefault(name, now) if done == 0 or name in self.started else None
        fps = done / (now - start) if start is not None and now - start > 0.05 else None
        label = f"segment {key}" if stage == "segment" else stage
        if self.progress is not None:
            if name not in self.tasks:
                self.tasks[name] = self.progress.add_task(label, total=total, fps=0.0)
            self.progress.update(self.tasks[name], completed=done, total=total, fps=fps or 0.0)
        elif done == total or now - self.last_line >= 2.0:
            self.last_line = now
            rate = f", {fps:.1f} fps" if fps else ""
            eta = f", ETA {(total - done) / fps:.0f} s" if fps and done < total else ""
            print(f"{label}: {done}/{total} frames{rate}{eta}", flush=True)
