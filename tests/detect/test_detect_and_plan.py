"""Detection as the segments run it, each on its own frames plus context either side: a moving logo in an encoded
clip, sampled every 5th frame, is covered on every frame in between, across segment boundaries exactly as one pass
over the whole video covers it; the detect stage itself decodes nothing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from support.media import frame_image
from videojob.pipeline.config import JobConfig, OperationConfig
from videojob.pipeline.decode import iter_arrays
from videojob.pipeline.detect import DetectorConfig, build_timeline, make_detector
from videojob.pipeline.detect.sampling import detect_frames
from videojob.pipeline.plan import SegmentPlan
from videojob.pipeline.segmentdetect import segment_timeline
from videojob.pipeline.stages import detect_and_plan

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
    timelines = {s.index: segment_timeline(clip, plan, s, plan.config) for s in plan.segments}
    # One pass over the whole video, the way the detect stage used to do it.
    samples = detect_frames(make_detector(detector), iter_arrays(clip, plan.probe, 0, N), sample_every=5)
    whole = build_timeline(samples, N, W, H, detector)
    for seg in plan.segments:
        for i in range(seg.start, seg.end):
            assert corners(timelines[seg.index].boxes_at(i)) == corners(whole.boxes_at(i)), (seg.index, i)
    # Sampled at 0, 5, ..., 35: linear motion is interpolated exactly between samples (2 px for coding noise).
    for i in range(36):
        (b,) = whole.boxes_at(i)
        assert abs(b.x0 - logo_x(i)) <= 2 and abs(b.y0 - 100) <= 2 and b.width >= 38 and b.height >= 22, i
    # After the last sample the box is held where it was last seen.
    assert all(whole.boxes_at(i)[0].x0 == whole.boxes_at(35)[0].x0 for i in range(36, N))
    assert whole.frames_with_regions() == N
