"""vp3d_train.py against upstream VideoPose3D's own run.py (1afb1ca) training the same case: the weights after
each epoch within 1e-4 (relative, per tensor) and the printed per-epoch errors within 0.01 mm (2D errors: 1e-5 of
the normalised screen), supervised, semi-supervised, and supervised with --dense (upstream's ablation).

'fixture': the inputs are regenerated from a seed (train_case.py), upstream's results come from tests/fixtures/
train/, which scripts/make_train_golden.py made by running upstream's run.py. 'live' (VP3D_UPSTREAM=<checkout at
1afb1ca>): upstream's run.py trains here and now, through the same script's run_upstream().
"""
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vp3d_train
from vp3d.model import checkpoint

import golden_case
import train_case
from repo_paths import ROOT

TOLERANCE_WEIGHTS = 1e-4        # relative, per tensor: |vp3d - upstream| / |upstream|
TOLERANCE_MM = 0.01             # printed 3D and trajectory errors
TOLERANCE_2D = 1e-5             # printed 2D errors, normalised screen units (1e-5 of the width ~ 0.01 px)
UPSTREAM = os.environ.get("VP3D_UPSTREAM")


def checked_inputs(made: train_case.TrainInputs, fixture: Path, flags: str = "") -> train_case.TrainInputs:
    """`made`, where the fixture was made from the same inputs (its fingerprint); the test fails otherwise."""
    if made.fingerprint != json.loads((fixture / "fixture.json").read_text())["fingerprint"]:
        pytest.fail(f"tests/train_case.py generates other inputs than {fixture.relative_to(ROOT)} was made from: run "
                    f"scripts/make_train_golden.py --upstream <VideoPose3D checkout at 1afb1ca>{flags} and commit the "
                    f"fixture", pytrace=False)
    return made


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> train_case.TrainInputs:
    return checked_inputs(train_case.write_train_inputs(tmp_path_factory.mktemp("train_case")), train_case.FIXTURE)


def upstream_from_fixture(run: str, fixture: Path = train_case.FIXTURE) -> dict:
    """{'epochs': printed records, 'weights': {epoch: {'model_pos': {...}, 'model_traj': {...} or None}}}."""
    printed = json.loads((fixture / "upstream_train.json").read_text())[run]
    weights: dict = {}
    with np.load(fixture / "upstream_weights.npz") as f:
        for key in f.files:
            name, epoch, model, tensor = key.split("/", 3)
            if name == run:
                weights.setdefault(int(epoch.split("_")[1]), {}).setdefault(model, {})[tensor] = f[key]
    return {"epochs": printed["epochs"], "weights": weights}


def train_vp3d(run: str, inputs, out: Path, capsys) -> tuple[str, dict]:
    """vp3d_train.py on the case, one thread (as upstream's run), a checkpoint after every epoch in OUT."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = vp3d_train.main(train_case.vp3d_args(run, inputs, out) +
                             ["-c", str(out), "--checkpoint-frequency", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr()
    assert rc == 0, text.err
    saved = {e: checkpoint.load_raw(out / f"epoch_{e}.bin") for e in range(1, train_case.EPOCHS + 1)}
    return text.out + text.err, saved


def compare(run: str, upstream: dict, printed: str, saved: dict) -> None:
    ours = re.findall(r"^\[\d+\] time .*$", printed, re.M)
    assert len(ours) == len(upstream["epochs"]) == train_case.EPOCHS, printed
    for line, theirs in zip(ours, upstream["epochs"], strict=True):
        words = line.split()
        assert words[0] == f"[{theirs['epoch']}]" and float(words[4]) == pytest.approx(theirs["lr"], rel=1e-6)
        values = dict(zip(words[5::2], map(float, words[6::2])))
        expected = {k: v for k, v in theirs.items() if k not in ("line", "epoch", "lr")}
        assert list(values) == list(expected), (line, theirs["line"])        # the same errors, in upstream's order
        for name, value in expected.items():
            tolerance = TOLERANCE_2D if name.startswith("2d") else TOLERANCE_MM
            assert values[name] == pytest.approx(value, abs=tolerance), (run, theirs["epoch"], name, line, theirs["line"])
    for epoch, models in upstream["weights"].items():
        raw = saved[epoch]
        assert raw["epoch"] == epoch
        for model, tensors in models.items():
            assert set(tensors) <= set(raw[model]), (model, sorted(raw[model]))
            for name, value in tensors.items():
                mine = raw[model][name].numpy()
                error = np.linalg.norm(mine - value) / np.linalg.norm(value)
                assert error <= TOLERANCE_WEIGHTS, f"{run} epoch {epoch} {model}.{name}: relative difference {error:.2e}"
        if run in ("supervised", "dense"):
            assert raw["model_traj"] is None and raw["random_state_semi"] is None


@pytest.mark.parametrize("run", list(train_case.RUNS))
def test_training_equals_upstream_run_py(run, inputs, tmp_path, capsys):
    printed, saved = train_vp3d(run, inputs, tmp_path / run, capsys)
    compare(run, upstream_from_fixture(run), printed, saved)
    last = checkpoint.load_raw(tmp_path / run / "last.bin")          # -o: the last epoch, in upstream's keys
    assert last["epoch"] == train_case.EPOCHS and set(last) >= {"epoch", "lr", "random_state", "optimizer",
                                                                "model_pos", "model_traj", "random_state_semi"}
    assert last["model_args"]["dense"] == (run == "dense")          # what later stages read


@pytest.mark.slow
@pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca")
@pytest.mark.parametrize("run", list(train_case.RUNS))
def test_training_equals_a_live_upstream_run(run, inputs, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_train_golden
    upstream = make_train_golden.run_upstream(Path(UPSTREAM), tmp_path / "upstream", inputs, run)
    capsys.readouterr()
    printed, saved = train_vp3d(run, inputs, tmp_path / "vp3d", capsys)
    upstream["weights"] = {e: {k: {n: v for n, v in (s or {}).items() if v.dtype == np.float32}
                               for k, s in models.items() if s is not None}
                           for e, models in upstream["weights"].items()}
    compare(run, upstream, printed, saved)


def test_a_semi_supervised_checkpoint_lifts_with_its_trajectory_and_exports(inputs, tmp_path, capsys):
    """vp3d's semi-supervised files hold model_traj: vp3d.load_model adds the trajectory (the root's camera-frame
    position) to the poses, as for upstream's semi-supervised files; the stages export the pose model."""
    import vp3d
    import vp3d_pth2onnx
    from vp3d.training.data import load_training_data
    printed, saved = train_vp3d("semi", inputs, tmp_path / "semi", capsys)
    path = tmp_path / "semi" / "last.bin"
    pos, traj = checkpoint.load_with_trajectory(path)
    assert traj is not None and traj.config.num_joints_out == 1
    seq = load_training_data(inputs.data, subjects_train=["S9"], subjects_test=[]).train[0]
    lifter = vp3d.load_model(path, layout="h36m")
    assert lifter.trajectory is not None
    poses = lifter.lift(seq.poses_2d, normalized=True)
    checkpoint.save(tmp_path / "pose_only.bin", pos)
    relative = vp3d.load_model(tmp_path / "pose_only.bin", layout="h36m").lift(seq.poses_2d, normalized=True)
    pad = pos.receptive_field // 2
    x = torch.from_numpy(np.pad(seq.poses_2d, ((pad, pad), (0, 0), (0, 0)), "edge")[None])
    left, right = golden_case.KEYPOINTS_SYMMETRY
    mirrored = x.clone()
    mirrored[:, :, left + right] = x[:, :, right + left]
    mirrored[..., 0] *= -1
    with torch.no_grad():      # the input mirrored (left and right swapped), the output's x negated back, averaged
        trajectory = (traj(x)[0] + traj(mirrored)[0] * torch.tensor([-1.0, 1, 1])) / 2
    np.testing.assert_allclose(poses - relative, np.broadcast_to(trajectory.numpy(), poses.shape), atol=2e-5)
    assert 3 < poses[:, 0, 2].mean() < 7                                                  # metres in front of the camera
    assert vp3d_pth2onnx.main(["-m", str(path), "-o", str(tmp_path / "semi.onnx"), "--length", "64"]) == 0


