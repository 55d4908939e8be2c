"""The detection API as the detect stage uses it: a moving logo in an encoded clip, sampled every 5th frame,
comes back from detections.json covering the logo on every frame in between."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from support.media import frame_image
from videojob.pipeline.config import JobConfig, OperationConfig
from videojob.pipeline.detect import DetectorConfig, RegionTimeline
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


def test_sampled_template_detection_covers_the_moving_logo(tmp_path: Path) -> None:
    clip, work = tmp_path / "in.mp4", tmp_path / "work"
    make_clip(clip)
    cv2.imwrite(str(tmp_path / "logo.png"), logo())
    detector = DetectorConfig(
        kind="template", template=str(tmp_path / "logo.png"), template_threshold=0.7, sample_every=5, padding=0.0
    )
    plan = detect_and_plan(clip, work, JobConfig(detector=detector, operation=OperationConfig(kind="blur")))
    timeline = RegionTimeline.from_json((work / "detections.json").read_text())
    assert plan.frames_with_regions == N == timeline.frames_with_regions()
    # Sampled at 0, 5, ..., 35: linear motion is interpolated exactly between samples (2 px for coding noise).
    for i in range(36):
        (b,) = timeline.boxes_at(i)
        assert abs(b.x0 - logo_x(i)) <= 2 and abs(b.y0 - 100) <= 2 and b.width >= 38 and b.height >= 22, i
    # After the last sample the box is held where it was last seen.
    assert all(timeline.boxes_at(i)[0].x0 == timeline.boxes_at(35)[0].x0 for i in range(36, N))
