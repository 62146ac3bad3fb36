"""Where models run: core counts and resolving --device."""
import pytest
from vp3d.errors import Vp3dError
from vp3d.engines import backends
from vp3d.engines import devices


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
