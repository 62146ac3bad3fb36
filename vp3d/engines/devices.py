"""Where models run: hardware probing, thread counts, and resolving --device once.

Training and inference both resolve devices here. Nothing in this module imports torch, ONNX Runtime
or OpenVINO until a probe for that engine is called.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from vp3d.errors import Vp3dError

DEVICES = ("auto", "cpu", "cuda", "tensorrt", "npu")   # tensorrt: ONNX Runtime's TensorRT EP on the GPU


def physical_cores() -> int:
    """Physical CPU cores available to this process (hyper-threads don't help dense convolutions)."""
    try:
        cores = set()
        for cpu in os.sched_getaffinity(0):
            p = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            cores.add(((p / "physical_package_id").read_text().strip(), (p / "core_id").read_text().strip()))
        return max(1, len(cores))
    except (OSError, AttributeError):
        return max(1, (os.cpu_count() or 2) // 2)


def gpu_present() -> bool:
    """An NVIDIA GPU is visible to this process (its device nodes exist)."""
    return Path("/dev/nvidiactl").exists() and any(Path("/dev").glob("nvidia[0-9]*"))


def onnxruntime_devices() -> tuple[str, ...]:
    """Devices ONNX Runtime can use here, fastest first: 'cuda'/'tensorrt' where onnxruntime-gpu's
    execution providers are installed and a GPU is present, then 'cpu'."""
    try:
        import onnxruntime as ort
    except ImportError:
        return ()
    providers = ort.get_available_providers()
    gpu = [d for d, p in (("cuda", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider"))
           if p in providers] if gpu_present() else []
    return (*gpu, "cpu")


def torch_devices() -> tuple[str, ...]:
    """Devices torch can use here, fastest first: 'cuda' with a CUDA build and a GPU, then 'cpu'; none
    where torch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return ()
    import torch
    return ("cuda", "cpu") if torch.cuda.is_available() else ("cpu",)


def openvino_devices() -> tuple[str, ...]:
    """OpenVINO's CPU plugin, where OpenVINO is installed."""
    return ("cpu",) if importlib.util.find_spec("openvino") is not None else ()


def npu_devices() -> tuple[str, ...]:
    """The Ascend NPU, where the ais_bench tool is importable (it needs the CANN toolkit and an NPU)."""
    return ("npu",) if importlib.util.find_spec("ais_bench") is not None else ()


def resolve_device(device: str, available: tuple[str, ...], supported: tuple[str, ...], engine: str,
                   missing: str) -> str:
    """The device to run `engine` on: 'auto' is the first (fastest) of `available`; an explicit device
    must be in `supported` (what the engine can ever run on) and in `available` (what is here).
    Vp3dError otherwise: not supported says where the engine runs; not available says `missing`."""
    if device not in DEVICES:
        raise Vp3dError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device != "auto" and device not in supported:
        raise Vp3dError(f"device {device}: {engine} runs on {', '.join(supported)}, not {device}")
    if device == "auto":
        if not available:
            raise Vp3dError(f"{engine} {missing}")
        return available[0]
    if device not in available:
        raise Vp3dError(f"device {device}: {engine} {missing}; available here: {', '.join(available) or 'none'}")
    return device


def resolve_torch_device(device: str) -> str:
    """resolve_device for torch (training and the torch backend)."""
    return resolve_device(device, torch_devices(), ("cpu", "cuda"), "torch",
                          "needs a CUDA build of torch and an NVIDIA GPU for cuda")
