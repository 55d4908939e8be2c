"""The job options `videojob run` and `videojob submit` share: defined once, with the job model's defaults.

Each option maps onto one field of videojob.common.jobmodel.JobConfig; its argparse default is None (unset), so
that both commands leave unset fields to the model (run) or to the CRD's defaults (submit), which are the same
model's. The help text shows that default.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel
from videojob.common.jobmodel import JobConfig, NormRegion


def class_ids(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YOLO class ids as comma-separated numbers (0 is person), got {text!r}"
        ) from None


def count_or_auto(text: str) -> int | None:
    """A positive count, or None for `auto`. argparse turns the error into a one-line usage error."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or auto, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or auto, got {text!r}")
    return value


@dataclass(frozen=True)
class JobOption:
    flag: str
    section: str  # a JobConfig field: detector, operation, segmentation, encode, decode
    field: str
    help: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def default(self) -> Any:
        model = JobConfig.model_fields[self.section].annotation
        assert isinstance(model, type)
        return model.model_fields[self.field].get_default(call_default_factory=True)  # type: ignore[attr-defined]


def _choices(section: str, field: str) -> tuple[tuple[str, Any], ...]:
    model = JobConfig.model_fields[section].annotation
    assert isinstance(model, type)
    return (("choices", list(model.model_fields[field].annotation.__args__)),)  # type: ignore[attr-defined]


OPTIONS = (
    JobOption("--op", "operation", "kind", "what happens to the regions", _choices("operation", "kind")),
    JobOption(
        "--device",
        "operation",
        "device",
        "where region operations run: cpu (OpenCV), cuda (batched torch), auto (cuda when there is one)",
        _choices("operation", "device"),
    ),
    JobOption(
        "--detector",
        "detector",
        "kind",
        "what finds the regions; unset: static with --region, template with --template, yolo with --model, else none",
        _choices("detector", "kind"),
    ),
    JobOption("--model", "detector", "model", "YOLO weights (.pt), never downloaded"),
    JobOption(
        "--classes", "detector", "classes", "YOLO class ids, comma separated (0: person)", (("type", class_ids),)
    ),
    JobOption(
        "--confidence", "detector", "confidence", "YOLO detections below this score are dropped", (("type", float),)
    ),
    JobOption("--template", "detector", "template", "image to find, for --detector template"),
    JobOption(
        "--region",
        "detector",
        "regions",
        "fixed region in normalized coordinates (repeatable)",
        (("action", "append"), ("metavar", "X,Y,W,H")),
    ),
    JobOption("--sample-every", "detector", "sample_every", "detect on every k-th frame", (("type", int),)),
    JobOption("--dense", "detector", "dense", "detect on every frame inside the segments", (("action", "store_true"),)),
    JobOption("--padding", "detector", "padding", "grow each region by this fraction of its size", (("type", float),)),
    JobOption(
        "--segments",
        "segmentation",
        "segments",
        "number of segments, or auto (planned from the video)",
        (("type", count_or_auto),),
    ),
    JobOption("--codec", "encode", "codec", "output codec", _choices("encode", "codec")),
    JobOption(
        "--encoder",
        "encode",
        "encoder",
        "auto: NVENC when an NVIDIA GPU can encode, else software (x264/x265)",
        _choices("encode", "encoder"),
    ),
    JobOption("--quality", "encode", "quality", "CRF (software) or CQ (NVENC), 0..51", (("type", int),)),
    JobOption("--preset", "encode", "preset", "encoder preset (x264/x265 names; mapped for NVENC)"),
    JobOption("--threads", "encode", "threads", "encoder threads (0: the encoder decides)", (("type", int),)),
    JobOption(
        "--encode-stage",
        "encode",
        "stage",
        "segment: each segment encodes its part; finalize: one encode of the whole output at the end",
        _choices("encode", "stage"),
    ),
    JobOption(
        "--hwaccel",
        "decode",
        "hwaccel",
        "segment decoding: cuda (NVDEC), none (software), auto (NVDEC when a CUDA device can be opened)",
        _choices("decode", "hwaccel"),
    ),
)


def add_job_options(p: argparse.ArgumentParser, helps: dict[str, str] | None = None) -> None:
    """The shared options; `helps` replaces a help text where the command reads it differently (a path on the
    claim rather than here)."""
    for opt in OPTIONS:
        default = opt.default()
        shown = "" if default in (None, False) else f" (default: {_show(default)})"
        text = (helps or {}).get(opt.flag, opt.help)
        p.add_argument(opt.flag, dest=opt.dest, default=None, help=text + shown, **dict(opt.kwargs))


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def job_sections(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The given options as JobConfig input (field names), unset ones left out; the detector kind inferred as the
    help of --detector says. A bad --region raises ValueError (a pydantic ValidationError)."""
    sections: dict[str, dict[str, Any]] = {}
    for opt in OPTIONS:
        value = getattr(args, opt.dest, None)
        if value is None or value is False:
            continue
        if opt.field == "regions":  # checked here, not by argparse: each command reports a bad job its own way
            value = [NormRegion.parse(r) for r in value]
        sections.setdefault(opt.section, {})[opt.field] = value
    detector = sections.setdefault("detector", {})
    if "kind" not in detector:
        detector["kind"] = (
            "static"
            if detector.get("regions")
            else "template"
            if detector.get("template")
            else "yolo"
            if detector.get("model")
            else "none"
        )
    return sections


def camel_sections(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """job_sections() as the VideoJob spec spells them (camelCase; regions as left/top/width/height)."""
    out: dict[str, dict[str, Any]] = {}
    for section, fields in sections.items():
        spelled = {}
        for name, value in fields.items():
            if name == "regions":
                value = [r.model_dump(by_alias=True) for r in value]
            spelled[to_camel(name)] = value
        out[section] = spelled
    return out
