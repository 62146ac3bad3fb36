"""The README's four stages end to end through main([...]), on small data in the real formats."""
import json

import numpy as np
import pytest
import torch

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import read_array, write_array
from vp3d.model import checkpoint
from vp3d.pipeline.evaluation import evaluate
from vp3d.pipeline.sequences import Manifest


def preprocess(dataset, out, length, *extra):
    assert vp3d_preprocess.main(["-d", str(dataset), "-s", str(out), "-arc", "3,3,3",
                                 "--max-length", str(length), *extra]) == 0
    return Manifest.read(out)


def torch_predictions(model, prep, out_dir, fmt="BIN"):
    """What ais_bench would write, computed with the PyTorch model directly."""
    m = Manifest.read(prep)
    for e in m.entries:
        x = read_array(prep / "inputs" / f"{e.name}.bin", m.input_shape(e))
        with torch.inference_mode():
            y = model(torch.from_numpy(x)).numpy()
        write_array(out_dir / f"{e.name}_0.{fmt.lower()}", y, fmt)
    return out_dir


@pytest.fixture(scope="module")
def prep(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "prep_dataset"
    preprocess(tiny_dataset, out, 120)
    return out


def test_preprocess_outputs(prep):
    m = Manifest.read(prep)
    assert len(m.entries) == 32 and m.lengths == [120] and all(e.length == 120 for e in m.entries) and m.receptive_field == 27
    assert [e.name for e in m.entries[:2]] == ["001_Directions", "002_Directions"]
    deltas = json.loads((prep / "delta_dict_padding.json").read_text())
    for e in m.entries:
        assert (prep / "inputs" / f"{e.name}.bin").stat().st_size == 2 * 120 * 17 * 2 * 4
        assert (prep / "ground_truths" / f"{e.name}.bin").stat().st_size == e.frames * 17 * 3 * 4
        assert deltas[e.name] == 120 - e.frames - 26
    x = read_array(prep / "inputs" / "001_Directions.bin", (2, 120, 17, 2))
    assert (x[0, :13] == x[0, 13]).all()                          # edge padding in front
    np.testing.assert_array_equal(x[1, :, 0, 0], -x[0, :, 0, 0])   # flipped copy


@pytest.mark.slow
def test_end_to_end_onnx_matches_pytorch(prep, tiny_checkpoints, tmp_path, capsys):
    onnx_path = tmp_path / "vp3d.onnx"
    assert vp3d_pth2onnx.main(["-m", str(tiny_checkpoints["conv2d"]), "-o", str(onnx_path), "--length", "120"]) == 0
    out = capsys.readouterr().out
    assert "output 3d_preds 2x94x17x3" in out and "receptive field 27" in out
    assert 'atc --framework=5' in out and '--input_shape="2d_poses:2,120,17,2"' in out
    assert vp3d_infer.main(["--model", str(onnx_path), "--input", str(prep / "inputs"),
                            "--output", str(tmp_path / "results")]) == 0
    assert "[INFO] compute_time (ms): min = " in capsys.readouterr().out
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert (tmp_path / "results" / f"{run_dir.name}_summary.json").is_file()
    assert vp3d_postprocess.main(["--preprocess-data", str(prep), "--infer-results", str(run_dir),
                                  "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "Protocol #1 (MPJPE) action-wise average:" in out
    ours = json.loads((tmp_path / "r.json").read_text())
    assert list(ours["actions"]) == ["Directions", "Walking", "Sitting"]

    reference_dir = torch_predictions(checkpoint.load(tiny_checkpoints["conv1d"]), prep, tmp_path / "torch")
    reference = evaluate(prep, reference_dir)
    assert list(reference.actions) == list(ours["actions"])
    for action, r in reference.actions.items():
        for metric in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"):
            assert ours["actions"][action][metric] == pytest.approx(r[metric], abs=1e-3)


@pytest.mark.slow
def test_padding_invariance(tiny_dataset, tiny_checkpoints, tmp_path):
    """The same sequences padded to two lengths give the same predictions and the same errors."""
    model = checkpoint.load(tiny_checkpoints["conv1d"])
    results = []
    for length in (120, 257):
        p = tmp_path / f"prep{length}"
        preprocess(tiny_dataset, p, length)
        results.append((p, evaluate(p, torch_predictions(model, p, tmp_path / f"res{length}"))))
    (p1, r1), (p2, r2) = results
    assert list(r1.actions) == list(r2.actions) == ["Directions", "Walking", "Sitting"]     # TINY_ACTIONS' groups
    for action in r1.actions:
        for metric, value in r1.actions[action].items():
            assert r2.actions[action][metric] == pytest.approx(value, abs=1e-4)
    m1, m2 = Manifest.read(p1), Manifest.read(p2)
    e = m1.entries[5]
    a = read_array(tmp_path / "res120" / f"{e.name}_0.bin", (2, m1.output_length(e), 17, 3))[:, :e.frames]
    b = read_array(tmp_path / "res257" / f"{e.name}_0.bin", (2, m2.output_length(m2.entries[5]), 17, 3))[:, :e.frames]
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_postprocess_reads_ais_bench_layouts(prep, tiny_checkpoints, tmp_path):
    """NPY and TXT outputs, and the parent directory holding one timestamped run."""
    model = checkpoint.load(tiny_checkpoints["conv1d"])
    base = evaluate(prep, torch_predictions(model, prep, tmp_path / "bin"))
    npy = evaluate(prep, torch_predictions(model, prep, tmp_path / "npy" / "2022_09_25-07_41_01", "NPY"))
    via_parent = evaluate(prep, tmp_path / "npy")
    txt = evaluate(prep, torch_predictions(model, prep, tmp_path / "txt", "TXT"))
    for other in (npy, via_parent, txt):
        assert other.average["mpjpe"] == pytest.approx(base.average["mpjpe"], abs=1e-4)


def test_non_empty_output_is_left_alone_without_force(prep, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(out), "-arc", "3,3,3"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"


def test_missing_and_truncated_predictions(prep, tiny_checkpoints, tmp_path, capsys):
    res = torch_predictions(checkpoint.load(tiny_checkpoints["conv1d"]), prep, tmp_path / "res")
    first = res / "001_Directions_0.bin"
    first.write_bytes(first.read_bytes()[:-8])
    assert vp3d_postprocess.main(["--preprocess-data", str(prep), "--infer-results", str(res)]) == 2
    assert "001_Directions_0.bin: 38344 bytes, expected 38352" in capsys.readouterr().err
    first.unlink()
    assert vp3d_postprocess.main(["--preprocess-data", str(prep), "--infer-results", str(res)]) == 2
    assert "1 predictions missing, e.g. '001_Directions_0.bin'" in capsys.readouterr().err


