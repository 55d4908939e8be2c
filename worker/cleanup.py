"""Removing a VideoJob's work directory: after finalize (success) or in the cleanup stage (failure).

Only ever `<output volume>/.videojob/<one folder>`, the layout the operator gives every job (contracts.md): a work
directory anywhere else, or one reached through a symbolic link, is refused, so that a wrong variable or a link
planted on a shared volume can never make this remove another job's files or anything outside the volume.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from videojob.pipeline.errors import BadInputError

WORKDIRS = ".videojob"  # the folder on the output volume that holds every job's work directory


def own_workdir(workdir: Path, volume: Path | None) -> Path:
    """`workdir` when it is a job's own folder directly under `<volume>/.videojob`, else BadInputError."""
    if volume is None:
        raise BadInputError("VIDEOJOB_OUTPUT_VOLUME is not set: refusing to remove a work directory of unknown place")
    workdir, volume = Path(os.path.normpath(workdir)), Path(os.path.normpath(volume))
    if workdir.parent != volume / WORKDIRS or workdir.name in ("", ".", ".."):
        raise BadInputError(f"work directory {workdir} is not a folder of {volume / WORKDIRS}: refusing to remove it")
    for path in (volume / WORKDIRS, workdir):
        if path.is_symlink():
            raise BadInputError(f"{path} is a symbolic link: refusing to remove the work directory through it")
    real, root = Path(os.path.realpath(workdir)), Path(os.path.realpath(volume))
    if not real.is_relative_to(root) or real == root:
        raise BadInputError(f"work directory {workdir} resolves to {real}, outside its volume {volume}")
    return workdir


def remove_workdir(workdir: Path, volume: Path | None) -> bool:
    """Remove the work directory; False when it was gone already (a rerun of the cleanup)."""
    target = own_workdir(workdir, volume)
    if not target.exists():
        return False
    # rmtree unlinks symbolic links inside rather than following them: nothing outside the folder goes.
    shutil.rmtree(target)
    return True
