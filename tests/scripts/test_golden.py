"""vp3d's four stages against upstream VideoPose3D's own evaluation of a small golden case.

'repo': the inputs are regenerated from a seed (golden_case.py) and upstream's numbers and raw outputs come
from tests/fixtures/golden/, which scripts/make_golden.py made by running upstream's run.py at 1afb1ca.
'shared': the developers' case in ../shared/reference/golden, inputs included; skipped where absent.
Metrics within 0.01 mm of upstream's, raw model outputs (2 x T x 17 x 3, metres) within 2e-5.
"""
import json
from dataclasses import dataclass
from pathlib import Path

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

from golden_case import CHECKPOINTS, FIXTURE, write_golden_inputs

TOLERANCE_MM = 0.01
TOLERANCE_RAW = 2e-5
MAX_LENGTH = "300"


@dataclass
class Case:
    """A golden case with its data preprocessed: vp3d's side, and upstream's numbers."""

    prep: Path                    # vp3d_preprocess.py's output, --max-length MAX_LENGTH
    checkpoints: dict[str, Path]  # 'conv1d' (upstream run.py's file), 'conv2d_module' (the Ascend recipe's)
    upstream: dict                # upstream_eval.json: per action mm and frames, action-wise averages
    outputs: dict                 # action -> upstream's raw output for its first sequence (frames as kept)
    raw_frames: list | None       # [first, last]: the frames of each end that `outputs` keep; None: all

    def kept(self, y: np.ndarray) -> np.ndarray:
        """(2, T, 17, 3) -> the frames upstream's outputs were kept for."""
        if self.raw_frames is None:
            return y
        first, last = self.raw_frames
        return np.concatenate([y[:, :first], y[:, y.shape[1] - last:]], axis=1)

    def first_sequences(self):
        """(manifest, {action: the entry of its first sequence}), in upstream's order."""
        manifest = Manifest.read(self.prep)
        firsts = {}
        for e in manifest.entries:
            firsts.setdefault(e.group, e)
        assert list(firsts) == list(self.outputs), "first sequences of other actions than upstream's"
        return manifest, firsts


@pytest.fixture(scope="module", params=["repo", "shared"])
def case(request, tmp_path_factory) -> Case:
    tmp = tmp_path_factory.mktemp(f"golden_{request.param}")
    if request.param == "repo":
        fixture_dir = FIXTURE
        fixture = json.loads((fixture_dir / "fixture.json").read_text())
        inputs = write_golden_inputs(tmp / "inputs")
        if inputs.fingerprint != fixture["fingerprint"]:
            pytest.fail("tests/golden_case.py generates other inputs than tests/fixtures/golden/ was made from: run "
                        "scripts/make_golden.py --upstream <VideoPose3D checkout at 1afb1ca> and commit the fixture",
                        pytrace=False)
        data, checkpoints, raw_frames = inputs.data, inputs.checkpoints, fixture["raw_frames"]
    else:
        fixture_dir = golden_dir()
        fixture = json.loads((fixture_dir / "fixture.json").read_text())
        data, checkpoints, raw_frames = fixture_dir, {k: fixture_dir / n for k, n in CHECKPOINTS.items()}, None
    arc = ",".join(map(str, fixture["filters"]))
    assert vp3d_preprocess.main(["-d", str(data), "-s", str(tmp / "prep"), "-arc", arc,
                                 "--max-length", MAX_LENGTH]) == 0
    with np.load(fixture_dir / "upstream_first_sequence_outputs.npz") as outputs:
        return Case(tmp / "prep", checkpoints, json.loads((fixture_dir / "upstream_eval.json").read_text()),
                    dict(outputs), raw_frames)


@pytest.mark.parametrize("ckpt,layout", [("conv2d_module", "conv2d"), ("conv1d", "conv2d_w"), ("conv1d", "conv1d")])
def test_pipeline_reproduces_upstream_evaluation(case, tmp_path, ckpt, layout):
    onnx_path = tmp_path / "m.onnx"
    assert vp3d_pth2onnx.main(["-m", str(case.checkpoints[ckpt]), "-o", str(onnx_path), "--length", MAX_LENGTH,
                               "--weight-layout", layout]) == 0
    assert vp3d_infer.main(["--model", str(onnx_path), "--input", str(case.prep / "inputs"),
                            "--output", str(tmp_path / "res"), "--output_dirname", "run"]) == 0
    assert vp3d_postprocess.main(["--preprocess-data", str(case.prep), "--infer-results",
                                  str(tmp_path / "res" / "run"), "--json", str(tmp_path / "r.json")]) == 0
    ours = json.loads((tmp_path / "r.json").read_text())
    assert list(ours["actions"]) == list(case.upstream["actions"])
    for action, expected in case.upstream["actions"].items():
        assert ours["actions"][action]["frames"] == expected["frames"]
        for metric in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"):
            assert ours["actions"][action][metric] == pytest.approx(expected[metric], abs=TOLERANCE_MM), \
                (action, metric)
    for metric, value in case.upstream["average"].items():
        assert ours["average"][metric] == pytest.approx(value, abs=TOLERANCE_MM), metric

    manifest, firsts = case.first_sequences()
    for action, e in firsts.items():
        y = read_array(tmp_path / "res" / "run" / f"{e.name}_0.bin", (2, manifest.output_length(e), 17, 3))
        np.testing.assert_allclose(case.kept(y[:, :e.frames]), case.outputs[action], atol=TOLERANCE_RAW, err_msg=action)


@pytest.mark.parametrize("ckpt", list(CHECKPOINTS))
def test_raw_model_outputs_match_upstream(case, ckpt):
    manifest, firsts = case.first_sequences()
    model = checkpoint.load(case.checkpoints[ckpt])
    for action, e in firsts.items():
        x = read_array(case.prep / "inputs" / f"{e.name}.bin", manifest.input_shape(e))
        with torch.inference_mode():
            y = model(torch.from_numpy(x)).numpy()[:, :e.frames]
        np.testing.assert_allclose(case.kept(y), case.outputs[action], atol=TOLERANCE_RAW, err_msg=action)
