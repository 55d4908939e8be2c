"""The output's pixel format: the source's bit depth and chroma subsampling, as far as the job's encoder holds them.

10-bit in gives 10-bit out (x264 High 10, x265 Main 10), 4:2:2 and 4:4:4 stay so (x264 High 4:2:2 / 4:4:4, x265
RExt). H.264 and HEVC crop 4:2:0 pictures in whole chroma samples, so an odd frame size cannot be stated in 4:2:0:
odd sizes are encoded as 4:4:4, which x264 and x265 code at any size (they pad internally and crop in the header),
so the output has the source's exact size. NVENC is used for 8-bit 4:2:0 only; a job that asks for NVENC by name
on a source it cannot hold fails before any work with one line. The format follows from the probe alone, so every
segment of a job encodes the same one (segments are joined by packet copy).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
from pydantic import BaseModel

from .errors import BadInputError
from .objectstore import ObjectURL, av_input

SOFTWARE_ENCODERS = ("libx264", "libx265")
PQ, HLG = 16, 18  # AVColorTransferCharacteristic


class HdrInfo(BaseModel):
    """Static HDR metadata in x264/x265 parameter syntax (chromaticity in 0.00002, luminance in 0.0001 cd/m2)."""

    master_display: str | None = None  # G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)
    max_cll: str | None = None  # MaxCLL,MaxFALL


def _shape(pix_fmt: str | None) -> tuple[int, str]:
    """(bits per sample, chroma) of a source format; 8-bit 4:2:0 when unknown."""
    if not pix_fmt:
        return 8, "420"
    try:
        fmt = av.VideoFormat(pix_fmt, 16, 16)
    except ValueError:
        return 8, "420"
    bits = max(c.bits for c in fmt.components)
    if fmt.is_rgb:
        return bits, "444"  # RGB samples are full resolution; as YUV that is 4:4:4
    if len(fmt.components) < 3:
        return bits, "420"  # grey: no chroma to keep
    w, h = fmt.components[1].width, fmt.components[1].height
    full_w, full_h = fmt.components[0].width, fmt.components[0].height
    if (w, h) == (full_w, full_h):
        return bits, "444"
    if h == full_h:
        return bits, "422"
    return bits, "420"


def wanted_format(pix_fmt: str | None, width: int, height: int) -> str:
    """The planar YUV format that keeps the source's depth (8 or 10 bits) and chroma, at its exact size."""
    bits, chroma = _shape(pix_fmt)
    if width % 2 or height % 2:
        chroma = "444"  # 4:2:0 and 4:2:2 pictures have even sizes in H.264/HEVC; 4:4:4 has any size
    return f"yuv{chroma}p" + ("10le" if bits > 8 else "")


def output_format(encoder: str, pix_fmt: str | None, width: int, height: int) -> str:
    """The encoder's input format for this source, or one line saying the encoder cannot hold the source."""
    fmt = wanted_format(pix_fmt, width, height)
    if encoder in SOFTWARE_ENCODERS or fmt == "yuv420p":
        return fmt
    raise BadInputError(
        f"the source is {pix_fmt or 'unknown'} {width}x{height}, which needs {fmt} to be kept, but encoder "
        f"{encoder} encodes only 8-bit 4:2:0 at even sizes; use encoder software (libx264/libx265) or auto"
    )


def software_needed(pix_fmt: str | None, width: int, height: int) -> bool:
    return wanted_format(pix_fmt, width, height) != "yuv420p"


def _q(num: int, den: int, scale: int) -> int:
    return round(Fraction(num, den or 1) * scale)


def read_hdr(path: Path | str | ObjectURL, index: int) -> HdrInfo:
    """Mastering display and content light level of the first frame of video stream `index` (decoded side data)."""
    hdr = HdrInfo()
    with av.open(av_input(path), "r") as container:
        stream = container.streams[index]
        for frame in container.decode(stream):
            if not isinstance(frame, av.VideoFrame):
                break
            for sd in cast(Iterable[Any], frame.side_data):
                name = getattr(sd.type, "name", str(sd.type))
                raw = bytes(sd)
                if name == "MASTERING_DISPLAY_METADATA" and len(raw) >= 88:
                    v = struct.unpack("=20i", raw[:80]) + struct.unpack("=2i", raw[80:88])
                    (rx, rxd, ry, ryd, gx, gxd, gy, gyd, bx, bxd, by, byd, wx, wxd, wy, wyd) = v[:16]
                    mn, mnd, mx, mxd = v[16:20]
                    has_primaries, has_luminance = v[20], v[21]
                    if has_primaries and has_luminance:
                        c = 50000
                        hdr.master_display = (
                            f"G({_q(gx, gxd, c)},{_q(gy, gyd, c)})B({_q(bx, bxd, c)},{_q(by, byd, c)})"
                            f"R({_q(rx, rxd, c)},{_q(ry, ryd, c)})WP({_q(wx, wxd, c)},{_q(wy, wyd, c)})"
                            f"L({_q(mx, mxd, 10000)},{_q(mn, mnd, 10000)})"
                        )
                elif name == "CONTENT_LIGHT_LEVEL" and len(raw) >= 8:
                    cll, fall = struct.unpack("=2I", raw[:8])
                    hdr.max_cll = f"{cll},{fall}"
            break
    return hdr


def hdr_params(encoder: str, hdr: HdrInfo | None) -> str:
    """`:`-prefixed x264/x265 parameters that write the HDR metadata into the stream's SEI ('' for none)."""
    if hdr is None:
        return ""
    parts = []
    if hdr.master_display:
        parts.append(("mastering-display=" if encoder == "libx264" else "master-display=") + hdr.master_display)
    if hdr.max_cll:
        parts.append(("cll=" if encoder == "libx264" else "max-cll=") + hdr.max_cll)
    return "".join(":" + p for p in parts) if encoder in SOFTWARE_ENCODERS else ""
