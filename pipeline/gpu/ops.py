"""Region operations on batches of BGR frames as torch tensors [N,H,W,3] uint8, on any torch device.

Same meaning as the CPU operations in pipeline/ops.py (tests/gpu/test_gpu_ops_parity.py holds the two together):
blur is two box filters of the CPU op's kernel with OpenCV's reflect-101 border, pixelate is OpenCV's INTER_AREA
reduction (exact area weights) and nearest enlargement, fill writes the colour. Boxes of the same size at the same
position in their frame's list are stacked and processed as one batch, in list order, so overlapping boxes see
each other's result as on the CPU. Inpaint is a GPU-friendly pyramid fill (not Telea): holes are filled from
masked averages of ever coarser levels, then smoothed by diffusion. Pixels outside the boxes are never changed.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import OperationConfig
from ..detect.regions import Box
from ..errors import BadInputError
from ..ops import blur_kernel

Tensor = torch.Tensor


def clip_boxes(boxes: Sequence[Sequence[Box]], width: int, height: int) -> list[list[Box]]:
    return [[c for b in frame if (c := b.clipped(width, height)) is not None] for frame in boxes]


def masks_from_boxes(boxes: Sequence[Sequence[Box]], height: int, width: int, device: Any) -> Tensor:
    """[N,1,H,W] bool, True inside any box of the frame."""
    mask = torch.zeros((len(boxes), 1, height, width), dtype=torch.bool, device=device)
    for i, frame in enumerate(boxes):
        for b in frame:
            mask[i, 0, max(0, b.y0) : max(0, b.y1), max(0, b.x0) : max(0, b.x1)] = True
    return mask


def _reflect101(n: int, pad: int, device: Any) -> Tensor:
    """Source indices of [-pad, n + pad) under OpenCV's BORDER_REFLECT_101, for any pad (reflects repeatedly)."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    m = idx.remainder(period)
    return torch.where(m < n, m, period - m)


def _box_sum(x: Tensor, k: int, dim: int) -> Tensor:
    """Sum over a centred window of k (odd) along dim, reflect-101 border, in exact integers."""
    n = x.shape[dim]
    padded = x.index_select(dim, _reflect101(n, k // 2, x.device))
    csum = F.pad(padded.cumsum(dim, dtype=x.dtype), [0, 0] * (x.dim() - 1 - dim) + [1, 0])
    return csum.narrow(dim, k, n) - csum.narrow(dim, 0, n)


def box_blur(rois: Tensor, k: int) -> Tensor:
    """cv2.blur(roi, (k, k)) for a stack [M,h,w,3] uint8: integer window sums, rounded mean."""
    # int32 sums are exact while the largest running sum fits; int64 otherwise (huge kernels on 4K boxes).
    h, w = rois.shape[1:3]
    dtype = torch.int32 if 255 * k * (max(h, w) + k) < 2**31 and 2 * 255 * k * k + k * k < 2**31 else torch.int64
    s = _box_sum(_box_sum(rois.to(dtype), k, 2), k, 1)
    area = k * k
    return torch.div(2 * s + area, 2 * area, rounding_mode="floor").to(torch.uint8)


def _area_weights(src: int, dst: int, device: Any) -> Tensor:
    """[dst, src] matrix of OpenCV INTER_AREA: each output averages the source span it covers, by overlap."""
    scale = src / dst
    lo = torch.arange(dst, device=device, dtype=torch.float64) * scale
    hi = lo + scale
    j = torch.arange(src, device=device, dtype=torch.float64)
    overlap = (torch.minimum(hi[:, None], j[None, :] + 1) - torch.maximum(lo[:, None], j[None, :])).clamp_(min=0)
    return (overlap / scale).float()


def _nearest_index(src: int, dst: int, device: Any) -> Tensor:
    """OpenCV INTER_NEAREST source index: floor(x * src / dst)."""
    return torch.clamp(
        (torch.arange(dst, device=device, dtype=torch.float64) * (src / dst)).floor().long(), max=src - 1
    )


def pixelate(rois: Tensor, blocks: int) -> Tensor:
    h, w = rois.shape[1:3]
    scale = max(1, blocks) / max(1, min(w, h))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    dev = rois.device
    small = torch.einsum("yh,mhwc,xw->myxc", _area_weights(h, sh, dev), rois.float(), _area_weights(w, sw, dev))
    small = small.round_().clamp_(0, 255).to(torch.uint8)
    return small.index_select(1, _nearest_index(sh, h, dev)).index_select(2, _nearest_index(sw, w, dev))


def _masked_smooth(x: Tensor, w: Tensor) -> Tensor:
    """3x3 mean over the pixels with weight w (the valid ones), so a canvas' padding never leaks in."""
    num = F.avg_pool2d(F.pad(x * w, (1, 1, 1, 1)), 3, stride=1)
    den = F.avg_pool2d(F.pad(w, (1, 1, 1, 1)), 3, stride=1)
    return num / den.clamp(min=1e-6)


def pyramid_fill(img: Tensor, hole: Tensor, smooth_iters: int, valid: Tensor | None = None) -> Tensor:
    """Fill hole pixels of img [N,C,H,W] float from their surroundings; known pixels keep their values.

    `valid` [N,1,H,W] (default: everything) marks the pixels that belong to the picture: a frame's crop placed on
    a larger canvas is filled exactly as it would be alone (padding neither feeds the fill nor is sampled).
    """
    v = torch.ones_like(hole[:, :1], dtype=img.dtype) if valid is None else valid.to(img.dtype)
    known = (~hole[:, :1]).to(img.dtype) * v
    levels = [(img, known, v)]
    cur, k = img, known
    while bool(((k == 0) & (v > 0)).any()) and min(cur.shape[-2:]) > 1:
        # Masked average: sums of known values over sums of weights, so holes never bleed zeros into the fill.
        num = F.avg_pool2d(cur * k, 2, ceil_mode=True)
        den = F.avg_pool2d(k, 2, ceil_mode=True)
        cur, k, v = (
            num / den.clamp(min=1e-6),
            (den > 0).to(img.dtype),
            (F.avg_pool2d(v, 2, ceil_mode=True) > 0).to(img.dtype),
        )
        levels.append((cur, k, v))
    filled, _, fv = levels[-1]
    for cur, k, v in reversed(levels[:-1]):
        h, w = cur.shape[-2:]
        # A fixed scale of 2 then a crop (not `size=`): sample positions must not depend on the canvas size.
        up = F.interpolate(filled * fv, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :h, :w]
        wsum = F.interpolate(fv, scale_factor=2.0, mode="bilinear", align_corners=False)[..., :h, :w]
        filled, fv = torch.where(k > 0, cur, up / wsum.clamp(min=1e-6)), v
    v = levels[0][2]
    for _ in range(smooth_iters):
        # Diffusion inside the hole only: removes the blockiness of the coarse levels.
        filled = torch.where(hole, _masked_smooth(filled, v), filled)
    return torch.where(hole, filled, img)


@functools.cache
def load_torchscript(path: str, device: str) -> Any:
    """A TorchScript file (torch.jit.save) or, for a `.pt2` name, a torch.export program (torch.export.save)."""
    if not Path(path).is_file():
        raise BadInputError(f"TorchScript model {path} not found; mount the model file and give its path")
    try:
        if path.endswith(".pt2"):
            return torch.export.load(path).module().to(device)
        with warnings.catch_warnings():
            # torch 2.9+ deprecates TorchScript in favour of torch.export; users' models are still TorchScript.
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(path, map_location=device)
    except (RuntimeError, ValueError) as exc:
        raise BadInputError(
            f"TorchScript model {path} could not be loaded ({' '.join(str(exc).split())[:200]})"
        ) from exc
    model.eval()
    return model


def run_torchscript(frames: Tensor, mask: Tensor, path: str) -> Tensor:
    """model(frames [N,3,H,W] float RGB in 0..1, masks [N,1,H,W] float 0/1) -> [N,3,H,W] RGB 0..1."""
    model = load_torchscript(path, str(frames.device))
    rgb = frames.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)
    with torch.inference_mode():
        out = model(rgb, mask.float())
    if not isinstance(out, torch.Tensor) or out.shape != rgb.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BadInputError(f"TorchScript model {path} returned {got}, expected frames of shape {tuple(rgb.shape)}")
    bgr = out.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).flip(-1)
    return torch.where(mask.permute(0, 2, 3, 1), bgr, frames)


