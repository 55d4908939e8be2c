"""Finalize: verify the segments, join them by packet copy (or one encode), add the source's audio, write atomically."""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
from av.stream import Discard
from pydantic import BaseModel

from .atomic import atomic_path, write_text_atomic
from .encode import NVENC, add_video_stream, choose_encoder
from .encoderpin import read_pin
from .errors import BadInputError, TransientError
from .guard import refuse_output_over_input
from .objectstore import Media, ObjectURL, as_media, av_input, upload
from .pixfmt import software_needed
from .plan import Segment, SegmentPlan
from .probe import ProbeInfo
from .readonce import CheckedReader
from .segment import SegmentResult, segment_paths, trusted_result

ProgressFn = Callable[[int, int], None]


class FinalReport(BaseModel):
    output: str
    bytes: int
    frames_in: int
    frames_out: int
    duration: float
    audio_streams: int
    subtitle_streams: int
    audio_offset: float | None  # output audio start minus video start, seconds; the source's is kept
    encoder: str
    hardware_encoder: bool
    decoder: str = "software"  # "nvdec", "software", or "nvdec+software" when segments differ
    hardware_decoder: bool = False  # every segment was decoded by NVDEC
    note: str
    segments: int
    seconds: dict[str, float]


def verified_segments(workdir: Path, plan: SegmentPlan) -> list[SegmentResult]:
    """Every segment's result, trusted for this plan; each file's checksum is checked as it is copied (_Segment)."""
    results = []
    digest = plan.digest(workdir)
    encoder = plan.encoder or read_pin(workdir)
    for seg in plan.segments:
        result, why = trusted_result(workdir, seg, digest, encoder, hash_media=False)
        if result is None:
            raise BadInputError(f"segment {seg.index} {why}; rerun it")
        if result.frames != seg.frames:
            raise BadInputError(f"segment {seg.index} has {result.frames} frames, the plan says {seg.frames}")
        results.append(result)
    return results


def check_parameter_sets(workdir: Path, plan: SegmentPlan, results: list[SegmentResult]) -> None:
    """Refuse to join segments whose stream headers differ: the output carries one header (segment 0's), and a
    decoder would read every other segment's slices with the wrong SPS/PPS. The odd ones are named, judged
    against the header most segments share, and their results removed: their digests match, so resume would
    otherwise trust them again and every rerun would end here. The headers are those the segments recorded
    (segment.stream_header): no file is opened here, and the copy checks each file's checksum."""
    headers = [r.header for r in results]
    counts = Counter(headers)
    common = max(counts, key=lambda h: (counts[h], -headers.index(h)))
    odd = [i for i, h in enumerate(headers) if h != common]
    if odd:
        for i in odd:
            segment_paths(workdir, i)[1].unlink(missing_ok=True)
        same = [i for i, h in enumerate(headers) if h == common]
        raise BadInputError(
            f"{_segments(odd)} {'was' if len(odd) == 1 else 'were'} encoded with other codec parameter sets "
            f"(SPS/PPS: other encoder settings) than {_segments(same)}; joined they would not decode: "
            "their results were removed, a rerun with the same work directory makes them again"
        )


def _segments(indexes: list[int]) -> str:
    shown = ", ".join(str(i) for i in indexes[:8]) + (f" and {len(indexes) - 8} more" if len(indexes) > 8 else "")
    return f"segment {shown}" if len(indexes) == 1 else f"segments {shown}"


def _segment_shift(plan: SegmentPlan, seg: Segment, time_base: Fraction, origin: Fraction) -> int:
    """Segments start at zero: the ticks (of the segment file's `time_base`) that move one to its place on the
    output's timeline, which starts at `origin` seconds of the source's (see output_origin)."""
    info = plan.probe
    return round((int(info.pts[seg.start]) * Fraction(*info.time_base) - origin) / time_base)


def output_origin(source: av.container.InputContainer, copied: Iterable[int], info: ProbeInfo) -> Fraction:
    """Where on the source's timeline the output starts (seconds): at its earliest stream, as FFmpeg's command
    line does. Audio that plays before the first picture (an AVI's or MPEG-TS's) keeps its lead over the video
    instead of being cut by the output's edit list; a source that starts late still starts the output at zero."""
    origin = info.start_pts * Fraction(*info.time_base)
    for index in copied:
        stream = source.streams[index]
        if stream.start_time is not None and stream.time_base is not None:
            origin = min(origin, stream.start_time * stream.time_base)
    return origin


@contextmanager
def _segment_video(
    workdir: Path, plan: SegmentPlan, seg: Segment, sha256: str, origin: Fraction
) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream, int]]:
    """A segment file open for reading, read once from disk: its container, video stream and `_segment_shift`.
    Its checksum is taken as the demuxer reads it and compared with the recorded one when the caller is done."""
    media, _ = segment_paths(workdir, seg.index)
    with CheckedReader(media) as reader, av.open(reader, mode="r") as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        yield container, stream, _segment_shift(plan, seg, stream.time_base, origin)
        if reader.digest() != sha256:
            raise BadInputError(f"segment {seg.index} does not match its recorded checksum; rerun it")


