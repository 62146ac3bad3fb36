"""Where models run: core counts and resolving --device."""
import os

import pytest

from vp3d.engines import backends, devices
from vp3d.errors import Vp3dError


def test_physical_cores():
    assert 1 <= devices.physical_cores() <= (__import__("os").cpu_count() or 1)


def test_device_resolution_says_what_is_missing_or_unsupported(monkeypatch):
    assert backends.REGISTRY["openvino"].resolve_device("auto") == "cpu"
    monkeypatch.setattr(devices, "npu_devices", lambda: ())
    with pytest.raises(Vp3dError, match="CANN toolkit"):
        backends.REGISTRY["ais_bench"].resolve_device("auto")
    monkeypatch.setattr(devices, "npu_devices", lambda: ("npu",))
    assert backends.REGISTRY["ais_bench"].resolve_device("auto") == "npu"
    if not [d for d in devices.onnxruntime_devices() if d != "cpu"]:
        assert backends.REGISTRY["onnxruntime"].resolve_device("auto") == "cpu"
        with pytest.raises(Vp3dError, match="device cuda: the onnxruntime backend needs onnxruntime .*onnxruntime-gpu"):
            backends.REGISTRY["onnxruntime"].resolve_device("cuda")
    with pytest.raises(Vp3dError, match="device cuda: the openvino backend runs on cpu, not cuda"):
        backends.REGISTRY["openvino"].resolve_device("cuda")
    # an NPU is ais_bench's (.om models), never onnxruntime's: no talk of GPUs
    with pytest.raises(Vp3dError, match="device npu: the onnxruntime backend runs on cpu, cuda, tensorrt, not npu$"):
        backends.REGISTRY["onnxruntime"].resolve_device("npu")


SUPPORTED = ("cpu", "cuda", "tensorrt")


@pytest.mark.parametrize("device, available, expected", [
    ("auto", ("cuda", "cpu"), "cuda"),          # the fastest here
    ("auto", ("cpu",), "cpu"),
    ("cpu", ("cuda", "cpu"), "cpu"),
    ("tensorrt", ("cuda", "tensorrt", "cpu"), "tensorrt"),
])
def test_resolve_device_picks_what_is_asked_and_here(device, available, expected):
    assert devices.resolve_device(device, available, SUPPORTED, "engine", "needs X") == expected


@pytest.mark.parametrize("device, available, message", [
    ("gpu", ("cpu",), r"unknown device 'gpu'; choose from auto, cpu, cuda, tensorrt, npu"),
    ("npu", ("cpu",), r"^device npu: engine runs on cpu, cuda, tensorrt, not npu$"),
    ("cuda", ("cpu",), r"^device cuda: engine needs X; available here: cpu$"),
    ("auto", (), r"^engine needs X$"),
    ("cpu", (), r"^device cpu: engine needs X; available here: none$"),
])
def test_resolve_device_says_what_is_unsupported_or_missing(device, available, message):
    with pytest.raises(Vp3dError, match=message):
        devices.resolve_device(device, available, SUPPORTED, "engine", "needs X")


def test_resolve_torch_device_follows_what_torch_has(monkeypatch):
    monkeypatch.setattr(devices, "torch_devices", lambda: ("cpu",))
    assert devices.resolve_torch_device("auto") == "cpu"
    with pytest.raises(Vp3dError, match="device cuda: torch needs a CUDA build of torch and an NVIDIA GPU"):
        devices.resolve_torch_device("cuda")
    monkeypatch.setattr(devices, "torch_devices", lambda: ("cuda", "cpu"))
    assert devices.resolve_torch_device("auto") == "cuda" and devices.resolve_torch_device("cpu") == "cpu"
    with pytest.raises(Vp3dError, match="device tensorrt: torch runs on cpu, cuda"):
        devices.resolve_torch_device("tensorrt")


def test_physical_cores_counts_cores_not_hyperthreads(monkeypatch):
    """Against lscpu's own reading of the topology, for the CPUs this process may use; and, where the
    topology cannot be read, half the logical CPUs."""
    import shutil
    import subprocess
    if shutil.which("lscpu"):
        rows = [line.split(",") for line in subprocess.run(["lscpu", "-p=CPU,CORE,SOCKET"], capture_output=True,
                                                           text=True).stdout.splitlines() if line[0] != "#"]
        allowed = os.sched_getaffinity(0)
        assert devices.physical_cores() == len({(s, c) for cpu, c, s in rows if int(cpu) in allowed})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: (_ for _ in ()).throw(AttributeError()))
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert devices.physical_cores() == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert devices.physical_cores() == 1