@pytest.fixture(scope="module")
def he_inputs(tmp_path_factory) -> train_case.TrainInputs:
    return checked_inputs(train_case.write_humaneva_train_inputs(tmp_path_factory.mktemp("train_he")),
                          train_case.HE_FIXTURE, " --dataset humaneva15")


@pytest.mark.slow
@pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca")
def test_humaneva_training_equals_a_live_upstream_run(he_inputs, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_train_golden
    upstream = make_train_golden.run_upstream(Path(UPSTREAM), tmp_path / "upstream", he_inputs, "humaneva")
    capsys.readouterr()
    printed, saved = train_vp3d("humaneva", he_inputs, tmp_path / "vp3d", capsys)
    upstream["weights"] = {e: {k: {n: v for n, v in s.items() if v.dtype == np.float32}
                               for k, s in models.items() if s is not None}
                           for e, models in upstream["weights"].items()}
    compare("humaneva", upstream, printed, saved)


def test_humaneva_training_equals_upstream_run_py(he_inputs, tmp_path, capsys):
    """Upstream's HumanEva-I command line (-d humaneva15 -k detectron_pt_coco -str Train/S1,Train/S2,Train/S3 -ste
    Validate/S1,Validate/S2,Validate/S3 -b 128 -lrd 0.996 -a Walk,Jog,Box --by-subject): the weights after each
    epoch and the printed errors as upstream's, and the final evaluation's tables per subject within 0.01 mm."""
    from vp3d.pipeline.evaluation import Results
    from vp3d.io.datasets import resolve_dataset
    from vp3d.training.data import load_training_data
    from vp3d.training.train import evaluate
    inputs = he_inputs
    printed, saved = train_vp3d("humaneva", inputs, tmp_path, capsys)
    compare("humaneva", upstream_from_fixture("humaneva", train_case.HE_FIXTURE), printed, saved)
    theirs = json.loads((train_case.HE_FIXTURE / "upstream_train.json").read_text())["humaneva"]["final_by_subject"]
    assert re.findall(r"^Evaluating on subject (\S+)$", printed, re.M) == list(theirs)
    # the numbers behind those tables, unrounded: the last epoch's model evaluated as vp3d_train.py evaluates it
    folder, facts = resolve_dataset(str(inputs.data), None)
    data = load_training_data(folder, facts, "detectron_pt_coco", subjects_test=list(theirs), actions=["Walk", "Jog", "Box"])
    ours: Results = evaluate(checkpoint.load(tmp_path / "last.bin"), data)
    for subject, tables in theirs.items():
        assert list(ours.subjects[subject].actions) == list(tables["actions"])
        for action, metrics in tables["actions"].items():
            for key, value in metrics.items():
                assert ours.subjects[subject].actions[action][key] == pytest.approx(value, abs=TOLERANCE_MM), \
                    (subject, action, key)
