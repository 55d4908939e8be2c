"""Pure manifest builders: a VideoJob (as ChildContext) in, plain dicts out. No API calls here."""

from .context import ChildContext, InvalidSpecError, context_from_body, relative_path
from .secrets import build_progress_secret
from .stages import (
    build_detect_job,
    build_finalize_job,
    build_segment_job,
    detect_gpus,
    finalize_gpus,
    is_pool_job,
    pool_slots,
    segment_mode,
)

__all__ = [
    "ChildContext",
    "InvalidSpecError",
    "build_detect_job",
    "build_finalize_job",
    "build_progress_secret",
    "build_segment_job",
    "context_from_body",
    "detect_gpus",
    "finalize_gpus",
    "is_pool_job",
    "pool_slots",
    "relative_path",
    "segment_mode",
]
