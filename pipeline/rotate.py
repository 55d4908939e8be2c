"""Rotated sources (phone videos) are turned upright once, at decode time.

A display matrix asks players to rotate the picture. Detectors, static regions given as the user sees the
video, and templates cut from a screenshot all mean the upright picture, so every stage works on upright
frames, the output is encoded upright and carries no rotation. PyAV reports the matrix as degrees
counter-clockwise (the way FFmpeg's own auto-rotation turns it for display).
"""

from __future__ import annotations

import av
import cv2
import numpy as np

from .yuvops import PLANAR_420, plane_view

TURN = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation in (90, 270) else (width, height)


def upright(frame: av.VideoFrame, rotation: int) -> av.VideoFrame:
    """The frame as it is displayed: a new 4:2:0 frame turned by `rotation` degrees, timestamps kept."""
    if rotation == 0:
        return frame
    if frame.format.name not in PLANAR_420:
        frame = frame.reformat(format="yuv420p")
    width, height = display_size(frame.width, frame.height, rotation)
    out = av.VideoFrame(width, height, frame.format.name)
    for src, dst in zip(frame.planes, out.planes, strict=True):
        plane_view(dst)[:] = cv2.rotate(np.ascontiguousarray(plane_view(src)), TURN[rotation])
    out.pts, out.time_base = frame.pts, frame.time_base
    return out
