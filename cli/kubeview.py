"""What `videojob status` and `videojob watch` show of a VideoJob's .status."""

from __future__ import annotations

import sys
from typing import Any

FINAL = {"Succeeded": 0, "Failed": 1}  # phase -> exit code of `videojob watch`


def describe(job: dict[str, Any]) -> str:
    """`videojob status`: the lines a person wants, from .status."""
    st = job.get("status") or {}
    meta = job["metadata"]
    seg = st.get("segments") or {}
    frames = st.get("frames") or {}
    lines = [
        f"videojob {meta['namespace']}/{meta['name']}: {st.get('phase') or 'Pending'}"
        + (f" ({st['progress']}%)" if st.get("progress") is not None else ""),
    ]
    if seg:
        lines.append(
            f"segments: {seg.get('succeeded', 0)}/{seg.get('total', 0)} done, {seg.get('active', 0)} running, "
            f"{seg.get('failed', 0)} failed"
        )
    if frames:
        lines.append(f"frames:   {frames.get('done', 0)}/{frames.get('total', 0)}")
    if st.get("stageSeconds"):
        lines.append("stages:   " + ", ".join(f"{k} {v:.1f}s" for k, v in st["stageSeconds"].items() if v is not None))
    if (st.get("output") or {}).get("path"):
        out = st["output"]
        lines.append(f"output:   {out['path']} ({out.get('bytes') or 0} bytes, {out.get('duration') or 0:.2f} s)")
    if st.get("message"):
        lines.append(f"message:  {st['message']}")
    return "\n".join(lines)


class Watcher:
    """Rich progress bars on a terminal (overall, segments, frames); a line per change otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tty = sys.stdout.isatty()
        self.last = ""
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Watcher:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
            )
            self.progress.start()
            for key in ("overall", "segments", "frames"):
                self.tasks[key] = self.progress.add_task(key, total=None, note="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, job: dict[str, Any]) -> str:
        st = job.get("status") or {}
        phase = st.get("phase") or "Pending"
        seg, frames = st.get("segments") or {}, st.get("frames") or {}
        if self.progress is not None:
            self.progress.update(self.tasks["overall"], completed=st.get("progress") or 0, total=100, note=phase)
            if seg.get("total"):
                note = f"{seg.get('active', 0)} running, {seg.get('failed', 0)} failed"
                self.progress.update(
                    self.tasks["segments"], completed=seg.get("succeeded", 0), total=seg["total"], note=note
                )
            if frames.get("total"):
                self.progress.update(self.tasks["frames"], completed=frames.get("done", 0), total=frames["total"])
        else:
            line = describe(job).splitlines()[0] + (
                f", segments {seg.get('succeeded', 0)}/{seg['total']}" if seg.get("total") else ""
            )
            if line != self.last:
                print(line, flush=True)
                self.last = line
        if phase in FINAL:
            if self.progress is not None:
                self.progress.stop()
                self.progress = None
            print(describe(job), flush=True)
        return phase
