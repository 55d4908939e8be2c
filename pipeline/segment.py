"""Process one segment of the plan: decode [start, end) exactly, apply the operation, encode, record the result."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from pydantic import BaseModel

from .atomic import atomic_path, write_text_atomic
from .config import JobConfig
from .decode import DecoderUsed, iter_frames
from .detect import Box
from .encode import add_video_stream, tail_frames
from .encoderpin import job_encoder, read_pin, usable_here
from .errors import BadInputError, TransientError
from .gpu.device import batched_device
from .hwdecode import HWAccel, choose_hwaccel
from .objectstore import Media, ObjectURL, as_media, size_if_present
from .plan import Segment, SegmentPlan
from .prefetch import prefetched
from .readonce import file_digest
from .segmentdetect import SegmentRegions
from .yuvops import edit_frame

ProgressFn = Callable[[int, int], None]


class SegmentResult(BaseModel):
    index: int
    start: int
    end: int
    frames: int
    frames_with_regions: int
    file: str
    size: int
    sha256: str
    encoder: str
    intermediate: bool
    seconds: float
    fps: float
    skipped: bool = False
    backend: str = "opencv"  # what ran the region operation: "opencv" (CPU) or "torch:<device>" (batched)
    decoder: str = "software"  # what decoded the segment: "nvdec" or "software"
    decode_note: str = ""  # why decode.hwaccel auto decoded in software, when it did
    # SegmentPlan.digest of the plan and config the segment was made for ("" before it was recorded: never trusted).
    plan_digest: str = ""
    # What finalize needs without reading the file first (it reads each segment once, while copying it): the
    # largest number of packets decoded ahead of their display rank (B-frame reordering), and sha256 of the stream
    # header (codec, size, pixel format, profile, SPS/PPS extradata) that segments joined by packet copy share.
    reorder_delay: int = 0
    header: str = ""


def segment_paths(workdir: Path, index: int) -> tuple[Path, Path]:
    base = workdir / "segments" / f"seg-{index:05d}"
    return base.with_suffix(".mp4"), base.with_suffix(".json")


def trusted_result(
    workdir: Path, seg: Segment, digest: str, encoder: str | None = None, hash_media: bool = True
) -> tuple[SegmentResult | None, str]:
    """The recorded result of `seg` when it can stand for the segment now, else None and why not (one phrase).

    It must be for the same frames [start, end), made for the same plan and job config (`digest`, see
    SegmentPlan.digest) by the job's `encoder` (when it is known), and its media must still be what was recorded.
    A result that fails any of these is redone by resume and refused by finalize, never joined. `hash_media`
    False leaves the checksum to the caller (finalize checks it while it copies the file).
    """
    media, meta = segment_paths(workdir, seg.index)
    if not (media.is_file() and meta.is_file()):
        return None, "is missing"
    try:
        result = SegmentResult.model_validate_json(meta.read_text())
    except ValueError:
        return None, f"has an unreadable result file {meta.name}"
    if (result.index, result.start, result.end) != (seg.index, seg.start, seg.end):
        return None, f"was made for frames [{result.start}, {result.end}), the plan says [{seg.start}, {seg.end})"
    if result.plan_digest != digest:
        return None, "was made for another plan or job config"
    if encoder is not None and result.encoder != encoder:
        return None, f"was encoded by {result.encoder}, the job's encoder is {encoder}"
    if result.size != media.stat().st_size or (hash_media and result.sha256 != file_digest(media)):
        return None, "does not match its recorded checksum"
    return result, ""


def input_size(media: Media) -> int | None:
    """The input's size now (None: it is gone), to compare with the size it had when it was planned."""
    if isinstance(media, ObjectURL):
        return size_if_present(media)
    return media.stat().st_size if media.is_file() else None


@dataclass
class SegmentWork:
    """Everything encoding one segment needs, resolved once before the first frame."""

    input_path: Media
    plan: SegmentPlan
    seg: Segment
    cfg: JobConfig
    regions: SegmentRegions | None  # None: nothing to detect (no detector, or operation none)
    device: Any | None  # torch device of the batched path, None for OpenCV
    encoder: str
    intermediate: bool  # stage=finalize: a lossless intermediate, encoded once more by finalize
    hwaccel: HWAccel | None
    decoder: DecoderUsed
    on_progress: ProgressFn | None


@dataclass
class Counts:
    written: int = 0  # frames given to the encoder
    with_regions: int = 0


