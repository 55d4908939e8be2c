"""The three stages every pod and the local runner call."""

from __future__ import annotations

from .finalize import FinalReport, finalize
from .planning import detect_and_plan
from .segment import SegmentResult, process_segment

__all__ = ["FinalReport", "SegmentResult", "detect_and_plan", "finalize", "process_segment"]