def with_joined_dts(packets: Iterable[av.Packet], delay: int) -> Iterator[av.Packet]:
    """The packets of the joined stream, in decode order, each given its decode timestamp.

    Each segment's encoder derived its DTS from its own first frame intervals (x264 shifts them back by its
    reorder delay measured in the segment's first frames), so with an irregular frame rate a segment that starts
    after a pause puts its first DTS before the previous segment's last: the muxer refuses the stream. The joined
    stream gets one DTS sequence instead: the k-th smallest presentation time, `delay` packets late, where `delay`
    is the largest reorder depth of any segment. Then DTS rise strictly and never pass a packet's PTS (a packet
    decoded k-th is never shown before the (k - delay)-th frame), whatever the intervals; PTS are not touched.

    Streamed: with `delay` known beforehand (each segment recorded its own), every frame of display rank r has been
    read by the (r + delay)-th packet, so the k-th packet's DTS is the smallest PTS still waiting in a heap. Only
    the first `delay` + 2 packets wait, for the first frame interval.
    """
    waiting: list[int] = []  # PTS read and not yet given out as a DTS
    head: list[av.Packet] | None = []  # the first packets, until the first frame interval is known
    for packet in packets:
        assert packet.pts is not None  # our own segment files always carry timestamps
        heapq.heappush(waiting, packet.pts)
        if head is not None:
            head.append(packet)
            if len(head) == delay + 2:
                yield from _lead_in(head, waiting, delay)
                head = None
            continue
        packet.dts = heapq.heappop(waiting)
        yield packet
    if head:
        yield from _lead_in(head, waiting, delay)


def _lead_in(head: list[av.Packet], waiting: list[int], delay: int) -> Iterator[av.Packet]:
    """The first packets: `delay` of them decode before the first frame is shown, one frame interval apart."""
    first = heapq.nsmallest(2, waiting)
    step = first[1] - first[0] if len(first) > 1 else 1
    for k, packet in enumerate(head):
        packet.dts = first[0] - (delay - k) * step if k < delay else heapq.heappop(waiting)
        yield packet


def _segment_packets(
    workdir: Path, plan: SegmentPlan, results: list[SegmentResult], origin: Fraction
) -> Iterator[av.Packet]:
    """Every segment's video packets in order, moved to their place on the output's timeline."""
    for seg, result in zip(plan.segments, results, strict=True):
        with _segment_video(workdir, plan, seg, result.sha256, origin) as (container, stream, shift):
            count = 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                count += 1
                assert packet.pts is not None  # our own segment files always carry timestamps
                packet.pts += shift
                yield packet
            if count != seg.frames:
                raise BadInputError(f"segment {seg.index} holds {count} packets, the plan says {seg.frames}")


def _video_packets(
    workdir: Path,
    plan: SegmentPlan,
    results: list[SegmentResult],
    out_stream: av.video.stream.VideoStream,
    origin: Fraction,
) -> Iterator[tuple[float, av.Packet]]:
    delay = max(r.reorder_delay for r in results)
    for packet in with_joined_dts(_segment_packets(workdir, plan, results, origin), delay):
        assert packet.dts is not None
        key = float(packet.dts * packet.time_base)
        packet.stream = out_stream
        yield key, packet


def _reencoded_packets(
    workdir: Path,
    plan: SegmentPlan,
    results: list[SegmentResult],
    out_stream: av.video.stream.VideoStream,
    origin: Fraction,
) -> Iterator[tuple[float, av.Packet]]:
    """stage=finalize: decode the lossless intermediates in order and encode once."""
    for seg, result in zip(plan.segments, results, strict=True):
        with _segment_video(workdir, plan, seg, result.sha256, origin) as (container, stream, shift):
            for frame in container.decode(stream):
                assert frame.pts is not None
                frame.pts += shift
                frame.pict_type = av.video.frame.PictureType.NONE
                for packet in out_stream.encode(frame):
                    yield _when(packet), packet
    for packet in out_stream.encode(None):
        yield _when(packet), packet


