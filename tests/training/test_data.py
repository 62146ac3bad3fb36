"""What training reads: upstream's fetch() order, subsets, dataset names and folders, cameras of your own, bad data."""
import numpy as np
import pytest
from h36m_data import make_positions, write_dataset
from one_line_errors import check_one_line_error

import vp3d_preprocess
import vp3d_synthesize
import vp3d_train
from vp3d.errors import Vp3dError
from vp3d.facts.cameras import normalize_screen_coordinates
from vp3d.facts.datasets import dataset
from vp3d.io.datasets import load_cameras, load_dataset
from vp3d.io.datasets import resolve_dataset
from vp3d.training.data import deterministic_random, load_training_data
from vp3d.training.synthetic import random_cameras


def test_deterministic_random_gives_upstreams_numbers():
    # upstream's common/utils.deterministic_random at 1afb1ca printed these
    assert [deterministic_random(0, 100, "1234"), deterministic_random(0, 57, "180"),
            deterministic_random(5, 10 ** 6, "abc")] == [25, 33, 746437]


@pytest.fixture(scope="module")
def reordered(tmp_path_factory):
    """A dataset whose 2D file lists S1's actions in another order than its 3D file."""
    pos3d, pos2d = make_positions({"S1": ["Walking", "Directions", "Walking 1"], "S9": ["Eating"]}, seed=4,
                                  frames=(50, 70))
    pos2d["S1"] = {a: pos2d["S1"][a] for a in ["Walking 1", "Directions", "Walking"]}
    return write_dataset(tmp_path_factory.mktemp("reordered"), pos3d, pos2d)


def test_sequences_come_in_the_2d_files_order_filtered_by_action_prefix(reordered):
    data = load_training_data(reordered, subjects_train=["S1"], subjects_test=["S9"])
    assert [(s.action, s.camera) for s in data.train] == [(a, c) for a in ["Walking 1", "Directions", "Walking"]
                                                          for c in range(4)]
    walking = load_training_data(reordered, subjects_train=["S1"], subjects_test=["S9"], actions=["Walk"])
    assert [s.action for s in walking.train[::4]] == ["Walking 1", "Walking"] and walking.test == []


