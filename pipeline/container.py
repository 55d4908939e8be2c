"""Can the output container hold what finalize will put in it? Asked before any frame is processed."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import av

from .atomic import create_temp
from .encode import SOFTWARE
from .errors import BadInputError
from .objectstore import Media, ObjectURL, av_input, check_bucket


def check_output_place(
    output_path: Media, codec: str, input_path: Media, volume: Path | None = None, scratch: Path | None = None
) -> None:
    """One clear line, before any work, for an output that cannot be written where it is asked for: a directory, a
    parent that is missing (local mode) or cannot be made inside `volume` (a pod's output volume, where finalize
    makes it), a place that is not writable, a suffix no muxer takes, a container that cannot hold the streams.

    Both local mode (runner.run_local) and the cluster's detect pod ask this. The temp file it writes to find out is
    removed again; missing folders it makes stay (finalize needs them, and another job's detect pod may be checking
    an output in the same new folder at the same moment: removing it would make that check fail).

    An object output (`s3://`): its bucket must exist and take the credentials; the muxer check runs on a temp file
    in `scratch` (default: the system's temp directory), where finalize will write it before the upload.
    """
    if isinstance(output_path, ObjectURL):
        check_bucket(output_path)
        where = (scratch or Path(tempfile.gettempdir())) / f"output{output_path.suffix}"
        check_output(input_path, where, codec, shown=str(output_path))
        return
    if output_path.is_dir():
        raise BadInputError(f"output {output_path} is a directory; give a file name such as {output_path / 'out.mp4'}")
    _make_parents(output_path.parent, volume)
    check_output(input_path, output_path, codec)


def _make_parents(parent: Path, volume: Path | None) -> None:
    """Make `parent` inside `volume`. Without a volume the parent must exist already."""
    if parent.is_dir():
        return
    if volume is None or not parent.is_relative_to(volume):
        raise BadInputError(f"output directory {parent} does not exist; create it first")
    missing = [p for p in [parent, *parent.parents] if p.is_relative_to(volume) and not p.is_dir()]
    missing.reverse()
    try:
        for folder in missing:
            folder.mkdir(exist_ok=True)  # another pod may make it at the same moment
    except OSError as exc:
        reason = "a file of that name is in the way" if isinstance(exc, FileExistsError) else exc.strerror
        raise BadInputError(
            f"output directory {parent} cannot be created ({reason}); choose another output path"
        ) from exc


def check_output(input_path: Media, output_path: Path, codec: str, shown: str | None = None) -> None:
    """Raise BadInputError when `output_path`'s format cannot take the video codec or the source's other streams.

    Finalize copies audio and subtitles as they are (no re-encode), so e.g. SubRip subtitles cannot go into MP4:
    better to say so now than after every segment has been encoded. Nothing is written: a muxer writes only
    once it starts encoding, and the empty file it opened is removed. `shown`: the output's name in messages, when
    `output_path` only stands in for it (an object's scratch file).
    """
    source_url = av_input(input_path)  # an object's presigned URL; a missing one fails here, in one line
    name = shown or str(output_path)
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
                f"output {name}: no container format for the suffix {output_path.suffix!r}; use .mp4 or .mkv"
            ) from exc
        try:
            source = av.open(source_url, "r")
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
                    f"output {shown or output_path.name} cannot hold the source's {what} ({exc}); "
                    "write to .mkv, which takes every codec"
                ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            probe_file.unlink()
