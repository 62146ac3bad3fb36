"""HumanEva-I through the scripts: what fits runs, what does not is refused in one line naming both sides, exit 2,
nothing written. (The numbers against upstream's run.py: test_golden.py.)"""
import json

import pytest
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.model import checkpoint

SUBJECTS = "Validate/S1,Validate/S2,Validate/S3"


@pytest.fixture(scope="module")
def he(humaneva_dataset, tmp_path_factory):
    """Both 2D files preprocessed (RF 9, own length), a model of each exported (dynamic), and an H36M model."""
    d = tmp_path_factory.mktemp("he")
    for kp, joints in (("gt", 15), ("detectron_pt_coco", 17)):
        assert vp3d_preprocess.main(["-d", str(humaneva_dataset), "--dataset", "humaneva15", "-k", kp, "-ste", SUBJECTS,
                                     "-arc", "3,3", "--max-length", "0", "-s", str(d / f"prep_{kp}")]) == 0
        checkpoint.save(d / f"{kp}.bin", random_model((3, 3), 16, seed=joints, joints_in=joints, joints_out=15))
        assert vp3d_pth2onnx.main(["-m", str(d / f"{kp}.bin"), "-o", str(d / f"{kp}.onnx"), "--dynamic"]) == 0
    checkpoint.save(d / "h36m.bin", random_model((3, 3), 16, seed=1))
    assert vp3d_pth2onnx.main(["-m", str(d / "h36m.bin"), "-o", str(d / "h36m.onnx"), "--dynamic"]) == 0
    assert vp3d_infer.main(["--model", str(d / "gt.onnx"), "--input", str(d / "prep_gt" / "inputs"),
                            "--output", str(d / "res"), "--output_dirname", "r"]) == 0
    return d


def test_the_manifest_carries_the_datasets_facts(he):
    m = json.loads((he / "prep_detectron_pt_coco" / "manifest.json").read_text())
    assert (m["dataset"], m["num_keypoints"], m["num_joints"], m["keypoints"]) == ("humaneva15", 17, 15,
                                                                                  "detectron_pt_coco")
    assert m["joint_symmetry"] == [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]
    assert m["keypoint_symmetry"] == [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]


@pytest.mark.parametrize("model,prep,fragments", [
    ("gt.onnx", "prep_detectron_pt_coco", ["model takes 15 keypoints", "prepared for 17 ('detectron_pt_coco')"]),
    ("detectron_pt_coco.onnx", "prep_gt", ["model takes 17 keypoints", "prepared for 15 ('gt')"]),
    ("h36m.onnx", "prep_detectron_pt_coco", ["model gives 17 joints (h36m)", "prepared for humaneva15's 15"]),
])
def test_a_model_that_does_not_fit_the_inputs_is_refused(he, tmp_path, capsys, model, prep, fragments):
    rc = vp3d_infer.main(["--model", str(he / model), "--input", str(he / prep / "inputs"),
                          "--output", str(tmp_path / "res"), "--output_dirname", "r"])
    one_line_error(capsys, rc, str(he / model), *fragments)
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("args,fragments", [
    (["-ste", "Validate/S1,Validate/S4"], ["subject Validate/S4 is not in the 3D data", "has Train/S1, Train/S2"]),
    (["-a", "Walk,Run"], ["no action starts with 'Run'", "Walking, Jog, ThrowCatch, Gestures, Box"]),
    (["--dataset", "h36m"], ["no data_3d_h36m.npz for --dataset h36m", "holds data_3d_humaneva15.npz"]),
])
def test_preprocess_refuses_what_the_data_do_not_hold(humaneva_dataset, tmp_path, capsys, args, fragments):
    rc = vp3d_preprocess.main(["-d", str(humaneva_dataset), "-k", "gt", "-s", str(tmp_path / "prep"), *args])
    one_line_error(capsys, rc, *fragments)
    assert not (tmp_path / "prep").exists()


def test_postprocess_refuses_an_unknown_action_filter(he, tmp_path, capsys):
    rc = vp3d_postprocess.main(["--preprocess-data", str(he / "prep_gt"), "--infer-results", str(he / "res" / "r"),
                                "-a", "Walk,Throw,Kick", "--json", str(tmp_path / "r.json")])
    one_line_error(capsys, rc, "no action starts with 'Kick'", str(he / "prep_gt"), "Walking, Jog, ThrowCatch")
    assert not (tmp_path / "r.json").exists()


def test_postprocess_filters_actions_as_upstream(he, tmp_path):
    """-a keeps the action groups starting with a prefix; their numbers do not change with what else is scored."""
    out = {}
    for name, extra in (("all", []), ("some", ["-a", "Walk,Throw"])):
        assert vp3d_postprocess.main(["--preprocess-data", str(he / "prep_gt"), "--infer-results",
                                      str(he / "res" / "r"), "--by-subject", "--json", str(tmp_path / f"{name}.json"),
                                      *extra]) == 0
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert list(out["all"]["actions"]) == ["Walking", "Jog", "ThrowCatch", "Gestures", "Box"]
    assert list(out["some"]["actions"]) == ["Walking", "ThrowCatch"]
    assert list(out["some"]["subjects"]["Validate/S3"]["actions"]) == ["Walking"]      # S3 has no ThrowCatch
    assert sorted(out["some"]["subjects"]) == SUBJECTS.split(",")
    for subject, tables in out["some"]["subjects"].items():
        for action, row in tables["actions"].items():
            assert row == out["all"]["subjects"][subject]["actions"][action]


def test_vp3d_train_runs_upstreams_humaneva_command_line(humaneva_dataset, tmp_path, monkeypatch, capsys):
    """upstream's README command for HumanEva-I, its files in data/ as upstream keeps them (one epoch of a narrow
    model here); the checkpoint carries HumanEva-I's facts, so the stages and lifting take it as upstream's."""
    import vp3d
    import vp3d_train
    (tmp_path / "data").symlink_to(humaneva_dataset)
    monkeypatch.chdir(tmp_path)
    assert vp3d_train.main(["-d", "humaneva15", "-k", "detectron_pt_coco", "-str", "Train/S1,Train/S2,Train/S3",
                            "-ste", SUBJECTS, "-b", "128", "-e", "1", "-lrd", "0.996", "-a", "Walk,Jog,Box",
                            "--by-subject", "-arc", "3,3", "-ch", "16", "-o", "he.bin", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("Evaluating on subject")] == \
        [f"Evaluating on subject {s}" for s in SUBJECTS.split(",")]
    blocks = out.split("Evaluating on subject ")[1:]
    assert all([row.split()[0] for row in b.splitlines()[2:5]] == ["Walking", "Jog", "Box"] for b in blocks)
    c = checkpoint.load(tmp_path / "he.bin").config
    assert (c.num_joints_in, c.num_joints_out, c.dataset, c.fps) == (17, 15, "humaneva15", 60)
    lifter = vp3d.load_model(tmp_path / "he.bin")
    assert (lifter.layout.name, lifter.skeleton.num_joints) == ("coco", 15)


def test_semi_supervised_humaneva_training_is_refused_as_upstream_refuses_it(humaneva_dataset, tmp_path, capsys):
    import vp3d_train
    rc = vp3d_train.main(["-d", str(humaneva_dataset), "-k", "detectron_pt_coco", "-sun", "Unlabeled/Validate/S1",
                          "-e", "1", "-ch", "16", "-o", str(tmp_path / "m.bin")])
    one_line_error(capsys, rc, "semi-supervised training projects through the cameras' intrinsics",
                   "HumanEva-I's, as upstream carries them", "train without -sun")
    assert not list(tmp_path.iterdir())
