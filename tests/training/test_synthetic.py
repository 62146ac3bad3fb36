"""vp3d.training.synthetic and vp3d_synthesize.py: synthetic Human3.6M data in upstream's exact file formats."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from one_line_errors import one_line_error
from repo_paths import ROOT, SHARED

import vp3d_synthesize
from vp3d.errors import Vp3dError
from vp3d.facts.cameras import h36m_cameras, project_to_2d, world_to_camera
from vp3d.facts.skeleton import h36m_skeleton32, kept_joints
from vp3d.training import synthetic as syn

SHARED_TSV = SHARED / "reference" / "h36m_test_lengths.tsv"
METADATA = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
PARENTS = np.array(h36m_skeleton32().parents)


@pytest.fixture(scope="module")
def tiny():
    """All 7 subjects, the 'tiny' takes, with detector noise."""
    return syn.generate(lengths="tiny", seed=0)


def bone_lengths(x: np.ndarray) -> np.ndarray:
    """(T, 32, 3) -> (T, 31) distances of joints 1..31 to their parents, metres."""
    return np.linalg.norm(x[:, 1:] - x[:, PARENTS[1:]], axis=-1)


def tsv_rows(path: Path) -> list[tuple[str, str, int]]:
    with open(path, newline="") as f:
        return [(r["subject"], r["action"], int(r["frames"])) for r in csv.DictReader(f, delimiter="\t")]


# --- file formats -------------------------------------------------------------------------------

def test_saved_files_have_upstream_structure(tmp_path, tiny):
    pos3d, pos2d = tiny
    path3d, path2d = syn.save_dataset(tmp_path / "out", pos3d, pos2d)
    assert path3d == tmp_path / "out" / "data_3d_h36m.npz"
    assert path2d == tmp_path / "out" / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([path3d.name, path2d.name])  # no temp left

    f3, f2 = np.load(path3d, allow_pickle=True), np.load(path2d, allow_pickle=True)
    assert f3.files == ["positions_3d"]
    assert sorted(f2.files) == ["metadata", "positions_2d"]
    assert f3["positions_3d"].dtype == object and f3["positions_3d"].shape == ()
    loaded3d, loaded2d, metadata = f3["positions_3d"].item(), f2["positions_2d"].item(), f2["metadata"].item()
    assert metadata == METADATA
    assert list(loaded3d) == ["S1", "S5", "S6", "S7", "S8", "S9", "S11"] == list(loaded2d)
    for subject, takes in loaded3d.items():
        assert list(takes) == list(syn.TINY_TAKES) == list(loaded2d[subject])
        for take, x in takes.items():
            assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 3 and x.shape[1:] == (32, 3)
            assert 60 <= len(x) <= 120
            np.testing.assert_array_equal(x, pos3d[subject][take])
            views = loaded2d[subject][take]
            assert isinstance(views, list) and len(views) == 4
            for kp, orig in zip(views, pos2d[subject][take], strict=True):
                assert kp.dtype == np.float32 and kp.shape[1:] == (17, 2)
                assert len(x) <= len(kp) <= len(x) + 3
                np.testing.assert_array_equal(kp, orig)
    extra = [len(kp) - len(pos3d[s][a]) for s in pos2d for a in pos2d[s] for kp in pos2d[s][a]]
    assert len(set(extra)) > 1  # the trailing frame count varies per camera


def test_save_dataset_other_keypoints_name_and_errors(tmp_path):
    pos3d, pos2d = syn.generate(["S9"], ["Walking"], lengths=20)
    _, path2d = syn.save_dataset(tmp_path, pos3d, pos2d, keypoints="detectron_pt_coco")
    assert path2d.name == "data_2d_h36m_detectron_pt_coco.npz" and path2d.is_file()
    with pytest.raises(Vp3dError, match="keypoints name"):
        syn.save_dataset(tmp_path, pos3d, pos2d, keypoints="../escape")
    (tmp_path / "file").write_text("x")
    with pytest.raises(Vp3dError, match="cannot write"):
        syn.save_dataset(tmp_path / "file", pos3d, pos2d)


# --- 3D: skeleton, forward kinematics, motion ------------------------------------------------------

def takes_of(positions) -> dict[str, list[str]]:
    """{subject: its take names}: what a loop over generated data will visit."""
    return {subject: list(takes) for subject, takes in positions.items()}


def test_bone_lengths_are_constant_and_realistic(tiny):
    pos3d, _ = tiny
    assert takes_of(pos3d) == {s: list(syn.TINY_TAKES) for s in ("S1", "S5", "S6", "S7", "S8", "S9", "S11")}
    for subject, takes in pos3d.items():
        first = None
        for take, x in takes.items():
            bones = bone_lengths(x.astype(np.float64))
            assert np.ptp(bones, axis=0).max() < 1e-4, (subject, take)  # rigid bones in every frame
            first = bones[0] if first is None else first
            np.testing.assert_allclose(bones[0], first, atol=1e-4)       # one body per subject
        b = first  # index j-1 is the bone from joint j to its parent
        for lo, hi, joints in [(0.10, 0.16, [1, 6]),            # half hip width
                               (0.38, 0.52, [2, 7, 3, 8]),      # thigh, shin
                               (0.23, 0.33, [18, 26]),          # upper arm
                               (0.20, 0.30, [19, 27])]:         # forearm
            assert np.all((lo <= b[np.array(joints) - 1]) & (b[np.array(joints) - 1] <= hi)), (subject, joints)
        x = takes["Directions 1"][0].astype(np.float64)
        assert 0.22 <= np.linalg.norm(x[1] - x[6]) <= 0.30
        chain = b[11] + b[12] + b[13] + b[14]  # hip -> 12 -> 13 -> 14 -> 15 (joint 11 sits on the hip)
        assert 0.55 <= chain <= 0.78 and b[10] < 1e-6
        for static, twin in [(16, 13), (24, 13)]:  # clavicle roots on the thorax, as in Human3.6M
            np.testing.assert_allclose(takes["Walking"][:, static], takes["Walking"][:, twin], atol=1e-5)


def test_subjects_differ_in_size():
    sizes = [np.linalg.norm(syn.subject_offsets(s), axis=1).sum() for s in syn.SUBJECTS]
    assert np.ptp(sizes) > 0.02 * np.mean(sizes)


def test_euler_to_matrix_is_a_rotation():
    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (50, 3))
    r = syn.euler_to_matrix(angles)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1, atol=1e-12)
    a = np.array([0.3, 0, 0])
    np.testing.assert_allclose(syn.euler_to_matrix(a) @ [0, 0, 1], [0, -np.sin(0.3), np.cos(0.3)], atol=1e-12)


def test_walking_keeps_feet_on_the_floor_and_moves_around():
    pos3d, _ = syn.generate(["S1", "S9", "S11"], ["Walking", "WalkDog", "WalkTogether 1"], lengths=400, seed=4)
    assert takes_of(pos3d) == {s: ["Walking", "WalkDog", "WalkTogether 1"] for s in ("S1", "S9", "S11")}
    for subject, takes in pos3d.items():
        for take, x in takes.items():
            x = x.astype(np.float64)
            ankles = x[:, [3, 8], 2]
            assert -0.01 <= ankles.min() <= 0.15, (subject, take)        # a foot is down...
            assert np.all(ankles.min(axis=1) <= 0.15), (subject, take)    # ...in every frame
            assert x[..., 2].min() > -0.01                                # nothing below the floor
            assert 0.7 <= x[:, 0, 2].min() and x[:, 0, 2].max() <= 1.3    # hips at hip height
            step = np.linalg.norm(np.diff(x[:, 0, :2], axis=0), axis=1) * syn.FPS
            assert step.mean() > (0.1 if "Dog" in take else 0.6), (subject, take)  # walks (the dog stops), m/s
            assert np.abs(x[:, :, :2]).max() < 2.5                         # stays in the capture area
            # the supporting foot point does not skate
            feet = syn.foot_points(x, -syn.subject_offsets(subject, 4)[4, 2])
            support = np.argmin(feet[:-1, :, 2], axis=1)
            t = np.arange(len(x) - 1)
            slip = np.linalg.norm(feet[t + 1, support, :2] - feet[t, support, :2], axis=1) * syn.FPS
            assert np.median(slip) < 0.1, (subject, take)


def test_sitting_lowers_the_hips_and_standing_actions_stand():
    pos3d, _ = syn.generate(["S5"], ["SittingDown", "Sitting", "Greeting", "Photo"], lengths=700, seed=2)
    hips = {take: x[:, 0, 2] for take, x in pos3d["S5"].items()}
    assert np.ptp(hips["SittingDown"]) > 0.25                # sits down and stands up
    assert hips["Sitting"].max() < 0.75                      # on a chair all along
    assert hips["Greeting"].min() > 0.8
    for x in pos3d["S5"].values():
        assert x[..., 2].min() > -0.01 and np.abs(x[:, 0, :2]).max() < 2.0


def test_every_action_runs_and_is_smooth():
    pos3d, _ = syn.generate(["S7"], None, lengths=150, seed=1)
    assert len(pos3d["S7"]) == 30 and {syn.action_of(t) for t in pos3d["S7"]} == set(syn.ACTIONS)
    for take, x in pos3d["S7"].items():
        speed = np.linalg.norm(np.diff(x, axis=0), axis=-1) * syn.FPS
        assert np.isfinite(x).all() and speed.max() < 12, take   # m/s: no jumps


# --- 2D: projection and detector noise ------------------------------------------------------------

def test_noise_free_2d_is_the_projection_of_the_3d():
    pos3d, pos2d = syn.generate(["S9", "S1"], ["Walking", "SittingDown", "Phoning"], lengths=80, seed=3, noise=False)
    assert takes_of(pos3d) == takes_of(pos2d) == {s: ["Walking", "SittingDown", "Phoning"] for s in ("S9", "S1")}
    assert all(len(views) == 4 for takes in pos2d.values() for views in takes.values())
    kept = kept_joints()
    for subject, takes in pos3d.items():
        for take, x in takes.items():
            for cam, kp in zip(h36m_cameras()[subject], pos2d[subject][take], strict=True):
                expected = project_to_2d(world_to_camera(x[:, kept].astype(np.float64), cam.orientation,
                                                         cam.translation), cam)
                np.testing.assert_allclose(kp[:len(x)], expected, atol=1e-3)
                np.testing.assert_array_equal(kp[len(x):], np.repeat(kp[len(x) - 1:len(x)], len(kp) - len(x), 0))
                assert 0 < expected[..., 0].min() and expected[..., 0].max() < cam.res_w   # in the picture
                assert 0 < expected[..., 1].min() and expected[..., 1].max() < cam.res_h


def test_detector_noise_is_realistic():
    _, clean = syn.generate(["S11"], ["Discussion 1"], lengths=3000, seed=5, noise=False)
    _, noisy = syn.generate(["S11"], ["Discussion 1"], lengths=3000, seed=5, noise=True)
    assert len(clean["S11"]["Discussion 1"]) == len(noisy["S11"]["Discussion 1"]) == 4     # the 4 cameras' views
    for c, n in zip(clean["S11"]["Discussion 1"], noisy["S11"]["Discussion 1"], strict=True):
        assert c.shape == n.shape
        err = np.linalg.norm(n - c, axis=-1)                      # (T, 17) pixels
        assert 2 < np.median(err) < 8
        assert np.median(err[:, [13, 16, 3, 6]]) > np.median(err[:, [7, 8]])  # wrists, feet noisier than the trunk
        outliers = np.mean(err > 20)
        assert 0.002 < outliers < 0.02
        d = (n - c)[:, 8, 0]                                      # thorax x error over time
        inlier = (err[:-1, 8] < 15) & (err[1:, 8] < 15)
        assert np.corrcoef(d[:-1][inlier], d[1:][inlier])[0, 1] > 0.3   # temporally correlated jitter


# --- seeds, selection, lengths --------------------------------------------------------------------

def test_same_seed_same_data_and_different_seed_different_data():
    a3, a2 = syn.generate(["S9", "S11"], ["Walking", "Greeting"], lengths=50, seed=7)
    b3, b2 = syn.generate(["S9", "S11"], ["Walking", "Greeting"], lengths=50, seed=7)
    c3, c2 = syn.generate(["S9", "S11"], ["Walking", "Greeting"], lengths=50, seed=8)
    assert takes_of(a3) == takes_of(b3) == takes_of(c3) == {s: ["Walking", "Greeting"] for s in ("S9", "S11")}
    assert all(len(a2[s][t]) == len(b2[s][t]) == 4 for s in a3 for t in a3[s])
    for s in a3:
        for t in a3[s]:
            np.testing.assert_array_equal(a3[s][t], b3[s][t])
            for x, y in zip(a2[s][t], b2[s][t], strict=True):
                np.testing.assert_array_equal(x, y)
            assert not np.allclose(a3[s][t][:min(len(a3[s][t]), len(c3[s][t]))],
                                   c3[s][t][:min(len(a3[s][t]), len(c3[s][t]))])
    # a sequence does not depend on which others are generated with it
    d3, d2 = syn.generate(["S11"], ["Greeting"], lengths=50, seed=7)
    np.testing.assert_array_equal(d3["S11"]["Greeting"], a3["S11"]["Greeting"])
    np.testing.assert_array_equal(d2["S11"]["Greeting"][2], a2["S11"]["Greeting"][2])


def test_take_selection_and_lengths():
    plan = syn.sequence_lengths(["S1", "S9", "S11"], ["Walking 1", "Phoning 2", "Directions"], lengths=500)
    assert {s: set(takes) for s, takes in plan.items()} == {"S1": {"Walking 1", "Directions"},
                                                            "S9": {"Walking 1", "Directions"},
                                                            "S11": {"Walking 1", "Phoning 2"}}
    assert all(475 <= n <= 525 for takes in plan.values() for n in takes.values())
    assert syn.subject_takes("S1")[:2] == ["Directions", "Directions 1"] and len(syn.subject_takes("S1")) == 30
    assert "Directions" not in syn.subject_takes("S11")      # corrupted video upstream: not in the test set
    tiny = syn.sequence_lengths(["S5", "S11"])
    assert all(list(t) == list(syn.TINY_TAKES) and all(60 <= n <= 120 for n in t.values()) for t in tiny.values())
    real = syn.sequence_lengths(["S1"], lengths="real")
    assert len(real["S1"]) == 30 and all(700 <= n <= 7100 for n in real["S1"].values())
    assert syn.sequence_lengths(["S9"], ["Walking"], lengths="64")["S9"]["Walking"] in range(60, 68)


def test_real_lengths_match_the_test_set_table():
    rows = tsv_rows(ROOT / "vp3d" / "facts" / "data" / "h36m_test_lengths.tsv")
    if SHARED_TSV.is_file():
        assert rows == tsv_rows(SHARED_TSV)
    assert len(rows) == 59 and sum(n for _, _, n in rows) == 135836
    pos3d, pos2d = syn.generate(["S9", "S11"], lengths="real", noise=False)
    got = [(s, a, len(x)) for s, takes in pos3d.items() for a, x in takes.items()]
    assert sorted(got) == sorted(rows)
    for s, a, n in rows:
        assert all(n <= len(kp) <= n + 3 for kp in pos2d[s][a])
        assert pos3d[s][a].dtype == np.float32


@pytest.mark.parametrize("kwargs, message", [
    (dict(subjects=["S2"]), "unknown subject 'S2'"),
    (dict(subjects=[]), "no subjects"),
    (dict(actions=["Dancing"]), "unknown action 'Dancing'"),
    (dict(actions=["Walking1"]), "unknown action"),
    (dict(subjects=["S11"], actions=["Directions"]), "none of the subjects"),
    (dict(lengths="huge"), "lengths must be"),
    (dict(lengths=1), "lengths must be"),
    (dict(lengths=True), "lengths must be"),
    (dict(seed=-1), "seed must be"),
    (dict(seed=1.5), "seed must be"),
])
def test_bad_arguments_raise_one_line_errors(kwargs, message):
    with pytest.raises(Vp3dError, match=message) as info:
        syn.generate(**kwargs)
    assert "\n" not in str(info.value)


# --- command line ---------------------------------------------------------------------------------

def test_cli_writes_the_files_and_reports_counts(tmp_path, capsys):
    out = tmp_path / "data"
    assert vp3d_synthesize.main(["-o", str(out), "--subjects", "S9,S11", "--lengths", "40",
                                 "--actions", "Walking,Walking 1", "--seed", "3", "-k", "mine"]) == 0
    text = capsys.readouterr().out
    assert str(out / "data_3d_h36m.npz") in text and str(out / "data_2d_h36m_mine.npz") in text
    pos3d = np.load(out / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    frames = sum(len(x) for takes in pos3d.values() for x in takes.values())
    assert "2 subjects, 4 sequences" in text and f"{frames} frames" in text
    expected, _ = syn.generate(["S9", "S11"], ["Walking", "Walking 1"], lengths=40, seed=3)
    np.testing.assert_array_equal(pos3d["S11"]["Walking 1"], expected["S11"]["Walking 1"])


@pytest.mark.parametrize("argv, message", [
    (["--subjects", "S1,S42"], "error: unknown subject 'S42'"),
    (["--lengths", "forever"], "error: lengths must be"),
    (["--seed", "-3"], "error: seed must be"),
    (["-k", "a/b"], "error: keypoints name"),
])
def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert one_line_error(capsys, vp3d_synthesize.main(["-o", str(tmp_path / "o")] + argv)).startswith(message)
    assert not (tmp_path / "o" / "data_3d_h36m.npz").exists()


def test_cli_parser_requires_out_and_shows_defaults(capsys):
    parser = vp3d_synthesize.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([])
    args = parser.parse_args(["-o", "x"])
    assert (args.lengths, args.seed, args.keypoints, args.layout) == ("tiny", 0, None, "h36m")
    assert "none given: cpn_ft_h36m_dbb for h36m, detectron_pt_coco for coco" in " ".join(parser.format_help().split())


def test_coco_layout_keypoints_sit_on_the_body():
    from vp3d.facts.skeleton import keypoint_layouts
    from vp3d.training.synthetic import coco_points, keypoints_metadata
    pos3d, pos2d = syn.generate(["S9"], ["Walking"], 40, seed=3, noise=False, layout="coco")
    world = pos3d["S9"]["Walking"]
    pts = coco_points(world)
    # limbs are the mocap joints (COCO index -> Human3.6M 32-joint index)
    for k, j in {5: 17, 6: 25, 7: 18, 8: 26, 9: 19, 10: 27, 11: 6, 12: 1, 13: 7, 14: 2, 15: 8, 16: 3}.items():
        np.testing.assert_allclose(pts[:, k], world[:, j], atol=1e-6)
    head = (world[:, 14] + world[:, 15]) / 2
    assert np.linalg.norm(pts[:, :5] - head[:, None], axis=-1).max() < 0.13          # face points on the head
    for left, right in ((1, 2), (3, 4)):                                              # left eye/ear on the left
        to_l = np.linalg.norm(pts[:, left] - world[:, 17], axis=-1)
        to_r = np.linalg.norm(pts[:, right] - world[:, 17], axis=-1)
        assert (to_l < to_r).all()
    views = pos2d["S9"]["Walking"]
    assert len(views) == 4 and all(v.shape[1:] == (17, 2) and v.dtype == np.float32 for v in views)
    assert keypoints_metadata("coco")["keypoints_symmetry"] == [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
    assert keypoints_metadata("coco")["keypoints_symmetry"] == keypoint_layouts()["coco"].symmetry.to_json()


def test_cli_writes_coco_order_2d_under_upstreams_name(tmp_path):
    from vp3d.io.npz import load_npz_key
    assert vp3d_synthesize.main(["-o", str(tmp_path), "--subjects", "S9", "--layout", "coco", "--actions", "Walking"]) == 0
    path = tmp_path / "data_2d_h36m_detectron_pt_coco.npz"
    assert load_npz_key(path, "metadata")["layout_name"] == "coco"
    h36m_dir = tmp_path / "h36m"
    assert vp3d_synthesize.main(["-o", str(h36m_dir), "--subjects", "S9", "--actions", "Walking"]) == 0
    coco_2d = load_npz_key(path, "positions_2d")["S9"]["Walking"][0]
    h36m_2d = load_npz_key(h36m_dir / "data_2d_h36m_cpn_ft_h36m_dbb.npz", "positions_2d")["S9"]["Walking"][0]
    assert coco_2d.shape == h36m_2d.shape
    # shared joints agree up to detector noise: left wrist (COCO 9, H36M 13), right ankle (COCO 16, H36M 3)
    for c, h in ((9, 13), (16, 3)):
        assert np.median(np.linalg.norm(coco_2d[:, c] - h36m_2d[:, h], axis=-1)) < 15