def process_segment(
    input_path: Path | str | ObjectURL,
    workdir: Path | str,
    index: int,
    on_progress: ProgressFn | None = None,
    threads: int | None = None,
) -> SegmentResult:
    """`threads`: encoder and decoder threads for this run, instead of the plan's encode.threads (a share of the
    cores is the local runner's run-time choice; it changes no pixel that resume has to trust)."""
    input_path, workdir = as_media(input_path), Path(workdir)
    plan = SegmentPlan.read(workdir)
    if not 0 <= index < len(plan.segments):
        raise BadInputError(f"segment index {index} is outside the plan's {len(plan.segments)} segments")
    digest = plan.digest(workdir)
    done, _ = trusted_result(workdir, plan.segments[index], digest, plan.encoder or read_pin(workdir))
    if done is not None:
        return done.model_copy(update={"skipped": True})
    if input_size(input_path) != plan.input_size:
        raise BadInputError(f"input {input_path} is missing or changed since it was planned; plan the job again")
    work, decode_note = prepare(input_path, workdir, plan, index, threads, on_progress)
    seg = work.seg
    media, meta = segment_paths(workdir, index)
    started = time.monotonic()
    if on_progress is not None:
        on_progress(0, seg.frames)
    with atomic_path(media) as tmp:
        counts = encode_segment(tmp, work)
        # Both checks before the rename: a file under the final name is always a whole, checked segment.
        if counts.written != seg.frames:
            raise BadInputError(
                f"segment {index}: decoded {counts.written} frames, planned {seg.frames}; the input is damaged"
            )
        delay, header = check_segment_file(tmp, index, seg.frames)
    seconds = time.monotonic() - started
    if work.hwaccel is not None and work.decoder.name != "nvdec" and not decode_note:
        decode_note = "NVDEC rejected this stream; decoded in software"
    result = SegmentResult(
        index=index,
        start=seg.start,
        end=seg.end,
        frames=counts.written,
        frames_with_regions=counts.with_regions,
        file=media.name,
        size=media.stat().st_size,
        sha256=file_digest(media),
        encoder=work.encoder,
        intermediate=work.intermediate,
        seconds=round(seconds, 3),
        fps=round(counts.written / seconds, 2) if seconds > 0 else 0.0,
        backend=f"torch:{work.device}" if work.device is not None else "opencv",
        decoder=work.decoder.name,
        decode_note=decode_note,
        plan_digest=digest,
        reorder_delay=delay,
        header=header,
    )
    write_text_atomic(meta, result.model_dump_json())
    return result


def prepare(
    input_path: Media, workdir: Path, plan: SegmentPlan, index: int, threads: int | None, on_progress: ProgressFn | None
) -> tuple[SegmentWork, str]:
    """The segment's settings, regions, devices and encoder; and a note when hwaccel auto fell back to software."""
    seg, cfg = plan.segments[index], plan.config
    if threads is not None:
        cfg = cfg.model_copy(update={"encode": cfg.encode.model_copy(update={"threads": threads})})
    detecting = cfg.detector.kind != "none" and cfg.operation.kind != "none"
    hwaccel, decode_note = choose_hwaccel(cfg.decode.hwaccel, plan.probe.codec)
    # Detection on this segment's own frames (and context either side): the detect stage decoded nothing.
    regions = SegmentRegions(input_path, plan, seg, cfg, hwaccel, on_progress) if detecting else None
    intermediate = cfg.encode.stage == "finalize"
    work = SegmentWork(
        input_path=input_path,
        plan=plan,
        seg=seg,
        cfg=cfg,
        regions=regions,
        # The batched torch path when the operation asks for a CUDA device (or auto finds one) or runs a
        # TorchScript model; torch is imported only then.
        device=batched_device(cfg.operation) if detecting else None,
        # The job's encoder, never this node's own choice (lossless x264 intermediates with stage=finalize).
        encoder="libx264" if intermediate else usable_here(job_encoder(workdir, plan.encoder, cfg.encode), cfg.encode),
        intermediate=intermediate,
        hwaccel=hwaccel,
        decoder=DecoderUsed(),
        on_progress=on_progress,
    )
    return work, decode_note


