"""A segment file's checksum, and a reader that checks it while the demuxer reads the file: finalize reads every
segment once, where hashing first and copying after read it twice (on a network volume, twice over the wire).

The checksum is sha256 over the sha256 of each block, so it can be taken in whatever order the demuxer reads (an
MP4 written in one pass keeps its index at the end, read before the media). The reader keeps a few blocks, so
the demuxer's small jumps back cost no second read.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import OrderedDict
from pathlib import Path

BLOCK = 1 << 20
KEPT_BLOCKS = 4


def file_digest(path: Path) -> str:
    """The checksum of a whole file, read start to end."""
    outer = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            outer.update(hashlib.sha256(block).digest())
    return outer.hexdigest()


class CheckedReader(io.RawIOBase):
    """A read-only, seekable file for av.open that reads each block from disk once (while the demuxer's jumps stay
    within KEPT_BLOCKS) and hashes it as it comes. `digest()` hashes whatever the demuxer skipped and returns the
    file's checksum; `disk_bytes` counts what was read from disk."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("rb")
        self.size = os.fstat(self._file.fileno()).st_size
        self._pos = 0
        self._digests: dict[int, bytes] = {}
        self._kept: OrderedDict[int, bytes] = OrderedDict()
        self.disk_bytes = 0

    def _block(self, n: int) -> bytes:
        data = self._kept.get(n)
        if data is not None:
            self._kept.move_to_end(n)
            return data
        self._file.seek(n * BLOCK)
        data = self._file.read(BLOCK)
        self.disk_bytes += len(data)
        self._digests.setdefault(n, hashlib.sha256(data).digest())
        self._kept[n] = data
        if len(self._kept) > KEPT_BLOCKS:
            self._kept.popitem(last=False)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        parts = []
        while self._pos < end:
            n, offset = divmod(self._pos, BLOCK)
            piece = self._block(n)[offset : offset + end - self._pos]
            if not piece:
                break  # the file shrank under us: the checksum will say so
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def digest(self) -> str:
        outer = hashlib.sha256()
        for n in range(-(-self.size // BLOCK)):
            if n not in self._digests:
                self._block(n)
            outer.update(self._digests[n])
        return outer.hexdigest()

    def close(self) -> None:
        self._file.close()
        self._kept.clear()
        super().close()