def _when(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    assert ts is not None and packet.time_base is not None
    return float(ts * packet.time_base)


def _source_packets(source: av.container.InputContainer, streams: dict[int, av.stream.Stream], origin: Fraction):
    """Audio and subtitle packets of the source, moved so that the output starts at time zero (output_origin)."""
    if not streams:
        return
    for s in source.streams:
        if s.index not in streams:
            # The video comes from the segments: MP4/MOV demuxers skip a discarded stream's samples, so where the
            # audio lies apart from it (an object input) its bytes are not fetched. Tightly interleaved files (audio
            # every few frames) are still read whole: each block holds both.
            s.discard = Discard.all
    for packet in source.demux([source.streams[i] for i in streams]):
        if packet.size == 0 or packet.pts is None:
            continue
        shift = round(origin / packet.time_base)
        packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        key = float((packet.dts if packet.dts is not None else packet.pts) * packet.time_base)
        packet.stream = streams[packet.stream.index]
        yield key, packet


def finalize(
    input_path: Path | str | ObjectURL,
    workdir: Path | str,
    output_path: Path | str | ObjectURL,
    on_progress: ProgressFn | None = None,
) -> FinalReport:
    """The output from the segments. An object output (`s3://`) is written and checked in the work directory, then
    uploaded: the upload, complete or aborted, is its atomic publish."""
    source, workdir, target = as_media(input_path), Path(workdir), as_media(output_path)
    # The last moment to save the source: the rename (or upload) below would replace it.
    refuse_output_over_input(source, target)
    if isinstance(target, Path):
        return _finalize_file(source, workdir, target, on_progress)
    scratch = workdir / f"output{target.suffix}"
    try:
        report = _finalize_file(source, workdir, scratch, on_progress)
        upload(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)  # a second copy of the output, on the scratch volume
    report = report.model_copy(update={"output": str(target)})
    write_text_atomic(workdir / "report.json", report.model_dump_json(indent=2))
    return report


def _finalize_file(input_path: Media, workdir: Path, output_path: Path, on_progress: ProgressFn | None) -> FinalReport:
    started = time.monotonic()
    plan = SegmentPlan.read(workdir)
    results = verified_segments(workdir, plan)
    if plan.config.encode.stage == "segment":  # packets are copied: one header must fit them all
        check_parameter_sets(workdir, plan, results)
    if on_progress is not None:
        on_progress(0, plan.probe.frames)
    with atomic_path(output_path) as tmp:
        encoder, frames_out = write_output(input_path, workdir, plan, results, tmp, output_path, on_progress)
        # Before the rename: a file under the output's name is always whole and checked.
        check_output_file(tmp, frames_out, plan.probe.frames)
    report = make_report(plan, results, output_path, encoder, frames_out, time.monotonic() - started)
    write_text_atomic(workdir / "report.json", report.model_dump_json(indent=2))
    return report


def write_output(
    input_path: Media,
    workdir: Path,
    plan: SegmentPlan,
    results: list[SegmentResult],
    tmp: Path,
    output_path: Path,
    on_progress: ProgressFn | None,
) -> tuple[str, int]:
    """Join the segments (or encode them once) with the source's audio and subtitles into `tmp`; returns the
    encoder of the video and the number of video frames written."""
    info = plan.probe
    reencode = plan.config.encode.stage == "finalize"
    frames_out = 0
    with (
        av.open(av_input(input_path), "r") as source,
        av.open(str(tmp), "w", options=_muxer_options(output_path, info)) as out,
    ):
        encoder, vstream = _video_stream(out, workdir, plan, results)
        # A rotated source was turned upright while decoding: the output needs no display matrix.
        copied = _copy_streams(source, out, input_path, output_path)
        origin = output_origin(source, copied, info)
        _keep_descriptions(source, out, vstream, copied, origin)
        packets = _reencoded_packets if reencode else _video_packets
        video = packets(workdir, plan, results, vstream, origin)
        others = _source_packets(source, copied, origin)
        for _, packet in heapq.merge(video, others, key=lambda item: item[0]):
            if packet.stream is vstream:
                frames_out += 1
                if on_progress is not None and frames_out % 50 == 0:
                    on_progress(frames_out, info.frames)
            out.mux(packet)
    return encoder, frames_out


def _video_stream(
    out: av.container.OutputContainer, workdir: Path, plan: SegmentPlan, results: list[SegmentResult]
) -> tuple[str, av.video.stream.VideoStream]:
    """The output's video stream and its encoder: one encode (stage=finalize), or segment 0's header (copy)."""
    info = plan.probe
    if plan.config.encode.stage == "finalize":
        encoder = choose_encoder(plan.config.encode, software_needed(info.pix_fmt, info.width, info.height))
        vstream = add_video_stream(
            out,
            encoder,
            plan.config.encode,
            info.width,
            info.height,
            Fraction(*info.time_base),
            Fraction(*info.rate),
            color=info.color,
            source_pix_fmt=info.pix_fmt,
            sample_aspect=info.sample_aspect,
            hdr=info.hdr,
        )
        return encoder, vstream
    first, _ = segment_paths(workdir, 0)
    with av.open(str(first)) as seg0:
        vstream = out.add_stream_from_template(seg0.streams.video[0])
    ctx = vstream.codec_context
    if info.sample_aspect is not None:
        ctx.sample_aspect_ratio = Fraction(*info.sample_aspect)
    if info.color.range and info.pix_fmt != "yuvj420p":
        # x264 leaves the range out of its VUI when no primaries/matrix are given: the container says it.
        ctx.color_range = info.color.range
    return results[0].encoder, vstream


# Written by the muxer itself, or no longer true of the output (its encoder, length, brands, a display matrix).
_NOT_COPIED = {"encoder", "duration", "major_brand", "minor_version", "compatible_brands", "rotate", "creation_time"}


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in _NOT_COPIED}


