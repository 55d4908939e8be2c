"""`videojob run`, `videojob demo`, `videojob probe`: the pipeline on this machine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    run = sub.add_parser("run", help="process a video on this machine with a pool of worker processes")
    run.add_argument("input", type=media_arg, help="the video to process (never changed): a file or s3://BUCKET/KEY")
    run.add_argument(
        "-o",
        "--output",
        type=media_arg,
        required=True,
        help="where to write the result (.mp4, .mkv, .mov): a file or s3://BUCKET/KEY",
    )
    _add_job_options(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="generate a sample clip with audio and blur its logo and moving face")
    demo.add_argument(
        "--output", type=Path, default=Path("out/demo.mp4"), help="the result; the sample clip goes beside it"
    )
    demo.add_argument("--workers", type=workers_arg, default=2, help="worker processes, or auto")
    demo.set_defaults(func=cmd_demo)

    probe = sub.add_parser("probe", help="print what a video is, as JSON")
    probe.add_argument("input", type=media_arg, help="the video to describe: a file or s3://BUCKET/KEY")
    probe.add_argument("--frames", action="store_true", help="include every frame's timestamp")
    probe.set_defaults(func=cmd_probe)


def _add_job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--op",
        choices=["blur", "pixelate", "fill", "inpaint", "none"],
        default="blur",
        help="what happens to the regions (default blur)",
    )
    p.add_argument(
        "--detector",
        choices=["yolo", "template", "static", "none"],
        default=None,
        help="default: static when --region is given, template with --template, yolo with --model",
    )
    p.add_argument("--model", help="local YOLO weights (.pt); never downloaded")
    p.add_argument("--classes", type=class_ids, default=[0], help="YOLO class ids, comma separated (default 0: person)")
    p.add_argument("--confidence", type=float, default=0.25, help="YOLO detections below this score are dropped")
    p.add_argument("--template", help="image to find, for --detector template")
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="X,Y,W,H",
        help="fixed region in normalized coordinates (repeatable)",
    )
    p.add_argument(
        "--device",
        choices=["cpu", "auto", "cuda"],
        default="auto",
        help="where region operations run: cpu (OpenCV), cuda (batched torch), auto (cuda when there is one)",
    )
    p.add_argument("--sample-every", type=int, default=5, help="detect on every k-th frame when planning")
    p.add_argument("--dense", action="store_true", help="detect on every frame inside the segments")
    p.add_argument(
        "--padding", type=float, default=0.1, help="grow each region by this fraction of its size (default 0.1)"
    )
    p.add_argument(
        "--workers",
        type=workers_arg,
        default=None,
        help="worker processes, or auto (the default): one per two cores, at most one per segment",
    )
    p.add_argument("--segments", type=count_or_auto, default=None, help="number of segments, or auto (the default)")
    p.add_argument("--codec", choices=["h264", "hevc"], default="h264", help="output codec (default h264)")
    p.add_argument(
        "--encoder",
        choices=["auto", "nvenc", "software"],
        default="auto",
        help="auto: NVENC when an NVIDIA GPU can encode here, else software (x264/x265)",
    )
    p.add_argument("--quality", type=int, default=18, help="CRF (software) or CQ (NVENC)")
    p.add_argument("--preset", default="veryfast", help="encoder preset (x264/x265 names; mapped for NVENC)")
    p.add_argument(
        "--threads", type=int, default=0, help="encoder threads per worker (default: the cores shared among workers)"
    )
    p.add_argument(
        "--hwaccel",
        choices=["auto", "cuda", "none"],
        default="auto",
        help="segment decoding: cuda (NVDEC), none (software), auto (NVDEC when a CUDA device can be opened)",
    )
    p.add_argument(
        "--encode-stage",
        choices=["segment", "finalize"],
        default="segment",
        help="segment: each segment encodes its part (default); finalize: one encode of the whole output at the end",
    )
    p.add_argument("--workdir", type=Path, help="keep intermediate files here; a rerun with the same one resumes")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temporary working directory afterwards")


def media_arg(text: str) -> Any:
    """A file, or an object as `s3://BUCKET/KEY` (endpoint, region and credentials from the AWS_* variables)."""
    from videojob.pipeline.errors import VideoJobError
    from videojob.pipeline.objectstore import as_media

    try:
        return as_media(text)
    except VideoJobError as exc:  # argparse makes an ArgumentTypeError a one-line usage error
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_or_auto(text: str) -> int | None:
    """A positive count, or None for `auto`. argparse turns the ValueError into a one-line usage error."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or auto, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or auto, got {text!r}")
    return value


