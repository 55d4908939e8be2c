"""Which torch device a job runs on, and what the GPU's video engines (NVDEC, NVENC) can do here."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from typing import Any

import av

from ..config import OperationConfig
from ..encode import NVENC, encoder_works
from ..errors import BadInputError
from ..hwdecode import cuda_decode_problem, no_cuda_device


def resolve_device(requested: str = "auto") -> Any:
    """`auto` → the first CUDA device when torch sees one, else the CPU; `cuda` without a device is a spec error."""
    import torch

    if requested == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(
            f"operation device {requested} was requested but no NVIDIA GPU is visible to this process; use "
            "device auto or cpu (videojob run --device cpu), "
            "or schedule the pod on a node with an NVIDIA GPU"
        )
    return device


def gpu_name(device: Any) -> str | None:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def nvdec_usable(codec: str = "h264") -> bool:
    """Create FFmpeg's CUDA device context for this decoder (once per process): fails without a driver or GPU."""
    return cuda_decode_problem(codec) is None


def hwaccel_for(device: Any, codec: str = "h264") -> av.codec.hwaccel.HWAccel | None:
    """Settings for av.open(..., hwaccel=...) that decode on the job's GPU, or None to decode in software.

    Frames are downloaded to system memory by FFmpeg (is_hw_owned=False): the region operation touches few
    frames, and frames without regions go to the encoder untouched, so a download per frame is the cheaper
    common case. Software fallback stays on for streams NVDEC cannot decode (e.g. 4:4:4 H.264).
    """
    if device.type != "cuda" or not nvdec_usable(codec):
        return None
    index = device.index if device.index is not None else 0
    return av.codec.hwaccel.HWAccel(device_type="cuda", device=str(index), allow_software_fallback=True)


@dataclass
class DeviceReport:
    requested: str
    device: str
    cuda: bool
    gpu: str | None
    nvdec: bool
    nvenc: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(requested: str = "auto") -> DeviceReport:
    """What this machine offers the GPU path; the notes say in words what falls back to software and why."""
    device = resolve_device(requested)
    cuda = device.type == "cuda"
    nvenc = {codec: encoder_works(name) for codec, name in NVENC.items()}
    nvdec = cuda and nvdec_usable("h264")
    notes = []
    if not cuda:
        notes.append("no NVIDIA GPU visible: region operations run on the CPU with torch")
    if not nvdec:
        notes.append("NVDEC unavailable: decoding in software (FFmpeg threads)")
    if not any(nvenc.values()):
        # H100/H200 (and A100) have NVDEC but no NVENC engine: encoding is always software there.
        notes.append("NVENC unavailable (no NVIDIA encoder on this machine/GPU): encoding with libx264/libx265")
    return DeviceReport(requested, str(device), cuda, gpu_name(device), nvdec, nvenc, notes)


def batched_device(op: OperationConfig) -> Any | None:
    """The torch device for gpu.process when a segment should take the batched path, None for the CPU path.

    `cuda` (or `auto` with a CUDA device) takes it; so does a TorchScript model, which only torch can run
    (on the CPU when that is the device). `cpu` and `auto` without CUDA keep the OpenCV path, which is faster
    on a CPU than torch is.
    """
    if op.kind == "none":
        return None
    if op.device == "cpu" and not op.torchscript:
        return None
    if op.device == "auto" and not op.torchscript and no_cuda_device():
        return None  # decided without importing torch (a second or more of every segment's start on a CPU node)
    if op.device == "auto" and not op.torchscript and importlib.util.find_spec("torch") is None:
        return None  # the slim worker image has no torch: a GPU node still runs the OpenCV path
    device = resolve_device(op.device)
    return device if device.type == "cuda" or op.torchscript else None
