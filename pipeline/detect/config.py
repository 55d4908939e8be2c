"""Detector settings: videojob.common.jobmodel's models, the one definition the CLI, the worker and the CRD share."""

from __future__ import annotations

from videojob.common.jobmodel import DEVICE_RE, DetectorConfig, NormRegion

__all__ = ["DEVICE_RE", "DetectorConfig", "NormRegion"]
