"""What a worker pod is told through its environment (contracts.md, "Worker environment")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from videojob.pipeline.config import JobConfig
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.objectstore import Media, as_media


def inside_volume(path: Path, volume: Path | None, name: str) -> Path:
    """`path` itself, once it is sure not to leave `volume` through a symbolic link on the volume.

    The operator refuses absolute paths and `..` in the spec, but whoever can write to a shared volume can also
    put a link there (`in/clip.mp4 -> /etc/...`, `out -> /tmp`); reading or writing through it would reach
    outside the claim. Paths not under the volume's mount (a model baked into the image) are not checked.
    """
    if volume is None or not (path == volume or path.is_relative_to(volume)):
        return path
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(volume))
    if real != root and not real.is_relative_to(root):
        raise BadInputError(
            f"{name} {path} resolves to {real}, outside its volume {volume}: a symbolic link on the volume points "
            "out of it; replace the link with the file"
        )
    return path


def media_inside_volume(value: str, volume: Path | None, name: str) -> Media:
    """A file under its volume (inside_volume), or an `s3://bucket/key` object (no volume: read or written over
    the network, with the AWS_* variables the operator set)."""
    media = as_media(value)
    return inside_volume(media, volume, name) if isinstance(media, Path) else media


@dataclass(frozen=True)
class WorkerEnv:
    input: Media
    workdir: Path
    output: Media | None
    index: int | None
    redis_url: str | None
    job_key: str
    config_json: str | None
    input_volume: Path | None = None
    output_volume: Path | None = None
    keep_workdir: bool = True  # finalize removes the work directory only when the operator says so
    retries: int = 3  # pool: failed attempts a segment may have before it fails the job (retriesPerSegment)
    slots: int = 1  # pool: how many pool workers share the segments (the Job's completions)

    def config(self) -> JobConfig:
        if not self.config_json:
            return JobConfig()
        try:
            config = JobConfig.model_validate_json(self.config_json)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInputError(f"VIDEOJOB_CONFIG {where}: {first['msg']}") from None
        for key in ("model", "template"):  # relative ones in the spec live on the input volume
            value = getattr(config.detector, key)
            if value:
                inside_volume(Path(value), self.input_volume, f"detector.{key}")
        return config


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        # A missing variable is a broken pod spec, not a passing fault: retrying cannot help.
        raise BadInputError(f"environment variable {name} is not set; the pod was not built by the videojob operator")
    return value


def read_env(stage: str) -> WorkerEnv:
    index: int | None = None
    if stage in ("segment", "pool"):  # pool: the worker's slot
        raw = _required("JOB_COMPLETION_INDEX")
        if not raw.isdigit():
            raise BadInputError(f"JOB_COMPLETION_INDEX must be a non-negative integer, got {raw!r}")
        index = int(raw)
    in_volume, out_volume = _optional_path("VIDEOJOB_INPUT_VOLUME"), _optional_path("VIDEOJOB_OUTPUT_VOLUME")
    # Finalize writes the output; detect is told it (when the operator sets it) only to refuse, before any work, an
    # output that is the input.
    output = _required("VIDEOJOB_OUTPUT") if stage == "finalize" else os.environ.get("VIDEOJOB_OUTPUT", "").strip()
    return WorkerEnv(
        input=media_inside_volume(_required("VIDEOJOB_INPUT"), in_volume, "input"),
        workdir=inside_volume(Path(_required("VIDEOJOB_WORKDIR")), out_volume, "work directory"),
        output=media_inside_volume(output, out_volume, "output") if output else None,
        index=index,
        redis_url=os.environ.get("VIDEOJOB_REDIS_URL") or None,
        job_key=os.environ.get("VIDEOJOB_JOB_KEY") or "local/job",
        config_json=os.environ.get("VIDEOJOB_CONFIG"),
        input_volume=in_volume,
        output_volume=out_volume,
        keep_workdir=os.environ.get("VIDEOJOB_KEEP_WORKDIR", "true").strip().lower() not in ("false", "0", "no"),
        retries=_count("VIDEOJOB_RETRIES_PER_SEGMENT", 3),
        slots=_count("VIDEOJOB_POOL_SLOTS", 1),
    )


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise BadInputError(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def _optional_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None
