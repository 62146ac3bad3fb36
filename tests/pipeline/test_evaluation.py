"""Stage 4, evaluation: upstream's averaging of the errors, the model checked against the inputs."""
import json
import numpy as np
import pytest
import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.model import checkpoint
from vp3d.io.files import read_array
from vp3d.facts.metrics import mpjpe
from vp3d.io.poses import read_poses_npz
from vp3d.pipeline.sequences import Manifest
from conftest import random_model


SWAP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]   # Human3.6M 17 joints, left <-> right


def test_saved_predictions_are_the_evaluated_arrays(run, tmp_path):
    assert vp3d_postprocess.main(["--preprocess-data", str(run / "prep"), "--infer-results", str(run / "res" / "r"),
                                  "--json", str(tmp_path / "r.json"), "--save-predictions", str(tmp_path / "p.npz")]) == 0
    poses = read_poses_npz(tmp_path / "p.npz")
    m = Manifest.read(run / "prep")
    assert list(poses) == [e.name for e in m.entries]
    report = json.loads((tmp_path / "r.json").read_text())
    sums = {}
    for e in m.entries:
        assert poses[e.name].shape == (e.frames, 17, 3) and poses[e.name].dtype == np.float32
        raw = read_array(run / "res" / "r" / f"{e.name}_0.bin", (2, m.output_length(e), 17, 3))[:, :e.frames]
        back = raw[1][:, SWAP] * np.float32([-1, 1, 1])                    # the mirror's prediction, un-flipped
        np.testing.assert_allclose(poses[e.name], (raw[0] + back) / 2, atol=1e-6)
        gt = read_array(run / "prep" / "ground_truths" / f"{e.name}.bin", (e.frames, 17, 3)).copy()
        gt[:, 0] = 0
        s = sums.setdefault(e.group, [0.0, 0])
        s[0] += e.frames * mpjpe(poses[e.name], gt)
        s[1] += e.frames
    for group, (total, frames) in sums.items():       # recomputed from the saved arrays alone
        assert report["actions"][group]["mpjpe"] == pytest.approx(1000 * total / frames, rel=1e-6)
    assert report["model"] == "m.onnx (onnxruntime, f32)" and report["data"] == "S9,S11 · cpn_ft_h36m_dbb"


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory):
    d = tmp_path_factory.mktemp("post")
    assert vp3d_preprocess.main(["-d", str(tiny_dataset), "-s", str(d / "prep"), "-arc", "3,3", "--max-length", "110"]) == 0
    checkpoint.save(d / "m.bin", random_model((3, 3), 16, seed=2))
    assert vp3d_pth2onnx.main(["-m", str(d / "m.bin"), "-o", str(d / "m.onnx"), "--length", "110"]) == 0
    assert vp3d_infer.main(["--model", str(d / "m.onnx"), "--input", str(d / "prep" / "inputs"),
                            "--output", str(d / "res"), "--output_dirname", "r"]) == 0
    return d