def _muxer_options(output_path: Path, info: ProbeInfo) -> dict[str, str]:
    """MP4 writes its 'colr' box only when primaries, transfer and matrix are all known: a range alone (a `tv`
    HEVC, VP9 or AV1 source, often) would be lost, so it is asked for when the source states a range."""
    if output_path.suffix.lower() in (".mp4", ".m4v", ".mov") and info.color.range:
        return {"movflags": "write_colr"}
    return {}


def _keep_descriptions(
    source: av.container.InputContainer,
    out: av.container.OutputContainer,
    vstream: av.video.stream.VideoStream,
    copied: dict[int, av.stream.Stream],
    origin: Fraction,
) -> None:
    """What the source says about itself goes to the output: the container's tags and chapters, and every stream's
    tags (language, title) and disposition (default, forced, comment...). Chapters move with the timeline, which
    finalize starts at `origin`."""
    out.metadata.update(_tags(source.metadata))
    src_video = source.streams.video[0]
    vstream.metadata.update(_tags(src_video.metadata))
    vstream.disposition = src_video.disposition
    for index, stream in copied.items():
        stream.metadata.update(_tags(source.streams[index].metadata))
        stream.disposition = source.streams[index].disposition
    chapters = source.chapters()
    if chapters:
        for chapter in chapters:
            shift = round(origin / (chapter["time_base"] or Fraction(1, 1_000_000_000)))
            chapter["start"], chapter["end"] = max(0, chapter["start"] - shift), max(0, chapter["end"] - shift)
        out.set_chapters(chapters)


def _copy_streams(
    source: av.container.InputContainer, out: av.container.OutputContainer, input_path: Media, output_path: Path
) -> dict[int, av.stream.Stream]:
    """Output streams for the source's audio and subtitles, by source stream index (copied, not re-encoded)."""
    copied: dict[int, av.stream.Stream] = {}
    for s in list(source.streams.audio) + list(source.streams.subtitles):
        try:
            copied[s.index] = out.add_stream_from_template(s)
        except (ValueError, av.error.FFmpegError) as exc:
            raise BadInputError(
                f"{input_path}: stream {s.index} ({s.codec_context.name}) cannot be copied into "
                f"{output_path.suffix or 'this container'}: {exc}"
            ) from exc
    return copied


def check_output_file(path: Path, muxed: int, expected: int) -> None:
    """The written output holds every frame of the source: counted as muxed, then as the file holds them."""
    if muxed != expected:
        raise TransientError(f"finalize wrote {muxed} frames, the source has {expected}; the output was not kept")
    with av.open(str(path)) as container:
        held = sum(1 for p in container.demux(container.streams.video[0]) if p.size > 0)
    if held != expected:
        raise TransientError(f"the output holds {held} frames, the source has {expected}; the output was not kept")


def make_report(
    plan: SegmentPlan, results: list[SegmentResult], output_path: Path, encoder: str, frames_out: int, seconds: float
) -> FinalReport:
    info = plan.probe
    hardware = encoder in NVENC.values()
    decoders = sorted({r.decoder for r in results}, key=lambda d: d != "nvdec")
    notes = [] if hardware else [f"no hardware encoder was usable; encoded with {encoder} on the CPU"]
    notes += sorted({r.decode_note for r in results if r.decode_note})
    return FinalReport(
        output=str(output_path),
        bytes=output_path.stat().st_size,
        frames_in=info.frames,
        frames_out=frames_out,
        duration=info.duration,
        audio_streams=len(info.audio),
        subtitle_streams=len(info.subtitles),
        audio_offset=_audio_offset(output_path),
        encoder=encoder,
        hardware_encoder=hardware,
        decoder="+".join(decoders),
        hardware_decoder=decoders == ["nvdec"],
        note="; ".join(notes),
        segments=len(results),
        seconds={
            "detect": plan.detect_seconds,
            "segments": round(sum(r.seconds for r in results), 3),
            "finalize": round(seconds, 3),
        },
    )


def _audio_offset(path: Path) -> float | None:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        v, a = c.streams.video[0], c.streams.audio[0]
        vs = float((v.start_time or 0) * v.time_base) if v.time_base else 0.0
        as_ = float((a.start_time or 0) * a.time_base) if a.time_base else 0.0
        return round(as_ - vs, 6)
