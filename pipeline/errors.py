"""Errors whose message is one line a person can act on; the class says whether a retry can help."""

from __future__ import annotations


class VideoJobError(Exception):
    """Base: str(error) is a single actionable line."""

    kind = "internal"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class BadInputError(VideoJobError):
    """The input or the spec is wrong; retrying cannot help."""

    kind = "bad-input"
    exit_code = 2


class TransientError(VideoJobError):
    """May succeed on retry (I/O, a busy device)."""

    kind = "transient"
    exit_code = 75
