"""The model's facts travel with its artifacts, and a stage that meets two artifacts that do not fit
refuses with one line naming both sides (receptive field, length, causality, keypoint layout)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from h36m_data import TINY_SEQUENCES
from one_line_errors import one_line_error
from random_models import random_model
from repo_paths import ROOT

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.engines.backends import open_session
from vp3d.io.onnx_meta import facts_from_metadata, read_onnx_metadata
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel


@pytest.fixture(scope="module")
def arts(tiny_dataset, tmp_path_factory):
    """Preprocess runs for RF 27 and RF 9, causal and not, and the checkpoints/ONNX files to mix."""
    d = tmp_path_factory.mktemp("facts")
    prep = lambda name, *extra: vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(d / name), *extra]) == 0
    assert prep("rf27", "-arc", "3,3,3", "--max-length", "120")
    assert prep("rf9", "-arc", "3,3", "--max-length", "120")
    assert prep("rf27_causal", "-arc", "3,3,3", "--max-length", "120", "--causal")
    models = {}
    for name, widths, causal in [("m27", (3, 3, 3), False), ("m9", (3, 3), False), ("m27c", (3, 3, 3), True)]:
        checkpoint.save(d / f"{name}.bin", random_model(widths, 16, seed=4, causal=causal))
        assert vp3d_pth2onnx.main(["-m", str(d / f"{name}.bin"), "-o", str(d / f"{name}.onnx"), "--length", "120"]) == 0
        models[name] = d / f"{name}.onnx"
    return d


def test_onnx_and_checkpoints_carry_the_facts(arts):
    c = facts_from_metadata(read_onnx_metadata(arts / "m27c.onnx"))
    assert c.filter_widths == (3, 3, 3) and c.causal and c.channels == 16
    assert open_session(arts / "m27c.onnx").config == c
    assert checkpoint.load_raw(arts / "m27c.bin")["model_args"]["causal"] is True


def test_receptive_field_mismatch_names_both_and_what_to_redo(arts, tmp_path, capsys):
    rc = vp3d_infer.main(["--model", str(arts / "m9.onnx"), "--input", str(arts / "rf27" / "inputs"),
                          "--output", str(tmp_path)])
    err = one_line_error(capsys, rc)
    assert f"m9.onnx: model receptive field 9, inputs in {arts / 'rf27'} were prepared for 27 " \
           f"— re-run vp3d_preprocess.py with -arc 3,3" in err
    assert not any(tmp_path.iterdir())


def test_causality_mismatch_both_ways(arts, tmp_path, capsys):
    rc = vp3d_infer.main(["--model", str(arts / "m27c.onnx"), "--input", str(arts / "rf27" / "inputs"), "--output", str(tmp_path)])
    assert "a causal model, inputs in" in one_line_error(capsys, rc) 
    rc = vp3d_infer.main(["--model", str(arts / "m27.onnx"), "--input", str(arts / "rf27_causal" / "inputs"),
                          "--output", str(tmp_path)])
    err = one_line_error(capsys, rc)
    assert "a non-causal model" in err and "prepared for a causal one — re-run vp3d_preprocess.py without --causal" in err


def test_keypoint_layout_mismatch(arts, tmp_path, capsys):
    model = random_model((3, 3, 3), 16, seed=4)
    model.config = model.config.replace(keypoint_symmetry=[[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]])
    checkpoint.save(tmp_path / "coco.bin", model)
    rc = vp3d_infer.main(["--model", str(tmp_path / "coco.bin"), "--input", str(arts / "rf27" / "inputs"),
                          "--output", str(tmp_path / "res")])
    err = one_line_error(capsys, rc)
    assert "model trained on keypoints with left/right [[1, 3, 5" in err and "another keypoint layout" in err


def test_postprocess_checks_the_model_that_made_the_predictions(arts, tmp_path, capsys):
    """Predictions made from a plain copy of the inputs (no manifest: inference cannot check) are
    caught at postprocess by the summary's facts, or without a summary by their size."""
    shutil.copytree(arts / "rf27" / "inputs", tmp_path / "copy")
    assert vp3d_infer.main(["--model", str(arts / "m9.onnx"), "--input", str(tmp_path / "copy"),
                            "--output", str(tmp_path / "res"), "--output_dirname", "run"]) == 0
    capsys.readouterr()
    post = lambda: vp3d_postprocess.main(["--preprocess-data", str(arts / "rf27"), "--infer-results",
                                          str(tmp_path / "res" / "run")])
    err = one_line_error(capsys, post())
    assert "predictions of" in err and "(receptive field 9), but the inputs in" in err and "receptive field 27" in err
    (tmp_path / "res" / "run_summary.json").unlink()                  # as ais_bench would leave it
    err = one_line_error(capsys, post())
    assert "holds 2x112x17x3 predictions, but an input of 120 frames gives 2x94x17x3" in err
    assert "the model's receptive field is 9" in err


