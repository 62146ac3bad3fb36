"""Animated renders: files read back (Pillow for GIF, imageio-ffmpeg for MP4) hold the frames asked for,
at the size asked for, with the skeleton drawn where its joints project."""
from __future__ import annotations

import numpy as np
import pytest
from one_line_errors import one_line_error
from random_models import random_model
from keypoint_writers import (
    fill_gaps_by_hand,
    video_keypoints,
    write_coco_json,
    write_mmpose_json,
)
from PIL import Image

import vp3d_lift
import vp3d_render
from vp3d.facts.cameras import h36m_cameras, project_to_2d
from vp3d.facts.skeleton import h36m_skeleton17, keypoint_layouts
from vp3d.io.files import read_array
from vp3d.io.poses import write_poses_npz
from vp3d.model import checkpoint
from vp3d.pipeline.preprocess import preprocess
from vp3d.pipeline.sequences import Manifest
from vp3d.viz.inputs import Keypoints2D
from vp3d.viz.render import (
    BOTTOM,
    PALETTE,
    TOP,
    OrbitCamera,
    fit_camera,
    panel_area,
    render,
    stage,
)

SKEL = h36m_skeleton17()
SOLID_RGB = np.array([PALETTE[k] for k in ("left", "right", "centre", "left_joint", "right_joint", "centre_joint")])
SKELETON_RGB = np.concatenate([SOLID_RGB, [PALETTE[k] for k in ("left_filled", "right_filled", "centre_filled")]])
BONES_RGB = np.array([PALETTE[k] for k in ("left", "right", "centre")])
PALE_RGB = np.array([PALETTE[k] for k in ("left_filled", "right_filled", "centre_filled")])


def standing_poses(frames: int, seed: int = 0) -> np.ndarray:
    """Camera-frame poses (T, 17, 3) metres: a body 4 m in front of a level camera, swaying."""
    rest = np.array([[0, 0, 0], [-.13, 0, 0], [-.13, .45, 0], [-.13, .9, 0], [.13, 0, 0], [.13, .45, 0],
                     [.13, .9, 0], [0, -.23, 0], [0, -.48, 0], [0, -.59, -.05], [0, -.71, 0], [.15, -.48, 0],
                     [.15, -.2, 0], [.15, .05, 0], [-.15, -.48, 0], [-.15, -.2, 0], [-.15, .05, 0]])
    t = np.arange(frames)[:, None, None] / 25
    rng = np.random.default_rng(seed)
    sway = 0.05 * np.sin(2 * np.pi * t + rng.uniform(0, 6, (1, 17, 3)))
    return (rest + sway + [0.2, 0.0, 4.0]).astype(np.float32)


def skeleton_mask(rgb: np.ndarray, tol: int = 0, colours: np.ndarray = SKELETON_RGB) -> np.ndarray:
    """Pixels (H, W) that have a bone or joint colour (a frame filled by interpolation: the pale ones)."""
    d = np.abs(rgb[:, :, None, :].astype(int) - colours[None, None]).max(axis=-1)
    return (d <= tol).any(axis=-1)


def frames_of_gif(path) -> list[np.ndarray]:
    out = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
    return out