def workers_arg(text: str) -> int | None:
    # 0 used to be accepted and quietly meant one worker; a count that cannot be meant is refused instead.
    return count_or_auto(text)


def class_ids(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YOLO class ids as comma-separated numbers (0 is person), got {text!r}"
        ) from None


def build_config(args: argparse.Namespace) -> Any:
    from videojob.pipeline.config import DecodeConfig, EncodeConfig, JobConfig, OperationConfig, SegmentationConfig
    from videojob.pipeline.detect import DetectorConfig, NormRegion

    kind = args.detector or (
        "static" if args.region else "template" if args.template else "yolo" if args.model else "none"
    )
    detector = DetectorConfig(
        kind=kind,
        model=args.model,
        classes=args.classes,
        confidence=args.confidence,
        template=args.template,
        regions=[NormRegion.parse(r) for r in args.region],
        sample_every=args.sample_every,
        dense=args.dense,
        padding=args.padding,
    )
    seg = SegmentationConfig(segments=args.segments)
    if args.segments is None:
        # At least one segment per worker, so that none of them idles; auto workers: one per two cores.
        from videojob.pipeline.runner import auto_workers

        wanted = args.workers or auto_workers()
        seg = seg.model_copy(update={"min_segments": min(wanted, seg.max_segments)})
    return JobConfig(
        detector=detector,
        operation=OperationConfig(kind=args.op, device=args.device),
        segmentation=seg,
        encode=EncodeConfig(
            codec=args.codec,
            encoder=args.encoder,
            quality=args.quality,
            preset=args.preset,
            stage=args.encode_stage,
            threads=args.threads,
        ),
        decode=DecodeConfig(hwaccel=args.hwaccel),
    )


def _fail(message: str) -> int:
    print(f"videojob: error: {message}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from videojob.pipeline.errors import VideoJobError

    from .progress import ProgressDisplay

    try:
        config = build_config(args)
    except (ValidationError, ValueError) as exc:
        return _fail(_one_line(exc))
    from videojob.pipeline.runner import run_local

    started = time.monotonic()
    try:
        with ProgressDisplay() as display:
            report = run_local(
                args.input,
                args.output,
                config,
                workers=args.workers,
                workdir=args.workdir,
                progress=display.update,
                keep_workdir=args.keep_workdir,
            )
    except VideoJobError as exc:
        return _fail(str(exc))
    seconds = time.monotonic() - started
    print(
        f"wrote {report.output}: {report.frames_out} frames, {report.bytes} bytes, {report.segments} segments, "
        f"{report.frames_out / seconds:.1f} fps overall ({report.encoder})"
    )
    if report.note:
        print(f"note: {report.note}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from videojob.pipeline.sample import LOGO_REGION, make_sample, write_face_template

    args.output.parent.mkdir(parents=True, exist_ok=True)
    sample = args.output.with_name(args.output.stem + "-input.mp4")
    face = args.output.with_name(args.output.stem + "-face.png")
    make_sample(sample)
    write_face_template(face)
    print(f"generated {sample} (5 s, 640x360, 25 fps, AAC audio) and {face}")
    region = ",".join(str(v) for v in LOGO_REGION)
    # The moving face is found by template matching on sampled frames (tracked and interpolated in between);
    # the burned-in logo is a fixed region.
    run_args = build_parser_for_demo().parse_args(
        [
            str(sample),
            "-o",
            str(args.output),
            "--op",
            "blur",
            "--detector",
            "template",
            "--template",
            str(face),
            "--region",
            region,
            "--workers",
            "auto" if args.workers is None else str(args.workers),
            "--segments",
            "4",
        ]
    )
    return cmd_run(run_args)


def build_parser_for_demo() -> argparse.ArgumentParser:
    from .main import OneLineParser

    p = OneLineParser(prog="videojob run")
    p.add_argument("input", type=Path, help="the video to process")
    p.add_argument("-o", "--output", type=Path, required=True, help="where to write the result")
    _add_job_options(p)
    return p


def cmd_probe(args: argparse.Namespace) -> int:
    from videojob.pipeline.errors import VideoJobError
    from videojob.pipeline.probe import probe

    try:
        info = probe(args.input)
    except VideoJobError as exc:
        return _fail(str(exc))
    data = info.model_dump()
    # The frame index (plan.json keeps only its digest) is printed as lists: keyframes always, timestamps on ask.
    data["keyframes"] = info.keyframes.tolist()
    if args.frames:
        data["pts"] = info.pts.tolist()
    print(json.dumps(data, indent=2))
    return 0


def _one_line(exc: Exception) -> str:
    from .messages import validation_line

    return validation_line(exc)
