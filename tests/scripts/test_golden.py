"""Upstream VideoPose3D's own evaluation numbers for a small case (../shared/reference/golden)."""
import json

import numpy as np
import pytest
import torch
from conftest import golden_dir

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import read_array
from vp3d.model import checkpoint
from vp3d.pipeline.sequences import Manifest

TOLERANCE_MM = 0.01


@pytest.fixture(scope="module")
def golden_prep(tmp_path_factory):
    golden = golden_dir()
    out = tmp_path_factory.mktemp("golden") / "prep"
    fixture = json.loads((golden / "fixture.json").read_text())
    arc = ",".join(map(str, fixture["filters"]))
    assert vp3d_preprocess.main(["-d", str(golden), "-s", str(out), "-arc", arc, "--max-length", "300"]) == 0
    return out


@pytest.mark.parametrize("ckpt,layout", [("ckpt_conv2d_module.bin", "conv2d"), ("ckpt_conv1d.bin", "conv2d_w"),
                                         ("ckpt_conv1d.bin", "conv1d")])
def test_pipeline_reproduces_upstream_evaluation(golden_prep, tmp_path, ckpt, layout):
    golden = golden_dir()
    onnx_path = tmp_path / "m.onnx"
    assert vp3d_pth2onnx.main(["-m", str(golden / ckpt), "-o", str(onnx_path), "--length", "300",
                               "--weight-layout", layout]) == 0
    assert vp3d_infer.main(["--model", str(onnx_path), "--input", str(golden_prep / "inputs"),
                            "--output", str(tmp_path / "res"), "--output_dirname", "run"]) == 0
    assert vp3d_postprocess.main(["--preprocess-data", str(golden_prep), "--infer-results",
                                  str(tmp_path / "res" / "run"), "--json", str(tmp_path / "r.json")]) == 0
    ours = json.loads((tmp_path / "r.json").read_text())
    upstream = json.loads((golden / "upstream_eval.json").read_text())
    assert list(ours["actions"]) == list(upstream["actions"])
    for action, expected in upstream["actions"].items():
        assert ours["actions"][action]["frames"] == expected["frames"]
        for metric in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"):
            assert ours["actions"][action][metric] == pytest.approx(expected[metric], abs=TOLERANCE_MM), (action, metric)
    for metric, value in upstream["average"].items():
        assert ours["average"][metric] == pytest.approx(value, abs=TOLERANCE_MM), metric


def test_raw_model_outputs_match_upstream(golden_prep):
    golden = golden_dir()
    expected = np.load(golden / "upstream_first_sequence_outputs.npz")
    manifest = Manifest.read(golden_prep)
    model = checkpoint.load(golden / "ckpt_conv2d_module.bin")
    firsts = {}
    for e in manifest.entries:
        firsts.setdefault(e.group, e)
    assert set(firsts) == set(expected.files)
    for group, e in firsts.items():
        x = read_array(golden_prep / "inputs" / f"{e.name}.bin", manifest.input_shape(e))
        with torch.inference_mode():
            y = model(torch.from_numpy(x)).numpy()[:, :e.frames]
        np.testing.assert_allclose(y, expected[group], atol=2e-5, err_msg=group)
