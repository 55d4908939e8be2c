"""Shared constants and job configs of the pipeline tests."""

from __future__ import annotations

from videojob.pipeline.config import EncodeConfig, JobConfig, OperationConfig, SegmentationConfig
from videojob.pipeline.detect import DetectorConfig, NormRegion

WIDTH, HEIGHT, FRAMES, FPS = 256, 144, 72, 24
REGION = NormRegion(x=0.25, y=0.25, w=0.25, h=0.25)
# The same region in pixels: x0, y0, x1, y1 (padding 0 in these tests)
REGION_PX = (64, 36, 128, 72)


def blur_config(segments: int, op: str = "blur") -> JobConfig:
    return JobConfig(
        detector=DetectorConfig(kind="static", regions=[REGION], padding=0.0),
        operation=OperationConfig(kind=op),
        # No snapping: the clip's keyframes (every 24 frames) are cuts a boundary would snap to, and these tests
        # want boundaries inside GOPs, where decoding must be frame-exact.
        segmentation=SegmentationConfig(segments=segments, min_frames_per_segment=4, scene_snap_window=0),
        # High quality so that the encoder's own generation loss on this 256x144 clip stays under the 38 dB the
        # tests demand; what they check is that the pipeline adds nothing to it (re-encoding alone: 39 dB min).
        encode=EncodeConfig(quality=10),
    )