def test_subset_keeps_a_window_where_upstream_keeps_it(reordered):
    full = load_training_data(reordered, subjects_train=["S1"], subjects_test=["S9"])
    part = load_training_data(reordered, subjects_train=["S1"], subjects_test=["S9"], subset=0.3, downsample=2)
    assert len(full.train) == len(part.train) == 3 * 4             # S1's 3 takes seen by 4 cameras
    for f, p in zip(full.train, part.train, strict=True):
        t = f.poses_2d.shape[0]
        n = int(round(t // 2 * 0.3) * 2)
        start = deterministic_random(0, t - n + 1, str(t))
        np.testing.assert_array_equal(p.poses_3d, f.poses_3d[start:start + n:2])
        np.testing.assert_array_equal(p.poses_2d, f.poses_2d[start:start + n:2])
    assert part.test[0].poses_2d.shape[0] == (full.test[0].poses_2d.shape[0] + 1) // 2     # not a subset


def test_unlabeled_subjects_need_no_3d(tmp_path):
    pos3d, pos2d = make_positions({"S1": ["Walking"], "S5": ["Eating"]}, seed=6, frames=(40, 50))
    del pos3d["S5"]                                      # S5: video only
    d = write_dataset(tmp_path, pos3d, pos2d)
    data = load_training_data(d, subjects_train=["S1"], subjects_test=[], subjects_unlabeled=["S5"])
    assert len(data.unlabeled) == 4 and all(s.poses_3d is None and s.intrinsics.shape == (9,) for s in data.unlabeled)
    assert data.unlabeled[0].poses_2d.shape[0] == pos2d["S5"]["Eating"][0].shape[0]     # untrimmed: no mocap
    with pytest.raises(Vp3dError, match="subject S5 is not in the 3D data"):
        load_training_data(d, subjects_train=["S5"], subjects_test=[])


def test_a_dataset_is_named_as_upstream_names_it_or_found_in_its_folder(tmp_path, monkeypatch, reordered):
    h36m = dataset("h36m")
    assert resolve_dataset(str(reordered), None) == (reordered, h36m)
    monkeypatch.chdir(tmp_path)
    assert resolve_dataset("h36m", None) == (tmp_path.joinpath("data").relative_to(tmp_path), h36m)   # data/
    assert resolve_dataset(None, "h36m")[0].name == "data"
    assert resolve_dataset(None, str(reordered)) == (reordered, h36m)        # vp3d's old --dataset FOLDER
    with pytest.raises(Vp3dError, match="unknown dataset 'humaneva99'"):
        resolve_dataset(str(reordered), "humaneva99")


def test_cameras_of_your_own_travel_in_the_3d_file_and_normalise_the_2d(tmp_path, capsys):
    assert vp3d_synthesize.main(["-o", str(tmp_path), "--subjects", "S1,S9", "--cameras", "random"]) == 0
    cams = load_cameras(tmp_path / "data_3d_h36m.npz")
    expected = random_cameras(["S1", "S9"], 0)
    assert list(cams) == ["S1", "S9"] and all(c.res_w == 1920 and c.res_h == 1080 for c in cams["S1"])
    assert len(cams["S9"]) == len(expected["S9"]) == 4
    for a, b in zip(cams["S9"], expected["S9"], strict=True):
        np.testing.assert_array_equal(a.orientation, b.orientation)
        np.testing.assert_array_equal(a.focal_length, b.focal_length)
    data = load_dataset(tmp_path)
    seq = data.sequences(["S9"])[2]
    raw = data.positions_2d["S9"][seq.action][seq.camera][:seq.poses_2d.shape[0]]
    np.testing.assert_array_equal(seq.poses_2d, normalize_screen_coordinates(raw, 1920, 1080))
    # the bodies are in front of every camera and inside its image
    train = load_training_data(tmp_path, subjects_train=["S1"], subjects_test=["S9"], subjects_unlabeled=["S9"])
    assert min(s.poses_3d[:, 0, 2].min() for s in train.train) > 2
    assert max(np.abs(s.poses_2d).max() for s in train.unlabeled) < 1


@pytest.mark.parametrize("change, message", [
    (lambda c: c["S9"][1].pop("focal_length"), "'cameras' S9 camera 1: expected a dict with res_w, res_h, focal_length"),
    (lambda c: c["S9"][0].update(orientation=[1.0, 0.5, 0, 0]), "'cameras' S9 camera 0: 'orientation' must be a unit quaternion"),
    (lambda c: c["S9"][2].update(center=[1.0, float("nan")]), "'cameras' S9 camera 2: 'center' must be 2 finite number(s)"),
    (lambda c: c["S9"].pop(), "S9 'Directions' has 4 cameras, expected 3"),
])
def test_bad_cameras_are_refused_in_one_line_by_training_and_preprocessing(tmp_path, capsys, change, message):
    pos3d, pos2d = make_positions({"S9": ["Directions"]}, seed=7, frames=(40, 50))
    cams = {s: [dict(id=c.id, res_w=c.res_w, res_h=c.res_h, focal_length=c.focal_length, center=c.center,
                     orientation=c.orientation, translation=c.translation) for c in v]
            for s, v in random_cameras(["S9"]).items()}
    change(cams)
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=pos3d, cameras=cams)
    write_dataset(tmp_path / "x", pos3d, pos2d)
    (tmp_path / "x" / "data_2d_h36m_cpn_ft_h36m_dbb.npz").rename(tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    rc = vp3d_train.main(["-d", str(tmp_path), "-str", "S9", "-ste", "S9", "-o", str(tmp_path / "m.bin"), "-e", "1"])
    line = check_one_line_error(capsys.readouterr().err, rc, message)
    assert "data_3d_h36m.npz" in line or "data_2d" in line
    rc = vp3d_preprocess.main(["-d", str(tmp_path), "-s", str(tmp_path / "prep"), "--subjects-test", "S9"])
    check_one_line_error(capsys.readouterr().err, rc, message)
    assert not (tmp_path / "m.bin").exists() and not (tmp_path / "prep").exists()
