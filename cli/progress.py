"""Progress for local runs: rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class ProgressDisplay:
    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.progress: Progress | None = None
        self.tasks: dict[tuple[str, int], TaskID] = {}
        self.started: dict[tuple[str, int], float] = {}
        self.last_line = 0.0

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
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
        start = self.started.setdefault(name, now)
        fps = done / (now - start) if now > start else 0.0
        label = f"segment {key}" if stage == "segment" else stage
        if self.progress is not None:
            if name not in self.tasks:
                self.tasks[name] = self.progress.add_task(label, total=total, fps=0.0)
            self.progress.update(self.tasks[name], completed=done, total=total, fps=fps)
        elif done == total or now - self.last_line >= 2.0:
            self.last_line = now
            eta = f", ETA {(total - done) / fps:.0f} s" if 0 < done < total and fps > 0 else ""
            print(f"{label}: {done}/{total} frames, {fps:.1f} fps{eta}", flush=True)
