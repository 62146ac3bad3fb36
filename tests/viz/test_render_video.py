"""Renders over a video (vp3d_render.py --video): the video's own frames under the 2D keypoints, frame i of a
sequence on video frame first_frame + i, every person of the video in one render, one colour each."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import vp3d_lift
import vp3d_render
from vp3d.errors import Vp3dError
from vp3d.facts.skeleton import keypoint_layouts
from vp3d.io.poses import write_poses_npz
from vp3d.model.export import export_onnx
from vp3d.viz.inputs import Keypoints2D, file_keypoint_sequences
from vp3d.viz.render import BOTTOM, PEOPLE, TOP, Track, render_over_video

from random_models import random_model
from keypoint_writers import people_scene, write_coco_people

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

VW, VH, SIZE = 96, 64, 160
BLUE = (0, 0, 153)


def centre(f: int) -> np.ndarray:
    """Where video frame f's yellow square is centred, pixels."""
    return np.array([20.0 + 16 * f, 20.0 + 6 * f])


def write_video(path, frames: int = 4) -> None:
    """A dark blue video with a 12 x 12 yellow square that moves every frame (centre(f))."""
    writer = imageio_ffmpeg.write_frames(str(path), (VW, VH), fps=25, macro_block_size=16)
    writer.send(None)
    for f in range(frames):
        im = np.empty((VH, VW, 3), np.uint8)
        im[:] = BLUE
        x, y = centre(f).astype(int)
        im[y - 6:y + 6, x - 6:x + 6] = (255, 255, 0)
        writer.send(im.tobytes())
    writer.close()


def poses(frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.25, (1, 17, 3)) + rng.normal(0, 0.01, (frames, 17, 3))).astype(np.float32)


def test_keypoints_are_drawn_where_they_lie_on_the_videos_own_frames(tmp_path):
    write_video(tmp_path / "clip.mp4")
    coco = keypoint_layouts()["coco"]
    a = np.repeat(np.stack([centre(f) for f in (1, 2, 3)])[:, None], 17, axis=1)   # on the square, frames 1-3
    b = np.full((2, 17, 2), [80.0, 50.0])                                             # elsewhere, frames 0-1
    tracks = [Track("clip_person1", poses(3, 0), Keypoints2D(a, coco, None, first_frame=1)),
              Track("clip_person2", poses(2, 1), Keypoints2D(b, coco, None, first_frame=0))]
    assert render_over_video(tmp_path / "out.gif", tracks, tmp_path / "clip.mp4", size=SIZE) == 4
    gif = Image.open(tmp_path / "out.gif")
    assert gif.n_frames == 4 and gif.size == (3 * SIZE, SIZE)          # the video panel and two 3D panels
    for t in range(4):
        gif.seek(t)
        px = np.asarray(gif.convert("RGB"))[TOP:SIZE - BOTTOM, 1:SIZE - 1].astype(int)
        yellow = (px[..., :2] > 200).all(axis=-1) & (px[..., 2] < 60)     # the square (the panel's margin is yellow)
        blue = (px[..., 2] > 100) & (px[..., :2] < 60).all(axis=-1)
        assert yellow.sum() > 100 and blue.sum() > 5000                 # the video is under the drawing
        square = np.argwhere(yellow).mean(axis=0)[::-1]                   # (x, y) in the panel
        first = (px == PEOPLE[0]).all(axis=-1)
        second = (px == PEOPLE[1]).all(axis=-1)
        assert first.any() == (t >= 1) and second.any() == (t <= 1)    # each person on their own frames only
        if t >= 1:                                                      # person 1's keypoints on the square
            np.testing.assert_allclose(np.argwhere(first).mean(axis=0)[::-1], square, atol=1.5)
        if t <= 1:                                                      # person 2 right and below of it
            dot = np.argwhere(second).mean(axis=0)[::-1]
            scale = (square - dot) / (centre(t) - [80.0, 50.0])
            np.testing.assert_allclose(scale, 0.95 * 108 / 64, rtol=0.05)   # the image fitted to the area's height (108 px)


def test_the_cli_draws_every_person_of_the_video(tmp_path, capsys):
    write_video(tmp_path / "clip.mp4", 3)
    names = ["clip_person10", "clip_person2", "other"]
    write_poses_npz(tmp_path / "p.npz", {n: poses(3, k) for k, n in enumerate(names)})
    np.savez(tmp_path / "k.npz", **{n: np.full((3, 17, 2), [30.0 + 10 * k, 30.0], np.float32)
                                    for k, n in enumerate(names)})
    assert vp3d_render.people_of({n: None for n in names}, "x/clip.mp4") == ["clip_person2", "clip_person10"]
    args = [str(tmp_path / "p.npz"), "--keypoint-file", str(tmp_path / "k.npz"), "--video", str(tmp_path / "clip.mp4")]
    assert vp3d_render.main([*args, "--people", "all", "-o", str(tmp_path / "all.gif")]) == 0
    assert "wrote 3 frames of 2 people" in capsys.readouterr().out
    assert Image.open(tmp_path / "all.gif").size == (3 * 400, 400)
    assert vp3d_render.main([*args, "--name", "other", "-o", str(tmp_path / "one.mp4")]) == 0
    assert "of 1 person" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        vp3d_render.main([str(tmp_path / "p.npz"), "--video", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "x.gif")])


