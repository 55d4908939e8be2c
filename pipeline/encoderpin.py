"""One encoder per job: chosen once, recorded, used by every segment.

Segments are joined by packet copy under one stream header, so they must all come from the same encoder with the
same settings. Choosing per segment (per node) mixed NVENC and libx264 streams whenever some nodes had a usable
NVENC and others not (no GPU, or every NVENC session taken).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from . import encode
from .atomic import create_temp
from .config import EncodeConfig
from .errors import BadInputError, TransientError

PIN_FILE = "encoder.json"


def planned_encoder(cfg: EncodeConfig, here: bool, needs_software: bool = False) -> str | None:
    """The segments' encoder as the plan records it, or None when the first segment must choose.

    `here`: the segments run where planning runs (the local runner), so this machine's choice is theirs. A cluster's
    detect pod may have no GPU while the segment pods have one: there `auto` is decided here only when NVENC works
    here (the segment pods get the same GPUs), and otherwise left to the first segment (see `job_encoder`).
    """
    if cfg.stage == "finalize":
        return encode.SOFTWARE["h264"]  # lossless intermediates; finalize chooses the one real encode itself
    if cfg.encoder == "software" or (cfg.encoder == "auto" and needs_software):
        # needs_software: the source's depth, chroma or odd size is more than NVENC holds (see pixfmt.py)
        return encode.SOFTWARE[cfg.codec]
    if cfg.encoder == "nvenc":
        return encode.NVENC[cfg.codec]  # asked for by name: a segment node that cannot open it says so
    if encode.encoder_works(encode.NVENC[cfg.codec]):
        return encode.NVENC[cfg.codec]
    return encode.SOFTWARE[cfg.codec] if here else None


def read_pin(workdir: Path) -> str | None:
    """The encoder the first segment pinned, when the plan left the choice to it."""
    path = workdir / PIN_FILE
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text())["encoder"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{path} is not an encoder pin this videojob wrote; remove it and plan again") from exc


def job_encoder(workdir: Path, planned: str | None, cfg: EncodeConfig) -> str:
    """The job's encoder: the plan's, else the one pinned by the first segment, else pin this node's choice.

    Pinning publishes a complete file under PIN_FILE with a hard link, which fails when another segment pinned
    first: the first writer wins on every node of a shared volume, and the loser uses the winner's choice.
    """
    if planned is not None:
        return planned
    pinned = read_pin(workdir)
    if pinned is not None:
        return pinned
    mine = encode.choose_encoder(cfg)
    tmp = create_temp(workdir / PIN_FILE)
    try:
        tmp.write_text(json.dumps({"encoder": mine}))
        os.link(tmp, workdir / PIN_FILE)
    except FileExistsError:
        pass  # another segment pinned first
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    pinned = read_pin(workdir)
    assert pinned is not None
    return pinned


def usable_here(name: str, cfg: EncodeConfig) -> str:
    """`name` when this node can open it; otherwise one line that says whether a retry elsewhere can help."""
    if name not in encode.NVENC.values() or encode.encoder_works(name):
        return name
    if cfg.encoder == "nvenc":
        raise BadInputError(
            f"encoder nvenc was requested but {name} cannot be opened here (no NVIDIA GPU with an encoder, or no "
            "driver); use encoder auto or software"
        )
    raise TransientError(
        f"the job's encoder is {name} (every segment must use one encoder) but this node cannot open it (no NVIDIA "
        "GPU, or every encoder session is taken); retry on a node with a free NVENC"
    )
