"""YUV 4:2:0 <-> BGR on torch tensors, matching FFmpeg's swscale within a level or two.

swscale's same-size yuv420p→bgr24 path repeats each chroma sample over its 2x2 pixels, and bgr24→yuv420p
averages the 2x2 chroma of the pixels; both are reproduced here so that GPU edits look like the CPU path's.
The matrix follows the frame's colorspace tag like PyAV does (BT.601 when untagged).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

# (Kr, Kb) by AVColorSpace value; anything else (2 = unspecified, 5/6 = BT.601 variants) is BT.601.
MATRICES: dict[int, tuple[float, float]] = {1: (0.2126, 0.0722), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
BT601 = (0.299, 0.114)


def matrix_for(colorspace: int) -> tuple[float, float]:
    return MATRICES.get(int(colorspace), BT601)


def _scales(full_range: bool) -> tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) from 0..255 RGB to code values."""
    return (0.0, 1.0, 1.0) if full_range else (16.0, 219.0 / 255.0, 224.0 / 255.0)


def yuv_to_bgr(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, kr_kb: tuple[float, float], full_range: bool) -> Any:
    """[N,H,W] luma and [N,ceil(H/2),ceil(W/2)] chroma (uint8) → [N,H,W,3] uint8 BGR."""
    h, w = y.shape[1:]
    kr, kb = kr_kb
    kg = 1.0 - kr - kb
    off, ys, cs = _scales(full_range)
    yf = (y.float() - off) / ys
    uf = (u.float() - 128.0) / cs
    vf = (v.float() - 128.0) / cs
    uf = uf.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :h, :w]
    vf = vf.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :h, :w]
    r = yf + 2 * (1 - kr) * vf
    b = yf + 2 * (1 - kb) * uf
    g = yf - (2 * kb * (1 - kb) / kg) * uf - (2 * kr * (1 - kr) / kg) * vf
    return torch.stack((b, g, r), dim=-1).round_().clamp_(0, 255).to(torch.uint8)


def bgr_to_yuv(bgr: torch.Tensor, kr_kb: tuple[float, float], full_range: bool) -> tuple[Any, Any, Any]:
    """[N,H,W,3] uint8 BGR → luma [N,H,W] and chroma [N,ceil(H/2),ceil(W/2)] uint8."""
    kr, kb = kr_kb
    kg = 1.0 - kr - kb
    off, ys, cs = _scales(full_range)
    f = bgr.float()
    b, g, r = f[..., 0], f[..., 1], f[..., 2]
    luma = kr * r + kg * g + kb * b
    y = off + ys * luma
    u = 128.0 + cs * (b - luma) / (2 * (1 - kb))
    v = 128.0 + cs * (r - luma) / (2 * (1 - kr))
    # ceil_mode averages a trailing odd row/column with itself only (the edge sample of an odd-sized frame).
    u = F.avg_pool2d(u[:, None], 2, ceil_mode=True)[:, 0]
    v = F.avg_pool2d(v[:, None], 2, ceil_mode=True)[:, 0]
    return tuple(t.round_().clamp_(0, 255).to(torch.uint8) for t in (y, u, v))  # type: ignore[return-value]
