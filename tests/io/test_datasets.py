import numpy as np
import pytest
from h36m_data import TINY_ACTIONS, make_positions

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import (
    h36m_cameras,
    humaneva_cameras,
    normalize_screen_coordinates,
    world_to_camera,
)
from vp3d.facts.skeleton import kept_joints
from vp3d.io.datasets import load_dataset, load_keypoints, load_positions_3d, prepare_sequences
from vp3d.io.npz import load_npz_key


def test_real_format_round_trip(tiny_dataset):
    pos3d = load_positions_3d(tiny_dataset / "data_3d_h36m.npz")
    pos2d, meta = load_keypoints(tiny_dataset / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    assert list(pos3d) == ["S9", "S11"] and list(pos3d["S9"]) == TINY_ACTIONS["S9"]
    assert meta["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert len(pos2d["S11"]["Walking"]) == 4 and pos2d["S11"]["Walking"][0].dtype == np.float32


def test_sequences_are_grouped_and_ordered_as_upstream(tiny_dataset):
    pos3d = load_positions_3d(tiny_dataset / "data_3d_h36m.npz")
    pos2d, _ = load_keypoints(tiny_dataset / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    seqs = prepare_sequences(pos3d, pos2d, ["S9", "S11"])
    order = [(s.group, s.subject, s.action, s.camera) for s in seqs]
    expected = [(g, subj, a, c) for g, pairs in [
        ("Directions", [("S9", "Directions"), ("S9", "Directions 1"), ("S11", "Directions 1")]),
        ("Walking", [("S9", "Walking"), ("S11", "Walking"), ("S11", "Walking 1")]),
        ("Sitting", [("S9", "Sitting 1"), ("S11", "Sitting 1")])] for subj, a in pairs for c in range(4)]
    assert order == expected


def test_sequence_contents(tiny_dataset):
    pos3d = load_positions_3d(tiny_dataset / "data_3d_h36m.npz")
    pos2d, _ = load_keypoints(tiny_dataset / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    seq = prepare_sequences(pos3d, pos2d, ["S11"])[5]          # S11 Walking, camera 1
    cam = h36m_cameras()["S11"][seq.camera]
    world = pos3d["S11"][seq.action][:, kept_joints()]
    t = world.shape[0]
    assert seq.poses_2d.shape == (t, 17, 2) and seq.poses_3d.shape == (t, 17, 3)   # 2D trimmed to the mocap
    cam_pos = world_to_camera(world.astype(np.float64), cam.orientation, cam.translation)
    np.testing.assert_allclose(seq.poses_3d[:, 0], cam_pos[:, 0], atol=1e-5)          # root keeps trajectory
    np.testing.assert_allclose(seq.poses_3d[:, 1:], cam_pos[:, 1:] - cam_pos[:, :1], atol=1e-5)
    np.testing.assert_allclose(seq.poses_2d, normalize_screen_coordinates(
        pos2d["S11"][seq.action][seq.camera][:t], cam.res_w, cam.res_h), atol=1e-6)


def test_downsample_keeps_every_nth_frame(tiny_dataset):
    pos3d = load_positions_3d(tiny_dataset / "data_3d_h36m.npz")
    pos2d, _ = load_keypoints(tiny_dataset / "data_2d_h36m_cpn_ft_h36m_dbb.npz")
    full = prepare_sequences(pos3d, pos2d, ["S9"])[0]
    half = prepare_sequences(pos3d, pos2d, ["S9"], downsample=2)[0]
    np.testing.assert_array_equal(half.poses_3d, full.poses_3d[::2])


def test_format_errors_name_the_file_and_the_problem(tmp_path):
    np.savez(tmp_path / "a.npz", other=np.zeros(3))
    with pytest.raises(Vp3dError, match="a.npz: no 'positions_3d' array"):
        load_positions_3d(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", positions_3d={"S9": {"Walking": np.zeros((10, 16, 3), np.float32)}})
    with pytest.raises(Vp3dError, match=r"b.npz: S9 'Walking' has shape \(10, 16, 3\), expected \(T, 32, 3\) or \(T, 17, 3\)"):
        load_positions_3d(tmp_path / "b.npz")
    (tmp_path / "c.npz").write_bytes(b"not a zip")
    with pytest.raises(Vp3dError, match=r"c.npz: not a readable .npz \(zip\) file"):
        load_npz_key(tmp_path / "c.npz", "positions_3d")


def test_inconsistent_2d_is_reported(tmp_path):
    pos3d, pos2d = make_positions({"S9": ["Walking"]}, seed=2)
    short = {"S9": {"Walking": [c[:10] for c in pos2d["S9"]["Walking"]]}}
    with pytest.raises(Vp3dError, match=r"S9 'Walking' camera 0 has 10 frames, fewer than the mocap's"):
        prepare_sequences(pos3d, short, ["S9"])
    with pytest.raises(Vp3dError, match=r"S9 'Walking' is in the 3D data but not in the 2D keypoints"):
        prepare_sequences(pos3d, {"S9": {}}, ["S9"])
    bad = {"S9": {"Walking": [c.copy() for c in pos2d["S9"]["Walking"]]}}
    bad["S9"]["Walking"][2][7, 3, 0] = np.nan
    with pytest.raises(Vp3dError, match=r"S9 'Walking' camera 2 has non-finite keypoints, first at frame 7"):
        prepare_sequences(pos3d, bad, ["S9"])


# ---------------------------------------------------------------------------------------------- HumanEva-I

def test_humaneva_files_read_as_upstream_prepares_them(humaneva_dataset):
    from golden_case import HE_ACTIONS, golden_humaneva_data
    data = load_dataset(humaneva_dataset, "gt")             # the dataset found from the folder's files
    assert data.facts.name == "humaneva15" and data.num_keypoints == 15
    assert data.keypoint_symmetry.to_json() == [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]
    seqs = data.sequences(["Validate/S2", "Validate/S1"], actions=["Walk", "Jog", "Box"])
    # upstream's order: groups by first word in order of first appearance, then (subject, chunk), then camera
    expected = [(g, subj, a, c) for g in ("Walking", "Jog", "Box") for subj in ("Validate/S2", "Validate/S1")
                for a in HE_ACTIONS[subj] if a.split(" ")[0] == g for c in range(3)]
    assert [(s.group, s.subject, s.action, s.camera) for s in seqs] == expected
    pos3d, pos2d = golden_humaneva_data()
    seq = seqs[4]                                           # Walking: Validate/S2's one chunk, then S1's first
    cam = humaneva_cameras()[seq.subject][seq.camera]
    world = pos3d[seq.subject][seq.action].astype(np.float64)
    cam_pos = world_to_camera(world, cam.orientation, cam.translation)
    np.testing.assert_allclose(seq.poses_3d[:, 0], cam_pos[:, 0], atol=1e-5)
    np.testing.assert_allclose(seq.poses_3d[:, 1:], cam_pos[:, 1:] - cam_pos[:, :1], atol=1e-5)
    np.testing.assert_allclose(seq.poses_2d, pos2d["gt"][seq.subject][seq.action][seq.camera] / 640 * 2
                               - np.array([1, 480 / 640]), atol=1e-6)
    coco = load_dataset(humaneva_dataset, "detectron_pt_coco")   # 17 COCO keypoints, 'Unlabeled/' entries left alone
    assert coco.num_keypoints == 17 and "Unlabeled/S4" in coco.positions_2d
    assert coco.sequences(["Validate/S3"])[0].poses_2d.shape[1:] == (17, 2)


def test_humaneva_refusals_name_both_sides(humaneva_dataset, tiny_dataset, tmp_path):
    data = load_dataset(humaneva_dataset, "gt", "humaneva15")
    with pytest.raises(Vp3dError, match=r"no action starts with 'Run' \(-a takes prefixes of the actions: Walking, "
                                         r"Jog, ThrowCatch, Gestures, Box\)"):
        data.sequences(["Validate/S1"], actions=["Walk", "Run"])
    with pytest.raises(Vp3dError, match=r"subject S9 is not in the 3D data \(.*data_3d_humaneva15.npz has Train/S1, "):
        data.sequences(["S9"])
    with pytest.raises(Vp3dError, match=r"no data_3d_h36m.npz for --dataset h36m; it holds data_3d_humaneva15.npz "
                                         r"\(--dataset humaneva15\)"):
        load_dataset(humaneva_dataset, None, "h36m")
    with pytest.raises(Vp3dError, match=r"no data_3d_humaneva15.npz for --dataset humaneva15; it holds "
                                         r"data_3d_h36m.npz \(--dataset h36m\)"):
        load_dataset(tiny_dataset, None, "humaneva15")
    (tmp_path / "data_3d_h36m.npz").write_bytes((humaneva_dataset / "data_3d_humaneva15.npz").read_bytes())
    with pytest.raises(Vp3dError, match=r"data_3d_h36m.npz: Train/S1 'Walking 1 chunk0' has shape \(\d+, 15, 3\), "
                                         r"expected \(T, 32, 3\) or \(T, 17, 3\) of Human3.6M — HumanEva-I's 15 joints: give "
                                         r"--dataset humaneva15"):
        load_dataset(tmp_path, "gt")
