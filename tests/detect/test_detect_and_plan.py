"""Detection as the segments run it, each on its own frames plus context either side: a moving logo in an encoded
clip, sampled every 5th frame, is covered on every frame in between, across segment boundaries exactly as one pass
over the whole video covers it; the detect stage itself decodes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from support.media import frame_image
from videojob.pipeline.config import JobConfig, OperationConfig
from videojob.pipeline.decode import iter_arrays
from videojob.pipeline.detect import DetectorConfig, build_timeline, make_detector
from videojob.pipeline.detect.sampling import detect_frames
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.segmentdetect import SegmentRegions
from videojob.pipeline.stages import detect_and_plan, process_segment

W, H, N = 320, 240, 40


def logo() -> np.ndarray:
    img = np.full((24, 40, 3), 255, np.uint8)
    cv2.putText(img, "TV", (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 200), 2)
    img[:, :3] = (30, 200, 30)
    return img


def logo_x(i: int) -> int:
    return 40 + 4 * i  # moves right 4 px per frame


def make_clip(path: Path) -> None:
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=20)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.options = {"crf": "16", "preset": "veryfast", "g": "10"}
        v.codec_context.time_base = Fraction(1, 20)
        for i in range(N):
            bgr = frame_image(i, W, H)[..., ::-1].copy()
            bgr[100:124, logo_x(i) : logo_x(i) + 40] = logo()
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def corners(boxes: list) -> list[tuple[int, int, int, int]]:
    return [(b.x0, b.y0, b.x1, b.y1) for b in boxes]


def test_sampled_template_detection_covers_the_moving_logo(tmp_path: Path) -> None:
    clip, work = tmp_path / "in.mp4", tmp_path / "work"
    make_clip(clip)
    cv2.imwrite(str(tmp_path / "logo.png"), logo())
    detector = DetectorConfig(
        kind="template", template=str(tmp_path / "logo.png"), template_threshold=0.7, sample_every=5, padding=0.0
    )
    config = JobConfig(detector=detector, operation=OperationConfig(kind="blur"))
    config.segmentation.segments, config.segmentation.min_frames_per_segment = 3, 4
    detect_and_plan(clip, work, config)
    assert not (work / "detections.json").exists()  # the detect stage detects nothing
    plan = SegmentPlan.read(work)
    assert len(plan.segments) == 3
    # One pass over the whole video, the way the detect stage used to do it.
    samples = detect_frames(make_detector(detector), iter_arrays(clip, plan.probe, 0, N), sample_every=5)
    whole = build_timeline(samples, N, W, H, detector)
    for seg in plan.segments:
        regions = SegmentRegions(clip, plan, seg, plan.config)
        seen = []
        # Each frame comes out once its boxes are final: they are the whole video's, at that moment already.
        for i, _ in regions.frames(seg.end):
            assert corners(regions.boxes_at(i)) == corners(whole.boxes_at(i)), (seg.index, i)
            seen.append(i)
        assert seen == list(range(seg.start, seg.end))
    # Sampled at 0, 5, ..., 35: linear motion is interpolated exactly between samples (2 px for coding noise).
    for i in range(36):
        (b,) = whole.boxes_at(i)
        assert abs(b.x0 - logo_x(i)) <= 2 and abs(b.y0 - 100) <= 2 and b.width >= 38 and b.height >= 22, i
    # After the last sample the box is held where it was last seen.
    assert all(whole.boxes_at(i)[0].x0 == whole.boxes_at(35)[0].x0 for i in range(36, N))
    assert whole.frames_with_regions() == N


def test_a_segment_decodes_its_frames_once_for_detector_and_encoder(tmp_path: Path) -> None:
    """The detector and the encoder share one decoding pass: the middle segment of three (context reaching both
    ends of the 40-frame clip) decodes each of the clip's frames once, and finds the logo on every frame."""
    clip, work = tmp_path / "in.mp4", tmp_path / "work"
    make_clip(clip)
    cv2.imwrite(str(tmp_path / "logo.png"), logo())
    detector = DetectorConfig(kind="template", template=str(tmp_path / "logo.png"), template_threshold=0.7)
    config = JobConfig(detector=detector, operation=OperationConfig(kind="blur"))
    config.segmentation.segments, config.segmentation.min_frames_per_segment = 3, 4
    plan = detect_and_plan(clip, work, config)
    decoded = [0]
    real_open = av.open

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def decode(self, *args: Any, **kwargs: Any) -> Iterator[av.VideoFrame]:
            for frame in self.inner.decode(*args, **kwargs):
                decoded[0] += 1
                yield frame

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened = real_open(path, *args, **kwargs)
        return Counting(opened) if str(path) == str(clip) else opened  # the input, not the segment's own file

    with pytest.MonkeyPatch.context() as m:
        m.setattr(av, "open", counting_open)
        result = process_segment(clip, work, 1)
    assert decoded[0] == N
    assert result.frames_with_regions == result.frames == plan.segments[1].frames