@pytest.mark.parametrize("recorded", [True, False])
def test_causal_model_same_mpjpe_through_torch_and_onnx(arts, tmp_path, capsys, recorded):
    """A causal checkpoint: vp3d's records it; an upstream one cannot, and the torch backend then takes
    causality from the inputs' manifest. Both backends must give the same report."""
    ckpt = arts / "m27c.bin"
    if not recorded:
        raw = checkpoint.load_raw(ckpt)
        del raw["model_args"]
        torch.save(raw, tmp_path / "upstream_causal.bin")
        ckpt = tmp_path / "upstream_causal.bin"
    reports = {}
    for name, model in (("torch", ckpt), ("onnx", arts / "m27c.onnx")):
        assert vp3d_infer.main(["--model", str(model), "--input", str(arts / "rf27_causal" / "inputs"),
                                "--output", str(tmp_path / "res"), "--output_dirname", name]) == 0
        assert vp3d_postprocess.main(["--preprocess-data", str(arts / "rf27_causal"), "--infer-results",
                                      str(tmp_path / "res" / name), "--json", str(tmp_path / f"{name}.json")]) == 0
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for action, row in reports["onnx"]["actions"].items():
        for metric, value in row.items():
            assert reports["torch"]["actions"][action][metric] == pytest.approx(value, abs=1e-3), (action, metric)
    onnx_pred = {p.name: np.fromfile(p, np.float32) for p in (tmp_path / "res" / "onnx").iterdir()}
    assert len(onnx_pred) == TINY_SEQUENCES
    assert sorted(onnx_pred) == sorted(p.name for p in (tmp_path / "res" / "torch").iterdir())
    for p in (tmp_path / "res" / "torch").iterdir():
        np.testing.assert_allclose(np.fromfile(p, np.float32), onnx_pred[p.name], atol=1e-5)
    # the same weights run as a non-causal model predict otherwise: the comparison above can fail
    causal_model = checkpoint.load(ckpt, causal=True)
    plain = TemporalModel(causal_model.config.replace(causal=False))
    plain.load_state_dict(causal_model.state_dict())
    x = torch.from_numpy(np.fromfile(next((arts / "rf27_causal" / "inputs").iterdir()), np.float32).reshape(2, 120, 17, 2))
    with torch.inference_mode():
        assert (causal_model(x) - plain.eval()(x)).abs().max() > 1e-3


def test_onnx_inference_and_postprocess_need_no_torch(arts, tmp_path):
    """Inference from an exported model and postprocessing run where torch is not installed."""
    code = ("import sys; sys.modules['torch'] = None\n"            # any 'import torch' now fails
            "import vp3d_infer, vp3d_postprocess\n"
            f"assert vp3d_infer.main(['--model', {str(arts / 'm27.onnx')!r}, '--input', {str(arts / 'rf27' / 'inputs')!r},"
            f" '--output', {str(tmp_path)!r}, '--output_dirname', 'r']) == 0\n"
            f"assert vp3d_postprocess.main(['--preprocess-data', {str(arts / 'rf27')!r}, '--infer-results',"
            f" {str(tmp_path / 'r')!r}]) == 0\n"
            "assert sys.modules['torch'] is None\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Protocol #1 (MPJPE)" in r.stdout
