"""`videojob run`, `videojob demo`, `videojob probe`: the pipeline on this machine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from videojob.common.jobmodel import JobConfig

from .jobopts import add_job_options, count_or_auto, job_sections


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
    add_job_options(p, {"--model": "local YOLO weights (.pt); never downloaded"})
    p.add_argument(
        "--workers",
        type=workers_arg,
        default=None,
        help="worker processes, or auto (the default): one per two cores, at most one per segment",
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


def workers_arg(text: str) -> int | None:
    # 0 used to be accepted and quietly meant one worker; a count that cannot be meant is refused instead.
    return count_or_auto(text)


def build_config(args: argparse.Namespace) -> Any:
    """JobConfig from the shared job options (unset ones: the model's defaults)."""
    config = JobConfig.model_validate(job_sections(args))
    if args.segments is None:
        # At least one segment per worker, so that none of them idles; auto workers: one per two cores.
        from videojob.pipeline.runner import auto_workers

        seg = config.segmentation
        wanted = args.workers or auto_workers()
        config.segmentation = seg.model_copy(update={"min_segments": min(wanted, seg.max_segments)})
    return config


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
