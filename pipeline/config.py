"""JobConfig: everything a job needs besides its input and output paths. JSON in env VIDEOJOB_CONFIG.

The models live in videojob.common.jobmodel, the one definition the operator's CRD and the CLIs use too."""

from __future__ import annotations

from videojob.common.jobmodel import (
    DecodeConfig,
    DetectorConfig,
    EncodeConfig,
    JobConfig,
    NormRegion,
    OperationConfig,
    SegmentationConfig,
)

__all__ = [
    "DecodeConfig",
    "DetectorConfig",
    "EncodeConfig",
    "JobConfig",
    "NormRegion",
    "OperationConfig",
    "SegmentationConfig",
]
