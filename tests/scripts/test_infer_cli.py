"""vp3d_infer.py as an ais_bench drop-in and scripts/atc.sh, through main([...]).

Small model: widths 3,3 (RF 9), 16 channels, inputs of L = 64 frames. Tolerance: 1e-4 m vs PyTorch.
"""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_infer
import vp3d_pth2onnx
from vp3d.engines import ais_bench, devices
from vp3d.io.files import read_array
from vp3d.model import checkpoint

LENGTH = 64
SUMMARY = [r"\[INFO\] -----------------Performance Summary------------------",
           r"\[INFO\] compute_time \(ms\): min = [\d.]+, max = [\d.]+, mean = [\d.]+, median = [\d.]+, percentile\(99%\) = [\d.]+",
           r"\[INFO\] throughput 1000\*batchsize\.mean\(1\)/compute_time\.mean\([\d.]+\): [\d.]+",
           r"\[INFO\] frames/s \(N\*L/compute_time\*1000, the Ascend ModelZoo recipe's figure\): [\d.]+",
           r"\[INFO\] useful frames/s \(one 3D pose per input frame, padding excluded\): [\d.]+"]
SUMMARY_KEYS = {"compute_time", "throughput", "compute_time_list", "filesinfo", "backend", "device", "frames_per_second",
                "useful_frames_per_second"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("infer")
    model = random_model((3, 3), 16, seed=11)
    ckpt = d / "model_best.bin"
    checkpoint.save(ckpt, model, "conv2d", module_prefix=True)          # the Ascend recipe's file
    onnx = d / "vp3d.onnx"
    assert vp3d_pth2onnx.main(["-m", str(ckpt), "-o", str(onnx), "--length", str(LENGTH)]) == 0
    inputs = d / "inputs"
    inputs.mkdir()
    expected = {}
    for i, name in enumerate(["001_Directions", "002_Walking"]):
        x = np.random.default_rng(i).uniform(-1, 1, (2, LENGTH, 17, 2)).astype(np.float32)
        x.tofile(inputs / f"{name}.bin")
        with torch.inference_mode():
            expected[name] = model(torch.from_numpy(x)).numpy()
    return {"dir": d, "ckpt": ckpt, "onnx": onnx, "inputs": inputs, "expected": expected}


def assert_summary_printed(out: str):
    for pattern in SUMMARY:
        assert re.search("^" + pattern + "$", out, re.M), f"no line matching {pattern!r} in:\n{out}"


def test_export_default_layout_is_time_on_w(setup):
    assert vp3d_pth2onnx.build_parser().get_default("weight_layout") == "conv2d_w"
    import onnx
    conv = next(n for n in onnx.load(str(setup["onnx"])).graph.node if n.op_type == "Conv")
    kernel = next(a for a in conv.attribute if a.name == "kernel_shape").ints
    assert list(kernel) == [1, 3]


def test_loop_without_input_runs_random_data(setup, tmp_path, capsys):
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--loop", "3", "--warmup_count", "2"]) == 0
    out = capsys.readouterr().out
    assert_summary_printed(out)
    assert "onnxruntime on cpu (CPUExecutionProvider)" in out and f"input 2x{LENGTH}x17x2" in out
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--loop", "3", "--output", str(tmp_path),
                            "--output_dirname", "pure"]) == 0
    summary = json.loads((tmp_path / "pure_summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary) and len(summary["compute_time_list"]) == 3
    assert not any("npu" in k.lower() for k in summary)                     # a CPU run claims no NPU time
    assert (summary["backend"], summary["device"]) == ("onnxruntime", "cpu")
    t = summary["compute_time"]
    assert set(t) == {"min", "max", "mean", "median", "percentile(99%)"}
    assert summary["throughput"] == pytest.approx(1000 / t["mean"])
    assert summary["frames_per_second"] == pytest.approx(2 * LENGTH / t["mean"] * 1000)
    assert summary["useful_frames_per_second"] == pytest.approx((LENGTH - 8) / t["mean"] * 1000)
    assert read_array(tmp_path / "pure" / "pure_infer_data_0.bin", (2, LENGTH - 8, 17, 3)).shape[1] == LENGTH - 8


def test_loop_with_input_runs_each_file_n_times(setup, tmp_path, capsys):
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--input", str(setup["inputs"]),
                            "--output", str(tmp_path), "--output_dirname", "run", "--loop", "3"]) == 0
    assert_summary_printed(capsys.readouterr().out)
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert len(summary["compute_time_list"]) == 2 * 3
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["001_Directions_0.bin", "002_Walking_0.bin"]
    for name, expected in setup["expected"].items():
        got = read_array(tmp_path / "run" / f"{name}_0.bin", expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert summary["filesinfo"]["1"]["outfiles"] == [str(tmp_path / "run" / "002_Walking_0.bin")]


def test_torch_backend_takes_length_from_the_inputs(setup, tmp_path, capsys):
    assert vp3d_infer.main(["--model", str(setup["ckpt"]), "--input", str(setup["inputs"]),
                            "--output", str(tmp_path), "--output_dirname", "torch", "--outfmt", "NPY"]) == 0
    out = capsys.readouterr().out
    assert "torch on cpu" in out
    assert_summary_printed(out)
    for name, expected in setup["expected"].items():
        np.testing.assert_allclose(np.load(tmp_path / "torch" / f"{name}_0.npy"), expected, atol=1e-5, rtol=0)
    assert vp3d_infer.main(["--model", str(setup["ckpt"]), "--loop", "2", "--length", "40"]) == 0
    out = capsys.readouterr().out
    assert "input 2x40x17x2 -> output 2x32x17x3" in out


def test_openvino_backend(setup, tmp_path, capsys):
    pytest.importorskip("openvino")
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--backend", "openvino", "--input", str(setup["inputs"]),
                            "--output", str(tmp_path), "--output_dirname", "ov", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "openvino on cpu" in out and "1 threads" in out
    assert_summary_printed(out)
    for name, expected in setup["expected"].items():
        np.testing.assert_allclose(read_array(tmp_path / "ov" / f"{name}_0.bin", expected.shape), expected,
                                   atol=1e-4, rtol=0)


def test_ais_bench_missing_exits_2_with_one_line(setup, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(devices, "npu_devices", lambda: ())
    om = tmp_path / "vp3d_seq64.om"
    om.write_bytes(b"\0")
    err = one_line_error(capsys, vp3d_infer.main(["--model", str(om), "--loop", "2"]), "ais_bench", "CANN")
    assert err.startswith(f"error: {om}: ")


def test_ais_bench_present_gets_infers_arguments_and_its_failure_is_reported(setup, tmp_path, capsys, monkeypatch):
    """With an NPU present, vp3d_infer.py hands the run to ais_bench: the argv it would run (subprocess.run
    recorded here, not run: no NPU on this machine), and ais_bench's non-zero exit as a one-line error."""
    calls = []
    monkeypatch.setattr(devices, "npu_devices", lambda: ("npu",))
    monkeypatch.setattr(ais_bench.subprocess, "run", lambda cmd, check: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    om = tmp_path / "vp3d_seq64.om"
    om.write_bytes(b"\0")
    assert vp3d_infer.main(["--model", str(om), "--input", str(setup["inputs"]), "--output", str(tmp_path),
                            "--output_dirname", "npu", "--loop", "5"]) == 0
    assert calls == [[sys.executable, "-m", "ais_bench", "--model", str(om), "--input", str(setup["inputs"]),
                      "--output", str(tmp_path), "--output_dirname", "npu", "--outfmt", "BIN", "--batchsize", "1",
                      "--loop", "5", "--warmup_count", "1"]]
    assert "[INFO] running: " in capsys.readouterr().out
    monkeypatch.setattr(ais_bench.subprocess, "run", lambda cmd, check: subprocess.CompletedProcess(cmd, 1))
    one_line_error(capsys, vp3d_infer.main(["--model", str(om), "--loop", "5"]), "ais_bench exited with status 1")


def test_input_of_the_wrong_size_names_file_and_bytes(setup, tmp_path, capsys):
    bad = tmp_path / "inputs"
    bad.mkdir()
    np.zeros((2, LENGTH - 1, 17, 2), np.float32).tofile(bad / "003_Eating.bin")
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--input", str(bad), "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {bad / '003_Eating.bin'}: {2 * (LENGTH - 1) * 17 * 2 * 4} bytes, expected "
                   f"{2 * LENGTH * 17 * 2 * 4} (float32 array of shape 2x{LENGTH}x17x2)")


@pytest.mark.parametrize("argv, message", [
    (["--precision", "bf16"], "precision bf16: the onnxruntime backend runs f32; bf16 needs --backend openvino or torch"),
    (["--causal"], "--causal is for checkpoints"),
    (["--output_dirname", "x"], "--output_dirname needs --output"),
    (["--backend", "torch"], "the torch backend reads"),
    (["--batchsize", "2"], "--batchsize must be 1"),
])
def test_flag_errors(setup, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        vp3d_infer.main(["--model", str(setup["onnx"]), *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_length_must_match_a_fixed_model(setup, capsys):
    assert vp3d_infer.main(["--model", str(setup["onnx"]), "--length", "100"]) == 2
    assert f"takes L = {LENGTH} frames, not --length 100" in capsys.readouterr().err