def encode_segment(path: Path, work: SegmentWork) -> Counts:
    """Decode the segment's frames, apply the operation where there are regions, encode into `path`."""
    info, seg, cfg = work.plan.probe, work.seg, work.cfg
    counts = Counts()
    time_base = Fraction(*info.time_base)
    with av.open(str(path), "w") as out:
        stream = add_video_stream(
            out,
            work.encoder,
            cfg.encode,
            info.width,
            info.height,
            time_base,
            Fraction(*info.rate),
            lossless=work.intermediate,
            color=info.color,
            source_pix_fmt=info.pix_fmt,
            sample_aspect=info.sample_aspect,
            hdr=info.hdr,
        )

        pts = info.pts
        # The encoder also sees the frames after the segment (the next segment's first ones) up to its lookahead,
        # so that mbtree/cutree give the segment's last frames the quality one encode would, instead of a dip
        # before every seam; those frames are encoded but not kept. The last kept frame is forced to a P frame:
        # it ends its mini-GOP, so no kept frame references a dropped one.
        stop = min(info.frames, seg.end + (0 if work.intermediate else tail_frames(work.encoder, cfg.encode.preset)))
        last_kept = int(pts[seg.end - 1] - pts[seg.start])

        def mux_kept(packets: list[av.Packet]) -> None:
            out.mux([p for p in packets if p.pts is not None and p.pts <= last_kept])

        def write(idx: int, frame: av.VideoFrame) -> None:
            # The source's own timestamps, relative to the segment's first frame (MP4 rounds a non-zero start
            # through its edit list); finalize adds the segment's offset back. Variable rates survive.
            frame.pts = int(pts[idx] - pts[seg.start])
            frame.time_base = time_base
            ends_gop = idx == seg.end - 1 and stop > seg.end
            frame.pict_type = av.video.frame.PictureType.P if ends_gop else av.video.frame.PictureType.NONE
            mux_kept(stream.encode(frame))
            if idx >= seg.end:
                return
            counts.written += 1
            if work.on_progress is not None and (counts.written % 10 == 0 or counts.written == seg.frames):
                work.on_progress(counts.written, seg.frames)

        def boxes_at(idx: int) -> list[Box]:
            # Lookahead frames past the end are never kept: nothing to hide in them.
            return work.regions.boxes_at(idx) if work.regions is not None and idx < seg.end else []

        # Parallel workers get a share of the cores (encode.threads); the decoder keeps to it as the encoder does.
        # With a detector, one decoding pass feeds it (the segment's frames and context either side) and the encoder.
        threads = cfg.encode.threads
        frames = (
            work.regions.frames(stop, threads, work.decoder)
            if work.regions is not None and work.regions.pixels
            else iter_frames(work.input_path, info, seg.start, stop, threads, work.hwaccel, work.decoder)
        )
        # Decoded (and detected) on a thread of its own, a few frames ahead of the edit and the encoder (prefetch.py).
        # Closed at once when the encoder fails: the decoding thread stops and closes its input there and then.
        with contextlib.closing(prefetched(frames)) as ahead:
            counts.with_regions = apply_and_write(ahead, boxes_at, work, write)
        mux_kept(stream.encode(None))
    return counts


def apply_and_write(
    frames: Iterator[tuple[int, av.VideoFrame]],
    boxes_at: Callable[[int], list[Box]],
    work: SegmentWork,
    write: Callable[[int, av.VideoFrame], None],
) -> int:
    """The operation on every frame with regions, each frame handed to `write`; returns how many had regions."""
    if work.device is not None:
        # The batched torch backend (a CUDA device, or a TorchScript model): same frames, same boxes.
        from .gpu.process import process_frames_batched

        return process_frames_batched(
            frames, boxes_at, work.cfg.operation, write, device=work.device
        ).frames_with_regions
    with_regions = 0
    for idx, frame in frames:
        boxes = boxes_at(idx)
        if boxes:
            with_regions += 1
            frame = edit_frame(frame, boxes, work.cfg.operation)
        # untouched frames go to the encoder as decoded (no colour round trip)
        write(idx, frame)
    return with_regions


def stream_header(ctx: av.codec.context.CodecContext) -> str:
    """sha256 of what must be equal for packets to share one stream header: codec, size, pixel format, profile, and
    the parameter sets themselves (extradata: SPS/PPS, VPS for HEVC)."""
    fields = (ctx.name, ctx.width, ctx.height, ctx.pix_fmt, ctx.profile)  # type: ignore[attr-defined]
    return hashlib.sha256(repr(fields).encode() + b"|" + bytes(ctx.extradata or b"")).hexdigest()


def reorder_delay(decode_order_pts: list[int]) -> int:
    """The most packets any packet is decoded ahead of its display rank (0 without B-frames)."""
    rank = {pts: i for i, pts in enumerate(sorted(decode_order_pts))}
    return max((k - rank[pts] for k, pts in enumerate(decode_order_pts)), default=0)


def check_segment_file(path: Path, index: int, expected: int) -> tuple[int, str]:
    """The written file holds `expected` frames, and its parameter sets and every keyframe decode. Returns its
    reorder delay and stream header (see SegmentResult), read on the way.

    The encoder or the disk can lose what it was given (a dropped frame, a short write, a broken header): caught
    here, before the rename, and a retry may well succeed (TransientError), where the input itself was fine.
    Only keyframes are decoded: a full decode cost about 17 % of a 720p segment's time here, and would catch no
    more: FFmpeg's H.264 decoder conceals damaged slices (even with err_detect=explode) instead of failing.
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            header = stream_header(stream.codec_context)  # as finalize's packet copy takes it: before any decoding
            stream.codec_context.skip_frame = "NONKEY"
            packets = keyframes = decoded = 0
            order: list[int] = []
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                packets += 1
                order.append(packet.pts if packet.pts is not None else -1)
                keyframes += packet.is_keyframe
                decoded += len(stream.decode(packet))
            decoded += len(stream.decode(None))
    except (av.error.FFmpegError, IndexError) as exc:
        raise TransientError(f"segment {index}: the encoded file does not decode ({exc}); it was not kept") from exc
    if packets != expected or keyframes == 0 or decoded != keyframes:
        raise TransientError(
            f"segment {index}: the encoded file holds {packets} frames ({decoded} of its {keyframes} keyframes "
            f"decode), {expected} were encoded; it was not kept"
        )
    return reorder_delay(order), header
