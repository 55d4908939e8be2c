"""Write files under a temporary name and rename, so a reader never sees half a file.

Every writer gets a temp file of its own: a random name, created exclusively. A pid would not do: it is 1 in every
container, so two pods writing one path on a shared volume would write into one temp file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

ATTEMPTS = 16


def temp_name(path: Path, token: str) -> Path:
    # Hidden, in the same directory (the rename stays on one filesystem), the suffix kept: muxers pick the
    # container format from it.
    return path.with_name(f".{path.stem}.tmp-{token}{path.suffix}")


def create_temp(path: Path) -> Path:
    """Create an empty temp file next to `path` that no other writer, on any host, has: a random name, created
    with O_CREAT|O_EXCL (a name already there is never reused), with the mode a plain open would give."""
    for _ in range(ATTEMPTS):
        tmp = temp_name(path, secrets.token_hex(8))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name next to {path} after {ATTEMPTS} attempts")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a new empty temporary file next to `path`, this writer's alone; on success rename it over `path`, on
    failure remove it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = create_temp(path)
    renamed = False
    try:
        yield tmp
        os.replace(tmp, path)
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
