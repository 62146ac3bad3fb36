"""Backends behind one interface: each against PyTorch on a small model, within stated tolerances.

Tolerances: f32 engines within 1e-4 m absolute of PyTorch fp32; OpenVINO bf16 within 2 % relative
(max |error| / max |output|). Tests needing OpenVINO skip where it is not installed.
"""
import warnings

import numpy as np
import pytest
import torch
from random_models import random_model

from vp3d.engines import backends, devices
from vp3d.errors import Vp3dError
from vp3d.facts.architecture import WEIGHT_LAYOUTS as LAYOUTS
from vp3d.model import checkpoint
from vp3d.model.export import check_onnx, export_onnx

LENGTH = 64          # input frames; RF 9 for widths 3,3 -> 56 output frames
F32_ABS = 1e-4       # metres
BF16_REL = 0.02


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A random (3, 3) 24-channel model: its checkpoint, one ONNX file per weight layout, and one input."""
    d = tmp_path_factory.mktemp("rt")
    model = random_model((3, 3), 24, seed=7)
    ckpt = d / "model.bin"
    checkpoint.save(ckpt, model)
    onnx = {}
    for weight_layout in LAYOUTS:
        onnx[weight_layout] = d / f"vp3d_{weight_layout}.onnx"
        export_onnx(checkpoint.load(ckpt, weight_layout=weight_layout), onnx[weight_layout], LENGTH)
    x = np.random.default_rng(1).uniform(-1, 1, (2, LENGTH, 17, 2)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    return {"dir": d, "ckpt": ckpt, "onnx": onnx, "x": x, "expected": expected}


def rel_error(got, expected):
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name, backend", [("m.onnx", "onnxruntime"), ("m.xml", "openvino"), ("m.om", "ais_bench"),
                                           ("model_best.bin", "torch"), ("m.pth", "torch"), ("m.pt", "torch")])
def test_backend_from_suffix(name, backend):
    assert backends.resolve_backend(name) == backend


def test_backend_mismatch_and_unknown_suffix():
    with pytest.raises(Vp3dError, match=r"m\.bin: the onnxruntime backend reads \.onnx files, not \.bin"):
        backends.resolve_backend("m.bin", "onnxruntime")
    with pytest.raises(Vp3dError, match="cannot tell the backend"):
        backends.resolve_backend("m.weights")
    assert backends.resolve_backend("m.onnx", "openvino") == "openvino"


def test_adding_a_backend_touches_one_place():
    assert {"onnxruntime", "openvino", "torch", "ais_bench"} <= set(backends.REGISTRY)
    for name, entry in backends.REGISTRY.items():
        assert entry.name == name and entry.suffixes and entry.supported and entry.precisions
        assert backends.resolve_backend(f"m{entry.suffixes[0]}", name) == name
    assert backends.BACKENDS == ("auto", *backends.REGISTRY)


@pytest.mark.parametrize("weight_layout", LAYOUTS)
def test_onnxruntime_each_weight_layout_matches_pytorch(small, weight_layout):
    assert check_onnx(small["onnx"][weight_layout]) == ((2, LENGTH, 17, 2), (2, LENGTH - 8, 17, 3))
    s = backends.open_session(small["onnx"][weight_layout])
    assert (s.backend, s.device, s.threads) == ("onnxruntime", "cpu", devices.physical_cores())
    assert s.input_shape == (2, LENGTH, 17, 2) and s.output_shape == (2, LENGTH - 8, 17, 3)
    assert s.receptive_field == 9
    np.testing.assert_allclose(s.run(small["x"]), small["expected"], atol=F32_ABS, rtol=0)


def test_torch_backend_from_checkpoint(small):
    s = backends.open_session(small["ckpt"], length=LENGTH)
    assert s.backend == "torch" and s.input_shape == (2, LENGTH, 17, 2) and s.output_shape == (2, LENGTH - 8, 17, 3)
    np.testing.assert_allclose(s.run(small["x"]), small["expected"], atol=1e-6, rtol=0)
    any_length = backends.open_session(small["ckpt"], "torch")
    assert any_length.input_shape == (2, None, 17, 2)
    assert any_length.run(small["x"][:, :20]).shape == (2, 12, 17, 3)
    with pytest.raises(Vp3dError, match="receptive field 9"):
        any_length.run(small["x"][:, :8])


def test_open_session_errors(small, tmp_path):
    with pytest.raises(Vp3dError, match=r"nothere\.onnx: no such model file"):
        backends.open_session(tmp_path / "nothere.onnx")
    with pytest.raises(Vp3dError, match="precision bf16: the onnxruntime backend runs f32; bf16 needs --backend openvino or torch"):
        backends.open_session(small["onnx"]["conv2d_w"], precision="bf16")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(Vp3dError, match=r"bad\.onnx: ONNX Runtime cannot load it"):
        backends.open_session(bad)


def test_openvino_f32_reads_onnx_and_ir(small):
    ov = pytest.importorskip("openvino")
    s = backends.open_session(small["onnx"]["conv2d_w"], "openvino")
    assert (s.backend, s.precision, s.input_shape) == ("openvino", "f32", (2, LENGTH, 17, 2))
    np.testing.assert_allclose(s.run(small["x"]), small["expected"], atol=F32_ABS, rtol=0)
    xml = small["dir"] / "vp3d.xml"
    ov.save_model(ov.Core().read_model(str(small["onnx"]["conv2d"])), str(xml), compress_to_fp16=False)
    s = backends.open_session(xml)
    assert s.backend == "openvino"
    np.testing.assert_allclose(s.run(small["x"]), small["expected"], atol=F32_ABS, rtol=0)


def test_openvino_bf16_or_clear_fallback(small):
    pytest.importorskip("openvino")
    supported, caps = backends.openvino_bf16_supported()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = backends.open_session(small["onnx"]["conv2d_w"], "openvino", precision="bf16")
    y = s.run(small["x"])
    if supported:
        assert s.precision == "bf16" and not caught
        assert rel_error(y, small["expected"]) <= BF16_REL
    else:
        assert s.precision == "f32"
        assert any("no bf16 support" in str(w.message) for w in caught)
        np.testing.assert_allclose(y, small["expected"], atol=F32_ABS, rtol=0)


@pytest.mark.skipif(not [d for d in devices.onnxruntime_devices() if d != "cpu"], reason="needs onnxruntime-gpu and an NVIDIA GPU")
@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_onnxruntime_gpu_providers(small, device):
    if device not in [d for d in devices.onnxruntime_devices() if d != "cpu"]:
        pytest.skip(f"{device} execution provider not installed")
    s = backends.open_session(small["onnx"]["conv2d_w"], device=device)
    assert s.device == device
    np.testing.assert_allclose(s.run(small["x"]), small["expected"], atol=1e-3, rtol=0)   # TF32 convolutions


def test_openvino_runs_a_dynamic_model_at_every_length(tmp_path):
    """A dynamic-axis model in OpenVINO: one compiled model, its time axis bounded below by the receptive
    field it reads off the graph (here 3*3*3 = 27 frames); the same outputs as PyTorch at the receptive
    field itself and at lengths around it, prepared ahead or not; shorter inputs refused."""
    pytest.importorskip("openvino")
    model = random_model((3, 3, 3), 16, seed=3)
    export_onnx(model, tmp_path / "dyn.onnx", None)
    s = backends.open_session(tmp_path / "dyn.onnx", "openvino")
    assert s.length is None and s.receptive_field == 27
    s.prepare([100, 257])
    for length in (27, 28, 100, 257, 1001):
        x = np.random.default_rng(length).uniform(-1, 1, (2, length, 17, 2)).astype(np.float32)
        with torch.inference_mode():
            expected = model(torch.from_numpy(x)).numpy()
        got = s.run(x)
        assert got.shape == expected.shape == (2, length - 26, 17, 3)
        np.testing.assert_allclose(got, expected, atol=F32_ABS, rtol=0)
    with pytest.raises(Vp3dError, match=r"input of shape 2x26x17x2: expected \(2, L, J, 2\) with L >= the receptive field 27"):
        s.run(np.zeros((2, 26, 17, 2), np.float32))


def test_openvino_reads_the_receptive_field_off_the_graph(tmp_path):
    """ov_receptive_field on graphs whose metadata is not consulted: 1 + 2*(1 + 3 + 9) = 27 frames for
    filter widths 3,3,3, and a causal model's (the same field, all of it in the past)."""
    ov = pytest.importorskip("openvino")
    for causal in (False, True):
        export_onnx(random_model((3, 3, 3), 8, seed=5, causal=causal), tmp_path / "m.onnx", None)
        graph = ov.Core().read_model(str(tmp_path / "m.onnx"))
        assert backends.ov_receptive_field(graph) == 27
    ov.save_model(graph, str(tmp_path / "m.xml"))                # an IR: no vp3d metadata to read
    s = backends.open_session(tmp_path / "m.xml", "openvino")
    assert s.config is None and s.receptive_field == 27 and s.run(np.zeros((2, 30, 17, 2), np.float32)).shape[1] == 4


def test_run_rounded_is_exact_at_any_length():
    model = random_model((3, 3), 16, seed=4)
    run = lambda a: model(torch.from_numpy(a)).detach().numpy()
    for length in (9, 10, 31, 32, 33, 100):
        x = np.random.default_rng(length).uniform(-1, 1, (2, length, 17, 2)).astype(np.float32)
        got = backends.run_rounded(run, x, 32)
        assert got.shape == (2, length - 8, 17, 3)
        np.testing.assert_allclose(got, run(x), atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision, tolerance", [("f32", 1e-3), ("bf16", 0.02), ("fp16", 0.005)])
def test_torch_cuda_matches_the_cpu(small, precision, tolerance):
    """torch on CUDA (TF32 convolutions in f32; autocast in bf16/fp16) against f32 on the CPU, at a
    length off the rounding step and with the model's own fixed length."""
    s = backends.open_session(small["ckpt"], "torch", device="cuda", precision=precision)
    x = small["x"]
    got = s.run(x)
    assert got.shape == small["expected"].shape
    assert rel_error(got, small["expected"]) <= tolerance
    odd = x[:, :LENGTH - 5]
    assert rel_error(s.run(odd), small["expected"][:, :LENGTH - 5 - 8]) <= tolerance
