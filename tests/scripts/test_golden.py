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
from repo_paths import golden_dir

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import read_array
from vp3d.model import checkpoint
from vp3d.pipeline.sequences import Manifest

from golden_case import CHECKPOINTS, FIXTURE, HE_FIXTURE, HE_KEYPOINTS, write_golden_inputs, write_humaneva_inputs

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


@pytest.mark.parametrize("ckpt,weight_layout",
                         [("conv2d_module", "conv2d"), ("conv1d", "conv2d_w"), ("conv1d", "conv1d")])
def test_pipeline_reproduces_upstream_evaluation(case, tmp_path, ckpt, weight_layout):
    onnx_path = tmp_path / "m.onnx"
    assert vp3d_pth2onnx.main(["-m", str(case.checkpoints[ckpt]), "-o", str(onnx_path), "--length", MAX_LENGTH,
                               "--weight-layout", weight_layout]) == 0
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


# ---------------------------------------------------------------------------------------------- HumanEva-I

@dataclass
class HumanEvaCase:
    """The HumanEva-I golden case preprocessed per 2D file, and upstream's numbers."""

    preps: dict[str, Path]        # keypoints name -> vp3d_preprocess.py's output (-a Walk,Jog,Box, default length)
    checkpoints: dict             # keypoints name -> {'conv1d', 'conv2d_module'} -> path
    upstream: dict                # upstream_eval.json: keypoints name -> {"subjects", "actions", "average"}
    outputs: dict                 # '<keypoints>/<subject>/<action>' -> upstream's raw output's first and last frames
    raw_frames: list


@pytest.fixture(scope="module")
def humaneva(tmp_path_factory) -> HumanEvaCase:
    tmp = tmp_path_factory.mktemp("golden_humaneva")
    fixture = json.loads((HE_FIXTURE / "fixture.json").read_text())
    inputs = write_humaneva_inputs(tmp / "inputs")
    if inputs.fingerprint != fixture["fingerprint"]:
        pytest.fail("tests/golden_case.py generates other HumanEva inputs than tests/fixtures/golden_humaneva15/ was "
                    "made from: run scripts/make_golden.py --dataset humaneva15 --upstream <VideoPose3D checkout at "
                    "1afb1ca> and commit the fixture", pytrace=False)
    preps = {}
    for keypoints in HE_KEYPOINTS:          # the command line, as upstream's run.py takes its flags
        preps[keypoints] = tmp / f"prep_{keypoints}"
        assert vp3d_preprocess.main(["-d", str(inputs.data), "--dataset", "humaneva15", "-k", keypoints,
                                     "--subjects-test", ",".join(fixture["subjects_test"]),
                                     "-a", ",".join(fixture["action_filter"]), "-arc", "3,3,3",
                                     "-s", str(preps[keypoints])]) == 0
    with np.load(HE_FIXTURE / "upstream_first_sequence_outputs.npz") as outputs:
        return HumanEvaCase(preps, inputs.checkpoints, json.loads((HE_FIXTURE / "upstream_eval.json").read_text()),
                            dict(outputs), fixture["raw_frames"])


def assert_tables(ours: dict, theirs: dict, where: str) -> None:
    """Per action frames and the four protocols within TOLERANCE_MM, in upstream's order; the averages too."""
    assert list(ours["actions"]) == list(theirs["actions"]), where
    for action, expected in theirs["actions"].items():
        assert ours["actions"][action]["frames"] == expected["frames"], (where, action)
        for metric in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"):
            assert ours["actions"][action][metric] == pytest.approx(expected[metric], abs=TOLERANCE_MM), \
                (where, action, metric)
    for metric, value in theirs["average"].items():
        assert ours["average"][metric] == pytest.approx(value, abs=TOLERANCE_MM), (where, metric)


@pytest.mark.parametrize("keypoints", list(HE_KEYPOINTS))
@pytest.mark.parametrize("ckpt,weight_layout", [("conv2d_module", "conv2d"), ("conv1d", "conv1d")])
def test_humaneva_pipeline_reproduces_upstream_by_subject(humaneva, tmp_path, capsys, keypoints, ckpt, weight_layout):
    prep, res = humaneva.preps[keypoints], tmp_path / "res"
    onnx_path = tmp_path / "m.onnx"
    # the joint counts (15 or 17 in, 15 out) and the default length (HumanEva-I's 855) come from the weights
    assert vp3d_pth2onnx.main(["-m", str(humaneva.checkpoints[keypoints][ckpt]), "-o", str(onnx_path),
                               "--weight-layout", weight_layout]) == 0
    assert vp3d_infer.main(["--model", str(onnx_path), "--input", str(prep / "inputs"), "--output", str(res),
                            "--output_dirname", "run"]) == 0
    capsys.readouterr()
    assert vp3d_postprocess.main(["--preprocess-data", str(prep), "--infer-results", str(res / "run"),
                                  "--by-subject", "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    ours, theirs = json.loads((tmp_path / "r.json").read_text()), humaneva.upstream[keypoints]
    assert list(ours["subjects"]) == list(theirs["subjects"])
    for subject, tables in theirs["subjects"].items():
        assert_tables(ours["subjects"][subject], tables, subject)
        block = printed.split(f"Evaluating on subject {subject}\n")[1]      # what the table prints, per subject
        for action, expected in tables["actions"].items():
            row = next(line.split() for line in block.splitlines() if line.startswith(action))
            assert [float(v) for v in row[2:4]] == pytest.approx([expected["mpjpe"], expected["p_mpjpe"]], abs=0.0051)
    assert_tables(ours, theirs, "all subjects")           # upstream's run without --by-subject

    manifest = Manifest.read(prep)
    first = {}
    for e in manifest.entries:
        first.setdefault((e.subject, e.group), e)
    assert sorted(f"{keypoints}/{s}/{g}" for s, g in first) == sorted(k for k in humaneva.outputs
                                                                         if k.startswith(f"{keypoints}/"))
    for (subject, group), e in first.items():
        y = read_array(res / "run" / f"{e.name}_0.bin", (2, manifest.output_length(e), 15, 3))[:, :e.frames]
        n, m = humaneva.raw_frames
        np.testing.assert_allclose(np.concatenate([y[:, :n], y[:, e.frames - m:]], axis=1),
                                   humaneva.outputs[f"{keypoints}/{subject}/{group}"], atol=TOLERANCE_RAW,
                                   err_msg=f"{subject} {group}")
