"""The frame rate is a fact that travels: vp3d_lift.py records it (and the filled frames) in every pose file,
vp3d_render.py and vp3d_convert.py use it (their --fps overrides it), and where nothing records a rate one line
says which rate was taken and how to give the real one."""
import json

import numpy as np
import pytest
from random_models import random_model
from keypoint_writers import video_keypoints, write_detectron_npz
from PIL import Image

import vp3d_convert
import vp3d_lift
import vp3d_render
from vp3d.io.formats import read_poses
from vp3d.io.poses import Poses, write_poses_csv, write_poses_json, write_poses_npz
from vp3d.model import checkpoint

W, H = 640, 480
EMPTY = (5, 6, 7, 30)         # frames without a detection


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A Detectron2 file of a 45-frame clip (upstream's infer_video_d2.py output) and a small model."""
    folder = tmp_path_factory.mktemp("rate")
    kps = video_keypoints(45, W, H, seed=3)
    probs = np.full((1, 17), 0.9)
    dets = [None if t in EMPTY else (np.array([[*kps[t].min(0), *kps[t].max(0), 0.99]]), kps[t][None], probs)
            for t in range(45)]
    model = folder / "model.bin"
    checkpoint.save(model, random_model((3, 3), 16, seed=2))
    return write_detectron_npz(folder / "clip.mp4.npz", dets, W, H), model


def gif_delays(path) -> list[int]:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(im.info["duration"])
    return out


def test_lift_records_the_rate_and_render_plays_at_it(clip, tmp_path, capsys):
    keypoints, model = clip
    out = tmp_path / "p.npz"
    assert vp3d_lift.main([str(keypoints), "-m", str(model), "--fps", "30", "-o", str(out)]) == 0
    assert "no frame rate" not in capsys.readouterr().out
    poses = read_poses(out)
    assert poses.fps == 30.0
    assert np.flatnonzero(poses.filled["clip.mp4"]).tolist() == list(EMPTY)
    gif = tmp_path / "p.gif"
    assert vp3d_render.main([str(out), "-o", str(gif), "--size", "96"]) == 0
    delays = gif_delays(gif)
    assert len(delays) == 45 and set(delays) == {30, 40}       # whole centiseconds, as GIF stores them
    assert abs(sum(delays) - 45 * 1000 / 30) <= 10               # plays in its own 1.5 s: 33.3 ms a frame
    assert all(abs(sum(delays[:k]) - k * 1000 / 30) <= 10 for k in range(1, 46))
    assert "records no frame rate" not in capsys.readouterr().out
    mp4 = tmp_path / "p.mp4"
    assert vp3d_render.main([str(out), "-o", str(mp4), "--size", "96"]) == 0
    from vp3d.io.video import video_info
    assert video_info(mp4).fps == 30.0
    assert vp3d_render.main([str(out), "-o", str(gif), "--size", "96", "--fps", "10"]) == 0    # the flag wins
    assert set(gif_delays(gif)) == {100}


def test_without_a_rate_one_line_names_the_one_taken(clip, tmp_path, capsys):
    keypoints, model = clip
    out = tmp_path / "p.json"
    assert vp3d_lift.main([str(keypoints), "-m", str(model), "-o", str(out)]) == 0
    line, = [x for x in capsys.readouterr().out.splitlines() if "frame rate" in x]
    assert "taken as the model's 50 fps" in line and "--fps F" in line and "--video FILE" in line
    assert json.loads(out.read_text())["fps"] == 50.0             # what it was lifted at, recorded
    plain = tmp_path / "plain.npz"
    np.savez(plain, clip=read_poses(out)["clip.mp4"])              # a file from elsewhere: no rate
    assert vp3d_render.main([str(plain), "-o", str(tmp_path / "p.gif"), "--size", "96"]) == 0
    line, = [x for x in capsys.readouterr().out.splitlines() if "frame rate" in x]
    assert line == f"[INFO] {plain} records no frame rate: rendering at 50 fps (give the real one with --fps F)"
    assert set(gif_delays(tmp_path / "p.gif")) == {20}
    assert vp3d_convert.main([str(plain), "-o", str(tmp_path / "p.bvh")]) == 0
    assert "records no frame rate: BVH frame time 1/50 s" in capsys.readouterr().out


def test_convert_carries_the_rate_and_filled_frames_into_every_format(tmp_path, capsys):
    rng = np.random.default_rng(0)
    filled = np.zeros(6, bool)
    filled[[0, 3, 4]] = True
    poses = Poses({"a": rng.normal(size=(6, 17, 3)).astype(np.float32),
                   "b": rng.normal(size=(2, 17, 3)).astype(np.float32)},
                  first_frames={"b": 9}, fps=29.97, filled={"a": filled, "b": np.zeros(2, bool)})
    write_poses_npz(tmp_path / "p.npz", poses)
    for suffix in (".json", ".csv", ".npz"):
        target = tmp_path / f"q{suffix}"
        assert vp3d_convert.main([str(tmp_path / "p.npz"), "-o", str(target)]) == 0
        back = read_poses(target)
        assert back.fps == 29.97 and back.first_frames == {"b": 9}, suffix
        np.testing.assert_array_equal(back.filled["a"], filled)
        assert not back.filled.get("b", np.zeros(2, bool)).any()
    assert vp3d_convert.main([str(tmp_path / "p.npz"), "--name", "a", "-o", str(tmp_path / "a.bvh")]) == 0
    assert f"Frame Time: {1 / 29.97:.8f}" in (tmp_path / "a.bvh").read_text()
    assert vp3d_convert.main([str(tmp_path / "p.npz"), "--fps", "25", "-o", str(tmp_path / "r.json")]) == 0
    assert read_poses(tmp_path / "r.json").fps == 25.0                   # --fps overrides the file's
    assert "no frame rate" not in capsys.readouterr().out


def test_the_facts_in_each_format_are_where_the_docs_say(tmp_path):
    poses = Poses({"v": np.zeros((4, 17, 3), np.float32)}, first_frames={"v": 2}, fps=30.0,
                  filled={"v": np.array([False, True, True, False])})
    write_poses_json(tmp_path / "p.json", poses)
    video = json.loads((tmp_path / "p.json").read_text())
    assert video["fps"] == 30.0 and video["videos"]["v"]["filled"] == [[1, 2]]
    write_poses_csv(tmp_path / "p.csv", poses)
    rows = [r.split(",") for r in (tmp_path / "p.csv").read_text().splitlines()]
    assert rows[0] == ["video", "frame", "joint", "x", "y", "z", "time", "filled"]
    assert [(r[1], r[7]) for r in rows[1::17]] == [("2", "0"), ("3", "1"), ("4", "1"), ("5", "0")]
    assert [float(r[6]) for r in rows[1::17]] == pytest.approx([2 / 30, 3 / 30, 4 / 30, 5 / 30], rel=1e-11)
    write_poses_npz(tmp_path / "p.npz", poses)
    import zipfile
    with zipfile.ZipFile(tmp_path / "p.npz") as z:
        assert json.loads(z.comment) == {"fps": 30.0, "first_frame": {"v": 2}}
        assert json.loads(z.getinfo("v.npy").comment) == {"filled": [[1, 2]]}
    with np.load(tmp_path / "p.npz") as z:                       # np.load sees the arrays alone
        assert z.files == ["v"]


def test_filled_frames_of_thousands_of_runs_fit_an_npz(tmp_path):
    """Every other frame of a 20,000-frame video filled (10,000 runs): their ranges would be ~150 KB, over a zip
    comment's 65,535 bytes; the .npz keeps the mask's packed bits instead and gives the same mask back. A
    tampered bit string is one line, and one that would unzip to more than the mask's bytes is refused."""
    import base64
    import zipfile
    import zlib
    from vp3d.errors import Vp3dError
    from vp3d.io.poses import read_poses_npz
    mask = np.zeros(20_000, bool)
    mask[1::2] = True
    mask[7_001:7_100] = True
    poses = Poses({"v": np.zeros((20_000, 17, 3), np.float32)}, fps=30.0, filled={"v": mask})
    write_poses_npz(tmp_path / "p.npz", poses)
    with zipfile.ZipFile(tmp_path / "p.npz") as z:
        facts = json.loads(z.getinfo("v.npy").comment)
    assert list(facts) == ["filled_bits"]
    np.testing.assert_array_equal(read_poses_npz(tmp_path / "p.npz").filled["v"], mask)
    for bits in (base64.b64encode(zlib.compress(bytes(2_499))), base64.b64encode(zlib.compress(bytes(10**7))),
                 b"not base64!"):
        with zipfile.ZipFile(tmp_path / "p.npz") as z, zipfile.ZipFile(tmp_path / "bad.npz", "w") as bad:
            info = z.getinfo("v.npy")
            info.comment = json.dumps({"filled_bits": bits.decode()}).encode()
            bad.writestr(info, z.read("v.npy"))
        with pytest.raises(Vp3dError, match="filled_bits.* is not the packed mask of its 20000 frames"):
            read_poses_npz(tmp_path / "bad.npz")
