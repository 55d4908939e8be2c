"""Template matching finds a pasted logo where it is and nowhere else; static regions map to pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from support.media import frame_image
from videojob.pipeline.detect import DetectorConfig, NormRegion, make_detector
from videojob.pipeline.errors import BadInputError


def logo() -> np.ndarray:
    img = np.full((24, 40, 3), 255, np.uint8)
    cv2.putText(img, "TV", (4, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 200), 2)
    img[:, :3] = (30, 200, 30)
    return img


def test_template_found_within_two_pixels_and_not_where_absent(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    cv2.imwrite(str(path), logo())
    detector = make_detector(DetectorConfig(kind="template", template=str(path), template_threshold=0.8))
    frames = []
    for i, (x, y) in enumerate([(200, 10), (17, 150), (None, None)]):
        f = frame_image(i, 320, 240)[..., ::-1].copy()
        if x is not None:
            f[y : y + 24, x : x + 40] = logo()
        frames.append(f)
    frames.append(np.zeros((240, 320, 3), np.uint8))  # flat: zero variance everywhere, must not match
    found = detector.detect(frames)
    assert found[3] == []
    assert len(found[0]) == 1 and abs(found[0][0].x0 - 200) <= 2 and abs(found[0][0].y0 - 10) <= 2
    assert len(found[1]) == 1 and abs(found[1][0].x0 - 17) <= 2 and abs(found[1][0].y0 - 150) <= 2
    assert found[2] == []


def test_two_logos_in_one_frame_are_two_boxes_and_a_rescaled_logo_needs_scales(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    cv2.imwrite(str(path), logo())
    frame = frame_image(0, 320, 240)[..., ::-1].copy()
    frame[30:54, 60:100] = logo()
    frame[160:184, 250:290] = logo()
    big = cv2.resize(logo(), (60, 36), interpolation=cv2.INTER_LINEAR)  # the logo at 1.5x
    frame[100:136, 150:210] = big
    single = make_detector(DetectorConfig(kind="template", template=str(path), template_threshold=0.8))
    (found,) = single.detect([frame])
    assert sorted((b.x0, b.y0) for b in found) == [(60, 30), (250, 160)]  # no duplicates from neighbouring peaks
    multi = make_detector(
        DetectorConfig(kind="template", template=str(path), template_threshold=0.8, template_scales=[1.0, 1.5])
    )
    (found,) = multi.detect([frame])
    scaled = [b for b in found if b.width == 60]
    assert len(found) == 3 and len(scaled) == 1
    assert abs(scaled[0].x0 - 150) <= 2 and abs(scaled[0].y0 - 100) <= 2 and scaled[0].height == 36


def test_transparent_logo_matches_on_its_opaque_pixels_only(tmp_path: Path) -> None:
    # The logo's corners are transparent: over moving footage they show whatever is behind them.
    rgb = logo()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    cv2.ellipse(alpha, (20, 12), (19, 11), 0, 0, 360, 255, -1)
    path = tmp_path / "logo.png"
    cv2.imwrite(str(path), np.dstack([rgb, alpha]))
    frames = []
    for i, (x, y) in enumerate([(100, 60), (250, 200), (None, None)]):
        f = frame_image(7 * i + 3, 320, 240)[..., ::-1].copy()
        if x is not None:
            roi = f[y : y + 24, x : x + 40]
            roi[alpha > 0] = rgb[alpha > 0]
        frames.append(f)
    detector = make_detector(DetectorConfig(kind="template", template=str(path), template_threshold=0.9))
    found = detector.detect(frames)
    assert [[(b.x0, b.y0) for b in per] for per in found] == [[(100, 60)], [(250, 200)], []]


def test_flat_template_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flat.png"
    cv2.imwrite(str(path), np.full((20, 20, 3), 90, np.uint8))
    with pytest.raises(BadInputError, match="flat colour"):
        make_detector(DetectorConfig(kind="template", template=str(path)))


def test_template_must_be_a_readable_image(tmp_path: Path) -> None:
    bad = tmp_path / "logo.png"
    bad.write_text("nope")
    with pytest.raises(BadInputError, match="not an image"):
        make_detector(DetectorConfig(kind="template", template=str(bad)))


def test_static_regions_in_pixels() -> None:
    detector = make_detector(DetectorConfig(kind="static", regions=[NormRegion(x=0.5, y=0.25, w=0.25, h=0.5)]))
    (boxes,) = detector.detect([np.zeros((200, 400, 3), np.uint8)])
    assert [(b.x0, b.y0, b.x1, b.y1) for b in boxes] == [(200, 50, 300, 150)]


def test_fixed_regions_are_kept_next_to_what_a_detector_finds(tmp_path: Path) -> None:
    """`regions` with a template (or yolo) detector: both the found boxes and the fixed ones, never one track."""
    path = tmp_path / "logo.png"
    cv2.imwrite(str(path), logo())
    region = NormRegion(x=0.0, y=0.8, w=0.5, h=0.2)  # e.g. a burned-in timestamp
    detector = make_detector(DetectorConfig(kind="template", template=str(path), regions=[region]))
    with_logo = frame_image(0, 320, 240)[..., ::-1].copy()
    with_logo[10:34, 200:240] = logo()
    found = detector.detect([with_logo, frame_image(1, 320, 240)[..., ::-1].copy()])
    fixed = (0, 192, 160, 240)
    assert sorted((b.x0, b.y0, b.x1, b.y1) for b in found[1]) == [fixed]
    assert len(found[0]) == 2 and fixed in [(b.x0, b.y0, b.x1, b.y1) for b in found[0]]
    logo_box = next(b for b in found[0] if (b.x0, b.y0, b.x1, b.y1) != fixed)
    assert abs(logo_box.x0 - 200) <= 2 and abs(logo_box.y0 - 10) <= 2
    fixed_box = next(b for b in found[0] if (b.x0, b.y0, b.x1, b.y1) == fixed)
    assert fixed_box.track_id != logo_box.track_id
    # Without regions the detector is the plain one.
    plain = make_detector(DetectorConfig(kind="template", template=str(path)))
    assert [len(b) for b in plain.detect([with_logo])] == [1]


@pytest.mark.parametrize("text", ["0.1,0.1,0.2", "0.9,0.1,0.2,0.2", "a,b,c,d"])
def test_bad_region_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        NormRegion.parse(text)
