"""Stage 4, evaluation: upstream's averaging of the errors, the model checked against the inputs."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from h36m_data import TINY_SEQUENCES

import vp3d_postprocess
from vp3d.errors import Vp3dError
from vp3d.facts.metrics import mpjpe
from vp3d.io.files import read_array
from vp3d.io.poses import read_poses_npz
from vp3d.pipeline.evaluation import ActionErrors, Results, check_summary
from vp3d.pipeline.sequences import Manifest

SWAP = [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]   # Human3.6M 17 joints, left <-> right


def test_saved_predictions_are_the_evaluated_arrays(run, tmp_path):
    assert vp3d_postprocess.main(["--preprocess-data", str(run / "prep"), "--infer-results", str(run / "res" / "r"),
                                  "--json", str(tmp_path / "r.json"), "--save-predictions", str(tmp_path / "p.npz")]) == 0
    poses = read_poses_npz(tmp_path / "p.npz")
    m = Manifest.read(run / "prep")
    assert len(m.entries) == TINY_SEQUENCES and list(poses) == [e.name for e in m.entries]
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
    assert list(sums) == list(report["actions"]) == ["Directions", "Walking", "Sitting"]     # TINY_ACTIONS' groups
    for group, (total, frames) in sums.items():       # recomputed from the saved arrays alone
        assert report["actions"][group]["mpjpe"] == pytest.approx(1000 * total / frames, rel=1e-6)
    assert report["model"] == "m.onnx (onnxruntime, f32)" and report["data"] == "S9,S11 · cpn_ft_h36m_dbb"


def _offset_poses(root, shifts_m):
    """(T, 2, 3) ground truth with its root at `root` (zeroed by ActionErrors) and a prediction whose second
    joint is off by shifts_m[t] metres along x: per frame, MPJPE = shift / 2 (mean over the two joints)."""
    t = len(shifts_m)
    gt = np.zeros((t, 2, 3))
    gt[:, 0] = root
    gt[:, 1] = [0.1, 0.2, 0.3]
    pred = np.zeros((t, 2, 3))
    pred[:, 1] = gt[:, 1] + np.stack([shifts_m, np.zeros(t), np.zeros(t)], -1)
    return pred, gt


def test_action_errors_average_per_sequence_then_frame_weighted_per_action_then_over_actions():
    """By hand, in mm: Walk has a 2-frame sequence (1 and 2 mm: 1.5) and a 4-frame one (5 mm):
    (2 * 1.5 + 4 * 5) / 6 = 23/6; Sit one 1-frame sequence of 10 mm; the average is over the two actions,
    (23/6 + 10) / 2, not over the 7 frames ((3 + 20 + 10) / 7) nor over sequences."""
    errors = ActionErrors(("mpjpe",))
    errors.add("Walk", *_offset_poses([1.0, 2.0, 3.0], [0.002, 0.004]))
    errors.add("Walk", *_offset_poses([0.5, 0.0, 4.0], [0.010] * 4))
    errors.add("Sit", *_offset_poses([0.0, 0.0, 0.0], [0.020]))
    r = errors.results()
    assert r.actions["Walk"]["mpjpe"] == pytest.approx(23 / 6) and r.actions["Walk"]["frames"] == 6
    assert r.actions["Sit"]["mpjpe"] == pytest.approx(10.0) and r.actions["Sit"]["frames"] == 1
    assert r.average["mpjpe"] == pytest.approx((23 / 6 + 10) / 2)
    assert list(r.actions) == ["Walk", "Sit"]


def test_action_errors_leave_the_callers_ground_truth_alone():
    pred, gt = _offset_poses([1.0, 2.0, 3.0], [0.002])
    kept = gt.copy()
    ActionErrors(("mpjpe",)).add("Walk", pred, gt)
    np.testing.assert_array_equal(gt, kept)


def _manifest(rf=27, causal=False):
    return SimpleNamespace(receptive_field=rf, causal=causal)


def test_check_summary_refuses_a_model_that_does_not_fit_the_inputs(tmp_path):
    results = tmp_path / "res" / "run"
    results.mkdir(parents=True)
    assert check_summary("prep", results, _manifest()) == {}                    # no summary: nothing to check
    summary = tmp_path / "res" / "run_summary.json"
    summary.write_text(json.dumps({"model": "m9.onnx", "receptive_field": 9, "causal": False}))
    with pytest.raises(Vp3dError, match=r"run: predictions of m9\.onnx \(receptive field 9\), but the inputs in prep "
                                        r"were prepared for receptive field 27"):
        check_summary("prep", results, _manifest())
    summary.write_text(json.dumps({"model": "c.onnx", "receptive_field": 27, "causal": True}))
    with pytest.raises(Vp3dError, match=r"predictions of a causal model \(c\.onnx\), but the inputs in prep were "
                                        r"prepared for a non-causal one"):
        check_summary("prep", results, _manifest())
    assert check_summary("prep", results, _manifest(causal=True))["model"] == "c.onnx"
    summary.write_text(json.dumps({"NPU_compute_time": {}}))                    # ais_bench's: no facts
    assert check_summary("prep", results, _manifest()) == {"NPU_compute_time": {}}
    summary.write_text("{not json")
    with pytest.raises(Vp3dError, match="run_summary.json: not valid JSON"):
        check_summary("prep", results, _manifest())


def test_action_errors_by_subject_average_each_subjects_sequences():
    """By hand, in mm: S1 Walk 2 frames at 2 mm, S2 Walk 6 frames at 10 mm and S2 Box 1 frame at 4 mm.
    S1: Walk 2, average 2; S2: Walk 10, Box 4, average 7; all: Walk (2*2 + 6*10) / 8 = 8, Box 4, average 6."""
    errors = ActionErrors(("mpjpe",))
    errors.add("Walk", *_offset_poses([0.0, 0.0, 1.0], [0.004] * 2), subject="S1")
    errors.add("Walk", *_offset_poses([0.0, 0.0, 2.0], [0.020] * 6), subject="S2")
    errors.add("Box", *_offset_poses([0.0, 0.0, 2.0], [0.008]), subject="S2")
    s1, s2, every = errors.results("S1"), errors.results("S2"), errors.results()
    assert errors.subjects == ["S1", "S2"] and list(s1.actions) == ["Walk"] and list(s2.actions) == ["Walk", "Box"]
    assert s1.average["mpjpe"] == pytest.approx(2) and s2.average["mpjpe"] == pytest.approx(7)
    assert every.actions["Walk"]["mpjpe"] == pytest.approx(8) and every.actions["Walk"]["frames"] == 8
    assert every.average["mpjpe"] == pytest.approx(6)


def test_by_subject_results_round_trip_through_the_json(tmp_path):
    errors = ActionErrors()
    for subject, shift in (("Validate/S1", 0.004), ("Validate/S2", 0.010)):
        errors.add("Walking", *_offset_poses([0.0, 0.0, 1.0], [shift, shift, 2 * shift]), subject=subject)
    results = errors.results()
    results.subjects = {s: errors.results(s) for s in errors.subjects}
    obj = results.to_json()
    assert list(obj["subjects"]) == ["Validate/S1", "Validate/S2"]
    assert set(obj["subjects"]["Validate/S1"]) == {"actions", "average"}
    (tmp_path / "r.json").write_text(json.dumps(obj))
    back = Results.read(tmp_path / "r.json")
    assert back.subjects["Validate/S2"].actions == results.subjects["Validate/S2"].actions
    assert back.to_json() == obj
