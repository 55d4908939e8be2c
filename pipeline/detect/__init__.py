"""Detectors (yolo, template, static) and the region timeline built from their samples."""

from __future__ import annotations

from .base import Detector
from .config import DetectorConfig, NormRegion
from .regions import Box, iou
from .timeline import RegionTimeline, build_timeline


def make_detector(cfg: DetectorConfig) -> Detector:
    """The configured detector, with its model loaded once. Fixed `regions` given with a yolo or template detector
    are processed too, on every frame, besides what it finds."""
    found = _detector(cfg)
    if cfg.kind in ("yolo", "template") and cfg.regions:
        from .static import WithFixedRegions

        return WithFixedRegions(found, cfg.regions)
    return found


def _detector(cfg: DetectorConfig) -> Detector:
    if cfg.kind == "static":
        from .static import StaticDetector

        return StaticDetector(cfg.regions)
    if cfg.kind == "template":
        from .template import TemplateDetector

        assert cfg.template is not None
        return TemplateDetector(cfg.template, cfg.template_threshold, cfg.template_scales)
    if cfg.kind == "yolo":
        from .yolo import YoloDetector

        return YoloDetector(cfg)
    from .static import StaticDetector

    return StaticDetector([])


__all__ = [
    "Box",
    "Detector",
    "DetectorConfig",
    "NormRegion",
    "RegionTimeline",
    "build_timeline",
    "iou",
    "make_detector",
]