def test_stage_and_camera_geometry():
    poses = standing_poses(5)
    staged, track = stage(poses)
    np.testing.assert_allclose(staged[:, 0, [0, 2]], 0, atol=1e-6)           # root centred
    np.testing.assert_allclose(staged[..., 1].min(axis=1), 0, atol=1e-6)     # lowest joint on the floor
    head, foot = SKEL.names.index("Head"), SKEL.names.index("RFoot")
    assert (staged[:, head, 1] > staged[:, foot, 1] + 1.0).all()             # y is up
    np.testing.assert_allclose(track, poses[:, 0, [0, 2]] * [1, -1], atol=1e-6)
    cam = OrbitCamera((0, 1, 0), azimuth=0, elevation=0, distance=4, focal=100, centre=(50, 60))
    px, depth = cam.project(np.array([[0, 1, 0], [0, 2, 0], [1, 1, 0], [0, 1, -1]]))
    np.testing.assert_allclose(px[0], [50, 60])                              # the target: the centre
    assert px[1, 1] < 60 and px[1, 0] == pytest.approx(50)                   # up is up on screen
    assert px[2, 0] > 50                                                     # +x (camera's right) is right
    assert depth[3] == pytest.approx(5)                                      # -z is away from the camera
    side = OrbitCamera((0, 1, 0), azimuth=90, elevation=0, distance=4, focal=100, centre=(50, 60))
    assert side.project(np.array([1.0, 1, 0]))[1] == pytest.approx(3)         # from +x: the camera stands there


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_render_reads_back(tmp_path, suffix):
    T, size = 12, 160
    poses = standing_poses(T)
    truth = standing_poses(T, seed=1)
    cam = h36m_cameras()["S9"][0]
    kp = Keypoints2D(project_to_2d(poses.astype(np.float64), cam), keypoint_layouts()["h36m"], (cam.res_w, cam.res_h))
    out = tmp_path / f"anim{suffix}"
    assert render(out, poses, kp, truth, size=size, fps=25) == T
    if suffix == ".gif":
        frames = frames_of_gif(out)
        tol = 0
    else:
        imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
        reader = imageio_ffmpeg.read_frames(str(out))
        meta = reader.__next__()
        frames = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
        assert meta["fps"] == pytest.approx(25)
        tol = 60                                   # lossy video: colours come back near, not exact
    assert len(frames) == T and frames[0].shape == (size, 3 * size, 3)

    # where the joints must be: each 3D panel's camera, as the renderer frames them, projects the staged
    # poses; the 2D panel holds the image fitted into its drawing area
    area = panel_area(size)
    staged = [stage(poses)[0], stage(truth)[0]]
    camera = fit_camera(staged, area, azimuth=30.0)
    scale = 0.95 * min(area[0] / cam.res_w, area[1] / cam.res_h)
    expected = [(kp.points - [cam.res_w / 2, cam.res_h / 2]) * scale + np.array(area) / 2]
    expected += [camera.project(s)[0] for s in staged]
    for t in (0, T - 1):
        mask = skeleton_mask(frames[t], tol, SOLID_RGB)
        mask[:TOP] = mask[size - BOTTOM:] = False          # titles and the frame label are text, not skeleton
        for panel, px in enumerate(expected):
            x = np.round(px[t, :, 0] + panel * size + 1).astype(int)
            y = np.round(px[t, :, 1] + TOP).astype(int)
            hits = [mask[yy - 1:yy + 2, xx - 1:xx + 2].any() for xx, yy in zip(x, y)]
            assert np.mean(hits) > 0.9, f"frame {t} panel {panel}: {sum(hits)}/17 joints drawn where they project"
            # and nothing of the skeleton far from its joints
            box = mask[:, panel * size:(panel + 1) * size]
            ys, xs = np.nonzero(box)
            assert len(xs) > 50
            assert xs.min() >= x.min() - panel * size - 8 and xs.max() <= x.max() - panel * size + 8
            assert ys.min() >= y.min() - 8 and ys.max() <= y.max() + 8
    # left and right are coloured apart: the body's left side (+x in the camera frame) is drawn blue
    rgb = frames[0][:, size:2 * size].astype(int)
    near = min(tol, 30)
    left = (np.abs(rgb - PALETTE["left"]).max(-1) <= near).nonzero()[1].mean()
    right = (np.abs(rgb - PALETTE["right"]).max(-1) <= near).nonzero()[1].mean()
    assert left > right
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.fixture(scope="module")
def prep_dir(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep")
    preprocess(tiny_dataset, out, ["S9"], filter_widths=(3, 3), lengths=[100])
    return out


def test_render_cli_with_prep_and_keypoints(prep_dir, tmp_path, capsys):
    manifest = Manifest.read(prep_dir)
    e = manifest.entries[0]
    poses = {x.name: standing_poses(x.frames) for x in manifest.entries}
    src = tmp_path / "pred.npz"
    write_poses_npz(src, poses)
    out = tmp_path / "a.gif"
    assert vp3d_render.main([str(src), "--name", e.name, "--prep", str(prep_dir), "-o", str(out),
                             "--start", "5", "--frames", "7", "--size", "128", "--azimuth", "60"]) == 0
    frames = frames_of_gif(out)
    assert len(frames) == 7 and frames[0].shape == (128, 3 * 128, 3)         # 2D, prediction, ground truth
    assert all(skeleton_mask(f[:, i * 128:(i + 1) * 128]).sum() > 20 for f in frames for i in range(3))

    kp = tmp_path / "kp.npz"
    np.savez(kp, **{e.name: np.random.default_rng(0).uniform(100, 500, (e.frames, 17, 2)).astype(np.float32)})
    out2 = tmp_path / "b.gif"
    assert vp3d_render.main([str(src), "--name", e.name, "--keypoint-file", str(kp), "--layout", "coco",
                             "-o", str(out2), "--size", "96"]) == 0
    frames = frames_of_gif(out2)
    assert len(frames) == e.frames and frames[0].shape == (96, 2 * 96, 3)   # 2D, prediction


@pytest.mark.parametrize("writer", [write_coco_json, write_mmpose_json])
def test_render_draws_the_keypoint_file_that_was_lifted(tmp_path, writer):
    """vp3d_lift.py lifts a detector's JSON (dropped frames, a second lower-scored person); vp3d_render.py
    --keypoints of the same JSON draws, beside the lifted poses, the person that was lifted: its joints where
    its pixels fall in the image, the dropped frames filled as upstream fills them, the other person not."""
    W, H, T, size, missing = 1000, 1002, 40, 160, [10, 11, 25]
    video = video_keypoints(T, W, H, seed=4)
    others = {t: video[t] + [300, 0] for t in (5, 12, 30)}          # someone else, 300 px to the right
    src = writer(tmp_path / "clip.json", video, missing, others)
    model = tmp_path / "m.bin"
    checkpoint.save(model, random_model((3, 3, 3), 32, seed=5))
    lifted = tmp_path / "lifted.npz"
    assert vp3d_lift.main([str(src), "--image-size", str(W), str(H), "-m", str(model), "-o", str(lifted)]) == 0
    out = tmp_path / "clip.gif"
    assert vp3d_render.main([str(lifted), "--keypoint-file", str(src), "--image-size", str(W), str(H),
                             "-o", str(out), "--size", str(size)]) == 0
    frames = frames_of_gif(out)
    assert len(frames) == T and frames[0].shape == (size, 2 * size, 3)      # 2D input, lifted poses
    area = panel_area(size)
    scale = 0.95 * min(area[0] / W, area[1] / H)                            # the whole image, fitted
    expected = (fill_gaps_by_hand(video, missing) - [W / 2, H / 2]) * scale + np.array(area) / 2
    for t in (0, 5, 10, 11, 12, 25, 30, T - 1):
        mask = skeleton_mask(frames[t][:, :size])
        mask[:TOP] = mask[size - BOTTOM:] = False
        x = np.round(expected[t, :, 0] + 1).astype(int)
        y = np.round(expected[t, :, 1] + TOP).astype(int)
        hits = [mask[yy - 1:yy + 2, xx - 1:xx + 2].any() for xx, yy in zip(x, y)]
        assert np.mean(hits) > 0.9, f"frame {t}: {sum(hits)}/17 keypoints drawn where they are"
        ys, xs = np.nonzero(mask)
        assert xs.max() <= x.max() + 8 and xs.min() >= x.min() - 8, f"frame {t}: something drawn off the person"
        assert ys.max() <= y.max() + 8 and ys.min() >= y.min() - 8
        for panel in (0, 1):             # frames without a detection pale in both panels (hollow joints), others not
            box = frames[t][TOP:size - BOTTOM, panel * size + 1:(panel + 1) * size - 1]
            pale, full = skeleton_mask(box, colours=PALE_RGB).sum(), skeleton_mask(box, colours=BONES_RGB).sum()
            assert (pale > 30 and full == 0) if t in missing else (pale == 0 and full > 30), (t, panel, pale, full)


@pytest.mark.parametrize("case", ["missing", "name", "suffix", "several", "prep_name", "kp_frames", "kp_name",
                                  "kp_layout", "start", "joints"])
def test_render_cli_bad_input(prep_dir, tmp_path, capsys, case):
    src = tmp_path / "pred.npz"
    write_poses_npz(src, {"a": standing_poses(10), "b": standing_poses(12), "c": standing_poses(5)[:, :16]})
    kp = tmp_path / "kp.npz"
    np.savez(kp, a=np.zeros((9, 17, 2), np.float32))
    out = tmp_path / "out.gif"
    argv, names = {
        "missing": ([str(tmp_path / "nope.npz"), "-o", str(out)], "nope.npz"),
        "name": ([str(src), "--name", "zzz", "-o", str(out)], "pred.npz"),
        "suffix": ([str(src), "--name", "a", "-o", str(tmp_path / "out.avi")], "out.avi"),
        "several": ([str(src), "-o", str(out)], "pred.npz"),
        "prep_name": ([str(src), "--name", "a", "--prep", str(prep_dir), "-o", str(out)], str(prep_dir)),
        "kp_frames": ([str(src), "--name", "a", "--keypoint-file", str(kp), "-o", str(out)], "kp.npz"),
        "kp_name": ([str(src), "--name", "b", "--keypoint-file", str(kp), "-o", str(out)], "kp.npz"),
        "kp_layout": ([str(src), "--name", "a", "--keypoint-file", str(kp), "--layout", "h36m", "-o", str(out)], "kp.npz"),
        "start": ([str(src), "--name", "a", "--start", "10", "-o", str(out)], "pred.npz"),
        "joints": ([str(src), "--name", "c", "-o", str(out)], "pred.npz"),
    }[case]
    one_line_error(capsys, vp3d_render.main(argv), names)
    assert not list(tmp_path.glob("out.*"))


def test_missed_keypoints_are_left_out(tmp_path):
    T = 6
    poses = standing_poses(T)
    points = np.random.default_rng(1).uniform(50, 450, (T, 17, 2))
    points[2] = np.nan                        # a frame with no detection
    points[3, 5] = np.nan                     # one missed joint
    out = tmp_path / "nan.gif"
    assert render(out, poses, Keypoints2D(points, keypoint_layouts()["coco"])) == T
    frames = frames_of_gif(out)
    area = (slice(TOP, 400 - BOTTOM), slice(0, 400))             # the 2D panel at the default size
    assert skeleton_mask(frames[2][area]).sum() == 0 and skeleton_mask(frames[3][area]).sum() > 0


def test_the_3d_view_holds_every_limb_of_every_frame(tmp_path):
    """A wild frame (a wrist 2.5 m out, a foot 1.5 m back) stays inside the panel with the rest: the view is
    fitted to every joint of every frame, not to the median body."""
    poses = standing_poses(10)
    poses[4, SKEL.names.index("RWrist")] += [-2.5, 0.3, 0.0]
    poses[7, SKEL.names.index("LFoot")] += [0.0, 0.0, 1.5]
    size = 160
    area = panel_area(size)
    for azimuth in (0.0, 30.0, 90.0):
        camera = fit_camera([stage(poses)[0]], area, azimuth)
        px, _ = camera.project(stage(poses)[0])
        assert (px >= 0.04 * np.array(area)).all() and (px <= 0.96 * np.array(area)).all(), azimuth
        assert np.ptp(px[..., 0]) > 0.85 * area[0] or np.ptp(px[..., 1]) > 0.85 * area[1]    # and fills it
    out = tmp_path / "wild.gif"
    render(out, poses, size=size, azimuth=30.0)
    frames = frames_of_gif(out)
    assert len(frames) == len(poses)
    for frame in frames:
        drawn = skeleton_mask(frame[TOP:size - BOTTOM, 1:size - 1])
        ys, xs = np.nonzero(drawn)
        assert xs.min() > 2 and xs.max() < size - 5 and ys.min() > 2 and ys.max() < size - TOP - BOTTOM - 3


def test_filled_frames_are_pale_and_a_key_says_so(tmp_path):
    T, size = 6, 400
    filled = np.array([False, True, True, False, False, True])
    out = tmp_path / "f.gif"
    render(out, standing_poses(T), size=size, filled=filled)
    frames = frames_of_gif(out)
    assert len(frames) == T
    for t, frame in enumerate(frames):
        body = frame[TOP:size - BOTTOM]
        pale, full = skeleton_mask(body, colours=PALE_RGB).sum(), skeleton_mask(body, colours=BONES_RGB).sum()
        assert (pale > 100 and full == 0) if filled[t] else (pale == 0 and full > 100), t
        key = frame[size - BOTTOM:]                                    # the key, bottom right, in every frame
        assert all(skeleton_mask(key, colours=np.array([PALETTE[c]])).sum() > 10
                   for c in ("left", "right", "left_filled"))
    small = tmp_path / "s.gif"                                         # no room for it: left out
    render(small, standing_poses(2), size=96)
    assert skeleton_mask(frames_of_gif(small)[0][96 - BOTTOM:]).sum() == 0


def test_render_cli_draws_humaneva_poses_with_their_skeleton(humaneva_dataset, tmp_path):
    """A HumanEva-I preprocess folder: its 15-joint ground truth and 15-keypoint input, and 15-joint poses (here
    the ground truth itself, as saved predictions are: root-relative), each panel a skeleton."""
    prep = tmp_path / "prep"
    manifest = preprocess(humaneva_dataset, prep, ["Validate/S2"], "gt", filter_widths=(3, 3), lengths=[])
    e = manifest.entries[0]
    truth = read_array(prep / "ground_truths" / f"{e.name}.bin", (e.frames, 15, 3)).copy()
    truth[:, 0] = 0
    write_poses_npz(tmp_path / "pred.npz", {e.name: truth})
    out = tmp_path / "he.gif"
    assert vp3d_render.main([str(tmp_path / "pred.npz"), "--name", e.name, "--prep", str(prep), "-o", str(out),
                             "--frames", "6", "--size", "128"]) == 0
    frames = frames_of_gif(out)
    assert len(frames) == 6 and frames[0].shape == (128, 3 * 128, 3)         # 2D, prediction, ground truth
    assert all(skeleton_mask(f[:, i * 128:(i + 1) * 128]).sum() > 20 for f in frames for i in range(3))
    below_titles = [skeleton_mask(frames[0][24:128 - BOTTOM, i * 128:(i + 1) * 128]) for i in (1, 2)]
    np.testing.assert_array_equal(*below_titles)                             # the same poses, drawn alike (the key aside)