def test_keypoints_of_another_image_size_are_refused(tmp_path):
    write_video(tmp_path / "clip.mp4", 2)
    kps = Keypoints2D(np.full((2, 17, 2), 10.0), keypoint_layouts()["coco"], (1920, 1080))
    with pytest.raises(Vp3dError, match="pixels of a 1920x1080 image, but .*clip.mp4 is 96x64"):
        render_over_video(tmp_path / "o.gif", [Track("clip", poses(2, 0), kps)], tmp_path / "clip.mp4")


def test_a_people_all_lift_of_a_coco_json_renders_over_its_video(tmp_path, capsys):
    """The whole in-the-wild path: a COCO results JSON of two people (no track ids) lifted with --people all,
    then drawn over the video with --people all: every track's keypoints are the ones it was lifted from."""
    pytest.importorskip("scipy")
    frames = 6
    write_video(tmp_path / "clip.mp4", frames)
    scene = people_scene(2, frames, VW, VH, miss=0.0, seed=4, focal=25.0)   # small people in a small video
    write_coco_people(tmp_path / "clip.json", scene)
    export_onnx(random_model((3,), 16, seed=1), tmp_path / "m.onnx", None)
    assert vp3d_lift.main([str(tmp_path / "clip.json"), "-m", str(tmp_path / "m.onnx"), "--video",
                           str(tmp_path / "clip.mp4"), "--people", "all", "-o", str(tmp_path / "p.npz")]) == 0
    capsys.readouterr()
    assert vp3d_render.main([str(tmp_path / "p.npz"), "--keypoint-file", str(tmp_path / "clip.json"), "--video",
                             str(tmp_path / "clip.mp4"), "--people", "all", "-o", str(tmp_path / "all.gif")]) == 0
    assert "of 2 people" in capsys.readouterr().out
    got = file_keypoint_sequences(tmp_path / "clip.json", ["clip_person1", "clip_person2"])
    drawn = sorted((kp.first_frame, kp.points.shape[0]) for kp in got.values())
    assert drawn == sorted((int(t[0]), len(t)) for t, _ in scene)       # each person's own frames


def test_over_a_video_bones_are_coloured_by_side_and_each_persons_joints_their_own(tmp_path):
    """Two people over the video: bones left blue and right red as in every 2D panel, joints in each person's
    colour, each 3D panel's title in that colour; a person's filled frames pale."""
    from vp3d.viz.render import PALETTE
    write_video(tmp_path / "clip.mp4", 8)
    scene = people_scene(2, 8, VW, VH, miss=0.0, seed=4, focal=80.0)
    coco = keypoint_layouts()["coco"]
    pale_at = int(scene[1][0][0]) + 1                                   # person 2's second frame: filled
    tracks = [Track(f"clip_person{k + 1}", poses(len(t), k), Keypoints2D(kps.astype(float), coco, None, int(t[0]),
                                                                        filled=(t == pale_at) & (k == 1)))
              for k, (t, kps) in enumerate(scene)]
    start = min(int(t[0]) for t, _ in scene)
    render_over_video(tmp_path / "o.gif", tracks, tmp_path / "clip.mp4", size=SIZE)
    gif = Image.open(tmp_path / "o.gif")
    assert gif.n_frames == 8                                            # the video's frames (both people span them)
    for t in range(gif.n_frames):
        gif.seek(t)
        rgb = np.asarray(gif.convert("RGB")).astype(int)
        video = rgb[TOP:SIZE - BOTTOM, 1:SIZE - 1]
        count = lambda colour, im=video: int((im == colour).all(axis=-1).sum())
        present = [int(tt[0]) <= start + t <= int(tt[-1]) for tt, _ in scene]
        assert count(PALETTE["left"]) > 3 and count(PALETTE["right"]) > 3
        assert [count(PEOPLE[k]) > 3 for k in (0, 1)] == present
        assert (count(PALETTE["left_filled"]) > 0) == (start + t == pale_at)
    for k in (0, 1):                                                    # titles in the people's colours
        assert count(PEOPLE[k], rgb[:TOP, (k + 1) * SIZE:(k + 2) * SIZE]) > 5
