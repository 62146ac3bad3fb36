"""Stage 3, inference over a folder of inputs as ais_bench lays them out: timing, summary, resume."""
import json
import os

import numpy as np
import pytest
import torch
from random_models import random_model

import vp3d_infer
from vp3d.engines import backends
from vp3d.errors import Vp3dError
from vp3d.io.files import read_array
from vp3d.model import checkpoint
from vp3d.model.export import export_onnx
from vp3d.pipeline.infer import (
    infer_directory,
    is_complete,
    pick_session,
    summary_dict,
    summary_lines,
    time_runs,
)

LENGTH = 40          # input frames; RF 9 for widths 3,3 -> 32 output frames


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A random (3, 3) model exported at L = 40 and with a dynamic time axis; a folder of three inputs
    (two of L = 40, one of L = 25) and what PyTorch predicts for each."""
    d = tmp_path_factory.mktemp("infer")
    model = random_model((3, 3), 16, seed=7)
    export_onnx(model, d / "fixed.onnx", LENGTH)
    export_onnx(model, d / "dynamic.onnx", None)
    (d / "inputs").mkdir()
    expected = {}
    for i, (name, length) in enumerate([("001_A", LENGTH), ("002_B", LENGTH), ("003_C", 25)]):
        x = np.random.default_rng(i).uniform(-1, 1, (2, length, 17, 2)).astype(np.float32)
        x.tofile(d / "inputs" / f"{name}.bin")
        with torch.inference_mode():
            expected[name] = model(torch.from_numpy(x)).numpy()
    return {"dir": d, "inputs": d / "inputs", "expected": expected,
            "fixed": backends.open_session(d / "fixed.onnx"), "dynamic": backends.open_session(d / "dynamic.onnx")}


def test_time_runs_and_summary(small):
    x = read_array(small["inputs"] / "001_A.bin", (2, LENGTH, 17, 2))
    times, y = time_runs(small["fixed"], x, loop=4, warmup=1)
    assert len(times) == 4 and all(t > 0 for t in times) and y.shape == (2, LENGTH - 8, 17, 3)
    summary = summary_dict([10.0, 20.0, 30.0], 1, frames_in=2 * 6115, frames_out=5873)
    assert summary["compute_time"]["mean"] == 20.0 and summary["throughput"] == 50.0
    assert summary["frames_per_second"] == pytest.approx(2 * 6115 / 20 * 1000)
    assert summary["useful_frames_per_second"] == pytest.approx(5873 / 20 * 1000)
    lines = summary_lines(summary)
    assert lines[0] == "[INFO] -----------------Performance Summary------------------"
    assert lines[1] == ("[INFO] compute_time (ms): min = 10.0000, max = 30.0000, mean = 20.0000, "
                        "median = 20.0000, percentile(99%) = 29.8000")
    assert lines[2] == "[INFO] throughput 1000*batchsize.mean(1)/compute_time.mean(20.0000): 50.0000"


def test_cpu_summary_claims_no_npu(tmp_path, capsys):
    ckpt = tmp_path / "m.bin"
    checkpoint.save(ckpt, random_model((3,), 8), "conv1d")
    assert vp3d_infer.main(["--model", str(ckpt), "--loop", "2", "--length", "20", "--output", str(tmp_path / "out"),
                            "--output_dirname", "run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert not [k for k in summary if "npu" in k.lower()], sorted(summary)
    assert summary["device"] == "cpu" and summary["backend"] == "torch"
    assert len(summary["compute_time_list"]) == 2
    assert summary["compute_time"]["mean"] == pytest.approx(np.mean(summary["compute_time_list"]))
    assert "seed" not in out


def test_each_input_runs_on_the_session_of_its_length(small, tmp_path):
    """Two sessions, a fixed-length one and a dynamic one: L = 40 inputs run on the fixed one, the L = 25
    input on the dynamic one; outputs NAME_0.bin hold PyTorch's predictions; the summary records both
    lengths and the frames computed."""
    sessions = [small["dynamic"], small["fixed"]]
    out_dir, summary = infer_directory(sessions, small["inputs"], tmp_path, "run", loop=2, warmup=0)
    assert out_dir == tmp_path / "run"
    assert sorted(p.name for p in out_dir.iterdir()) == ["001_A_0.bin", "002_B_0.bin", "003_C_0.bin"]
    for name, expected in small["expected"].items():
        np.testing.assert_allclose(read_array(out_dir / f"{name}_0.bin", expected.shape), expected, atol=1e-4)
    assert json.loads((tmp_path / "run_summary.json").read_text()) == summary
    assert summary["lengths"] == [None, LENGTH] and summary["skipped"] == 0
    assert len(summary["compute_time_list"]) == 3 * 2
    seconds = sum(summary["compute_time_list"]) / 1000
    assert summary["frames_per_second"] == pytest.approx(2 * 2 * (LENGTH + LENGTH + 25) / seconds)
    assert summary["useful_frames_per_second"] == pytest.approx(2 * (32 + 32 + 17) / seconds)   # L - 8 each


def test_pick_session_prefers_the_fixed_length_and_names_both_lengths(small, tmp_path):
    fixed, dynamic = small["fixed"], small["dynamic"]
    assert pick_session([dynamic, fixed], (2, LENGTH, 17, 2), tmp_path / "a.bin") is fixed
    assert pick_session([dynamic, fixed], (2, 25, 17, 2), tmp_path / "a.bin") is dynamic
    with pytest.raises(Vp3dError, match=r"a\.bin: input of L = 25 frames, but the model takes L = 40 — export one "
                                        r"with --length 25 \(or --dynamic\)"):
        pick_session([fixed], (2, 25, 17, 2), tmp_path / "a.bin")
    with pytest.raises(Vp3dError) as e:
        infer_directory(fixed, small["inputs"], tmp_path / "res", output_dirname="run")
    assert "003_C.bin: 6800 bytes, expected 10880 (float32 array of shape 2x40x17x2)" in str(e.value)
    assert not (tmp_path / "res" / "run").exists()          # before anything was written: no partial run


def test_is_complete_only_for_a_whole_array(tmp_path):
    path = tmp_path / "x_0.bin"
    assert not is_complete(path, (2, 3, 17, 3))
    np.zeros((2, 3, 17, 3), np.float32).tofile(path)
    assert is_complete(path, (2, 3, 17, 3))
    assert not is_complete(path, (2, 4, 17, 3))
    path.write_bytes(path.read_bytes()[:-4])
    assert not is_complete(path, (2, 3, 17, 3))


def test_a_non_empty_output_is_refused_and_resume_redoes_only_what_is_missing(small, tmp_path):
    sessions = [small["dynamic"]]
    out_dir, _ = infer_directory(sessions, small["inputs"], tmp_path, "run", warmup=0)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    with pytest.raises(Vp3dError, match="run: output directory is not empty .*--resume.*--force"):
        infer_directory(sessions, small["inputs"], tmp_path, "run", warmup=0)
    (out_dir / "002_B_0.bin").write_bytes(b"\0" * 100)                 # cut short by a kill
    (out_dir / "003_C_0.bin").unlink()
    untouched = (out_dir / "001_A_0.bin").stat().st_mtime_ns
    os.utime(out_dir / "001_A_0.bin", ns=(untouched - 10**9, untouched - 10**9))
    _, summary = infer_directory(sessions, small["inputs"], tmp_path, "run", warmup=0, resume=True)
    assert summary["skipped"] == 1 and len(summary["compute_time_list"]) == 2
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert (out_dir / "001_A_0.bin").stat().st_mtime_ns == untouched - 10**9      # not rewritten
    _, summary = infer_directory(sessions, small["inputs"], tmp_path, "run", warmup=0, resume=True)
    assert summary == {"skipped": 3}                                  # nothing left to do


def test_summary_frame_rates_weigh_each_run_by_its_own_frames():
    """Two inputs of different lengths, timed once each: frames/s is all frames over all time (not a mean
    of per-input rates)."""
    s = summary_dict([10.0, 30.0], 1, frames_in=[200, 1000], frames_out=[50, 400])
    assert s["frames_per_second"] == pytest.approx((200 + 1000) / 0.040)
    assert s["useful_frames_per_second"] == pytest.approx((50 + 400) / 0.040)
    assert s["throughput"] == pytest.approx(1000 / 20) and s["compute_time_list"] == [10.0, 30.0]
    assert "frames_per_second" not in summary_dict([10.0])
