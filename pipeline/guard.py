"""The input is sacred: refuse an output path that is the input file, however it is spelled."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import BadInputError
from .objectstore import ObjectURL, as_media


def how_same(input_path: Path, output_path: Path) -> str | None:
    """How `output_path` names the input file, or None when it names another file (or none yet).

    Finalize renames its temp file over the output, so any name that reaches the input's directory entry replaces
    the source; a hard link would be replaced too, and the user who made it meant it as the input.
    """
    if input_path == output_path:
        return "the same path"
    # realpath, not abspath: `dir/../in.mp4` is the input only when `dir` is not a link to elsewhere.
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        return "the same file through a symbolic link" if os.path.islink(output_path) else "another spelling of it"
    try:
        # st_dev + st_ino: hard links, and one volume mounted at two places (input and output claims alike).
        if os.path.samefile(input_path, output_path):
            return "the same file through a hard link"
    except OSError:  # either does not exist (yet): no file is shared
        return None
    return None


def refuse_output_over_input(input_path: Path | str | ObjectURL, output_path: Path | str | ObjectURL) -> None:
    """Raise BadInputError, before any work, when writing `output_path` would destroy `input_path`."""
    source, target = as_media(input_path), as_media(output_path)
    if isinstance(source, Path) and isinstance(target, Path):
        how = how_same(source, target)
    else:
        # One endpoint per job: an object is the input when bucket and key are the same (keys are literal strings,
        # `a//b` is another object than `a/b`); a file and an object are never the same.
        how = "the same object" if source == target else None
    if how is not None:
        raise BadInputError(
            f"output {output_path} is the input {input_path} ({how}); writing it would destroy the input: "
            "choose another output path"
        )
