"""Device resolution and the video-engine report, on whatever this machine has."""

from __future__ import annotations

import pytest
import torch
from videojob.pipeline.config import OperationConfig
from videojob.pipeline.errors import BadInputError
from videojob.pipeline.gpu.device import batched_device, describe, hwaccel_for, resolve_device


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert hwaccel_for(torch.device("cpu")) is None  # software decode for CPU jobs, always


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
        return
    with pytest.raises(BadInputError, match="no NVIDIA GPU is visible to this process"):
        resolve_device("cuda")


def test_report_says_what_falls_back() -> None:
    report = describe("auto").to_dict()
    assert set(report["nvenc"]) == {"h264", "hevc"}
    assert report["cuda"] == torch.cuda.is_available()
    if not report["cuda"]:
        assert report["gpu"] is None and report["nvdec"] is False
        assert any("no NVIDIA GPU visible" in n for n in report["notes"])
    if not any(report["nvenc"].values()):
        assert any("NVENC unavailable" in n for n in report["notes"])


def test_which_segments_take_the_batched_path() -> None:
    cuda = torch.cuda.is_available()
    assert batched_device(OperationConfig(device="cpu")) is None
    assert batched_device(OperationConfig(kind="none", device="auto")) is None
    auto = batched_device(OperationConfig(device="auto"))
    assert (auto is not None and auto.type == "cuda") if cuda else auto is None
    # Only torch runs a TorchScript model, so it takes the batched path even on the CPU.
    scripted = batched_device(OperationConfig(device="cpu", torchscript="/models/m.pt"))
    assert scripted is not None and scripted.type == "cpu"


def test_auto_without_torch_keeps_the_opencv_path_on_a_gpu_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slim worker image has no torch. On a GPU node (simulated: this machine may have none) `auto` must not
    try to import it; `cuda`, asked for explicitly, still fails clearly there."""
    import importlib.util

    from videojob.pipeline.gpu import device

    real = importlib.util.find_spec
    monkeypatch.setattr(device, "no_cuda_device", lambda: False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))

    def no_torch(requested: str = "auto") -> None:
        raise ModuleNotFoundError("No module named 'torch'")

    monkeypatch.setattr(device, "resolve_device", no_torch)  # as `import torch` fails in that image
    assert batched_device(OperationConfig(device="auto")) is None
