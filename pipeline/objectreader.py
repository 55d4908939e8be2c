"""A seekable, read-only file over an object, for `av.open`: FFmpeg reads through it with bounded Range requests.

Why not FFmpeg's own http protocol on a presigned URL: each of its seeks asks for `bytes=N-`, open-ended, and the
server streams until the connection closes, so what was in flight when FFmpeg stopped reading is downloaded for
nothing (measured on loopback: a segment holding a quarter of the frames downloaded more than the whole object). A
presigned URL also dies with the temporary credentials that signed it (workload identity's last about an hour), and
certificate checks are FFmpeg's `tls_verify` option to remember. Here every request is a bounded range through the
S3 client, with its retries, credential refresh and certificate checks.

Blocks: the object is read in aligned blocks of BLOCK bytes, kept in a small LRU cache, because a demuxer reads
at several places in turn (the video and the audio of one instant can lie megabytes apart in a file muxed without
tight interleaving; a cache of one read-ahead buffer refetched both every few kilobytes: 13x the object measured).
Read-ahead: a missing block right after the one read last continues a sequential read; each such miss in a row
doubles the blocks fetched in one request (64 KiB, 128 KiB ... up to MAX_AHEAD blocks, 4 MiB), so a long decode
costs few requests, and what is fetched past the end of what was needed stays below both one request and what was
read sequentially before it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING

from .errors import BadInputError, TransientError

if TYPE_CHECKING:
    from .objectstore import ObjectURL

KIB = 1024
# Small blocks: a read away from the others (an index atom, the first packets FFmpeg probes) costs 64 KiB, not a
# read-ahead's worth (bench/bench_s3_reads.py, 720p: a segment read 1.3-2.2x its share with 512 KiB, 1.1-1.6x now).
BLOCK = 64 * KIB
MAX_AHEAD = 64  # blocks in one request: 4 MiB
CACHE_BLOCKS = 512  # 32 MiB per open input
BODY_ATTEMPTS = 3  # a body cut short is asked for again (urllib3 retries only until the headers arrive)


class ObjectReader:
    """read/seek/tell over `obj` as it was when opened: every range carries If-Match with its ETag, so an object
    replaced during the job fails (one line) instead of mixing two files."""

    def __init__(self, obj: ObjectURL, size: int, etag: str) -> None:
        # No `name` attribute: PyAV would hand it to FFmpeg as the file name, and with an `s3://` name the stream
        # probe read 5 MB at every open instead of 0.2 MB (measured on a lossless 640x360 MP4).
        self.obj, self.size, self.etag = obj, size, etag
        self.pos = 0
        self.fetched = 0  # bytes downloaded, for the tests and the curious
        self.requests = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._last = -2  # the block read last (none yet: the first read is not a continuation)
        self._streak = 0  # sequential misses in a row

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self.size - self.pos
        out = bytearray()
        while n > 0 and self.pos < self.size:
            number, offset = divmod(self.pos, BLOCK)
            piece = self._block(number)[offset : offset + n]
            out += piece
            self.pos += len(piece)
            n -= len(piece)
        return bytes(out)

    def _block(self, number: int) -> bytes:
        previous, self._last = self._last, number
        if number in self._blocks:
            self._blocks.move_to_end(number)
            return self._blocks[number]
        self._streak = self._streak + 1 if number == previous + 1 else 0
        count = min(2 ** min(self._streak, 6), MAX_AHEAD, (self.size - 1) // BLOCK - number + 1)
        start = number * BLOCK
        data = self._get(start, min(count * BLOCK, self.size - start))
        self.fetched += len(data)
        self.requests += 1
        for i in range(count):
            self._blocks[number + i] = data[i * BLOCK : (i + 1) * BLOCK]
        while len(self._blocks) > CACHE_BLOCKS:
            self._blocks.popitem(last=False)
        return self._blocks[number]

    def _get(self, offset: int, length: int) -> bytes:
        from urllib3.exceptions import HTTPError

        from .objectstore import call, client

        for attempt in range(BODY_ATTEMPTS):
            response = call(
                "input",
                self.obj,
                lambda: client().get_object(
                    self.obj.bucket, self.obj.key, offset, length, request_headers={"If-Match": self.etag}
                ),
            )
            try:
                data = response.read()
            except (HTTPError, OSError) as exc:
                if attempt + 1 == BODY_ATTEMPTS:
                    raise TransientError(f"input {self.obj}: the download broke off ({exc}); retry") from None
                continue
            finally:
                response.close()
                response.release_conn()
            if len(data) != length:
                raise BadInputError(f"input {self.obj} changed while it was read; plan the job again")
            return data
        raise AssertionError("unreachable")