def _grouped(boxes: Sequence[Sequence[Box]]) -> list[list[tuple[int, Box]]]:
    """Boxes keyed by (position in their frame's list, size); groups ordered by position."""
    groups: dict[tuple[int, int, int], list[tuple[int, Box]]] = defaultdict(list)
    for i, frame in enumerate(boxes):
        for j, b in enumerate(frame):
            groups[(j, b.height, b.width)].append((i, b))
    return [groups[key] for key in sorted(groups)]


def apply_batch(
    frames: Tensor, boxes: Sequence[Sequence[Box]], op: OperationConfig, valid: Tensor | None = None
) -> Tensor:
    """A new [N,H,W,3] uint8 tensor with `op` applied inside every frame's boxes; `frames` is not modified.

    `valid` [N,1,H,W] bool: where frames are crops padded to one canvas, the pixels that are picture (inpaint
    must not draw from the padding; the other operations only read inside their boxes).
    """
    n, height, width, _ = frames.shape
    if len(boxes) != n:
        raise ValueError(f"{n} frames but {len(boxes)} box lists")
    boxes = clip_boxes(boxes, width, height)
    out = frames.clone()
    if op.kind == "none" or not any(boxes):
        return out
    if op.torchscript or op.kind == "inpaint":
        mask = masks_from_boxes(boxes, height, width, frames.device)
        if op.torchscript:
            return run_torchscript(out, mask, op.torchscript)
        img = out.permute(0, 3, 1, 2).float()
        filled = pyramid_fill(img, mask.expand_as(img), 2 * op.inpaint_radius, valid)
        return filled.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    if op.kind == "fill":
        red, green, blue = op.fill_color
        color = torch.tensor((blue, green, red), dtype=torch.uint8, device=frames.device)
        for i, frame in enumerate(boxes):
            for box in frame:
                out[i, box.y0 : box.y1, box.x0 : box.x1] = color
        return out
    for members in _grouped(boxes):
        rois = torch.stack([out[i, b.y0 : b.y1, b.x0 : b.x1] for i, b in members])
        if op.kind == "blur":
            k = blur_kernel(members[0][1], op.blur_strength)
            edited = box_blur(box_blur(rois, k), k)
        else:
            edited = pixelate(rois, op.pixelate_blocks)
        for (i, b), roi in zip(members, edited, strict=True):
            out[i, b.y0 : b.y1, b.x0 : b.x1] = roi
    return out
