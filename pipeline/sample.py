"""A synthetic sample clip with audio for `videojob demo`: a moving "face", a burned-in logo, a scene cut, a tone,
and the face as a template image to look for."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .atomic import atomic_path

LOGO_REGION = (0.78, 0.05, 0.18, 0.12)  # normalized x, y, w, h of the burned-in logo


def _face(dx: np.ndarray, dy: np.ndarray, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face centred at dx = dy = 0: (mask, RGB colours), with eyes and a mouth so that it has texture
    for template matching."""
    r = height // 8
    mask = dx**2 + (dy * 1.2) ** 2 <= r * r
    colours = np.empty((*dx.shape, 3), np.uint8)
    colours[:] = (200, 170, 140)
    for ex in (-r // 2.5, r // 2.5):
        colours[(dx - ex) ** 2 + (dy + r // 4) ** 2 <= (r // 6) ** 2] = (40, 30, 30)
    colours[(np.abs(dx) <= r // 2) & (np.abs(dy - r // 2.5) <= r // 12)] = (150, 40, 40)
    return mask, colours


def write_face_template(path: Path | str, height: int = 360) -> Path:
    """The sample's face as a PNG with transparency around it: a template for `--detector template`."""
    import cv2

    path = Path(path)
    r = height // 8
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    mask, colours = _face(dx, dy, height)
    rgba = np.dstack([colours[..., ::-1], np.where(mask, 255, 0).astype(np.uint8)])  # BGRA for OpenCV
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), rgba):
            raise OSError(f"could not write {path}")
    return path


def make_sample(path: Path | str, width: int = 640, height: int = 360, seconds: float = 5.0, fps: int = 25) -> Path:
    path = Path(path)
    frames = int(seconds * fps)
    rng = np.random.default_rng(7)
    background = [rng.integers(40, 200, size=(-(-height // 8), -(-width // 8), 3), dtype=np.uint8) for _ in range(2)]
    yy, xx = np.mgrid[0:height, 0:width]
    lx, ly, lw, lh = (int(v * s) for v, s in zip(LOGO_REGION, (width, height, width, height), strict=True))
    with atomic_path(path) as tmp, av.open(str(tmp), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        for i in range(frames):
            scene = background[0 if i < frames // 2 else 1]  # a hard cut half way
            img = np.kron(scene, np.ones((8, 8, 1), np.uint8))[:height, :width].copy()
            cx = int(width * (0.15 + 0.5 * i / frames))
            cy = int(height * 0.55)
            face, colours = _face(xx - cx, yy - cy, height)
            img[face] = colours[face]
            img[ly : ly + lh, lx : lx + lw] = (255, 255, 255)
            img[ly + lh // 3 : ly + 2 * lh // 3, lx + lw // 6 : lx + 5 * lw // 6] = (0, 0, 200)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        samples = int(48000 * frames / fps)
        for start in range(0, samples, 1024):
            n = min(1024, samples - start)
            t = np.arange(start, start + n) / 48000
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            aframe = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            aframe.sample_rate = 48000
            aframe.pts = start
            for packet in audio.encode(aframe):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path
