"""Can the output container hold what finalize will put in it? Asked before any frame is processed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import av

from .atomic import create_temp
from .encode import SOFTWARE
from .errors import BadInputError


def check_output(input_path: Path, output_path: Path, codec: str) -> None:
    """Raise BadInputError when `output_path`'s format cannot take the video codec or the source's other streams.

    Finalize copies audio and subtitles as they are (no re-encode), so e.g. SubRip subtitles cannot go into MP4:
    better to say so now than after every segment has been encoded. Nothing is written: a muxer writes only
    once it starts encoding, and the empty file it opened is removed.
    """
    # A temp file of this check's own (two jobs may check one output at once), next to the output.
    try:
        probe_file = create_temp(output_path.with_name(output_path.stem + "-check" + output_path.suffix))
    except OSError as exc:  # a read-only directory or file system: say so now, not after every segment
        raise BadInputError(
            f"output directory {output_path.parent} is not writable ({exc.strerror}); choose another output path"
        ) from exc
    try:
        try:
            out = av.open(str(probe_file), "w")
        except (ValueError, av.error.FFmpegError) as exc:
            raise BadInputError(
                f"output {output_path}: no container format for the suffix {output_path.suffix!r}; use .mp4 or .mkv"
            ) from exc
        try:
            source = av.open(str(input_path))
        except (OSError, ValueError, UnicodeDecodeError, av.error.FFmpegError):
            out.close()
            return  # not a readable input: probe says why, in its own words
        with out, source:
            what = f"{codec} video"
            try:
                out.add_stream(SOFTWARE[codec])
                for s in list(source.streams.audio) + list(source.streams.subtitles):
                    what = f"stream {s.index} ({s.type}, {s.codec_context.name})"
                    out.add_stream_from_template(s)
            except (ValueError, av.error.FFmpegError) as exc:
                raise BadInputError(
                    f"output {output_path.name} cannot hold the source's {what} ({exc}); "
                    "write to .mkv, which takes every codec"
                ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe_file.unlink()
