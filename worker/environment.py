"""What a worker pod is told through its environment (contracts.md, "Worker environment")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from videojob.pipeline.config import JobConfig
from videojob.pipeline.errors import BadInputError


@dataclass(frozen=True)
class WorkerEnv:
    input: Path
    workdir: Path
    output: Path | None
    index: int | None
    redis_url: str | None
    job_key: str
    config_json: str | None

    def config(self) -> JobConfig:
        if not self.config_json:
            return JobConfig()
        try:
            return JobConfig.model_validate_json(self.config_json)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInputError(f"VIDEOJOB_CONFIG {where}: {first['msg']}") from None


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        # A missing variable is a broken pod spec, not a passing fault: retrying cannot help.
        raise BadInputError(f"environment variable {name} is not set; the pod was not built by the videojob operator")
    return value


def read_env(stage: str) -> WorkerEnv:
    index: int | None = None
    if stage == "segment":
        raw = _required("JOB_COMPLETION_INDEX")
        if not raw.isdigit():
            raise BadInputError(f"JOB_COMPLETION_INDEX must be a non-negative integer, got {raw!r}")
        index = int(raw)
    return WorkerEnv(
        input=Path(_required("VIDEOJOB_INPUT")),
        workdir=Path(_required("VIDEOJOB_WORKDIR")),
        output=Path(_required("VIDEOJOB_OUTPUT")) if stage == "finalize" else None,
        index=index,
        redis_url=os.environ.get("VIDEOJOB_REDIS_URL") or None,
        job_key=os.environ.get("VIDEOJOB_JOB_KEY") or "local/job",
        config_json=os.environ.get("VIDEOJOB_CONFIG"),
    )
