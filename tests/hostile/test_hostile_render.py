"""Hostile poses files and flags through vp3d_render.py, in a child under a memory limit (hostile_run): an
archive comment nested 65,000 deep, an .npz that unpacks to gigabytes, a CSV frame of 31 digits, JSON nested
beyond any stack, the keypoint file's frame numbers far apart, a panel of a million pixels a side, a frame
rate no animation format holds. Each is one line naming the file or flag (exit 2), nothing written."""
import json
import zipfile

import numpy as np
import pytest

from hostile_run import run_mains, tree
from keypoint_writers import video_keypoints, write_coco_json
from test_hostile_readers import FAR, coco_entry, zip_bomb
from vp3d.io.formats import write_poses

W = H = 1000


def poses_files(d):
    """{case: (argv after the script name, fragments of its one error line)}."""
    d.mkdir()
    poses = {"clip": (np.random.default_rng(0).normal(0, 0.3, (60, 17, 3)) + [0, 0, 4]).astype(np.float32)}
    write_poses(d / "good.npz", poses, fps=50)
    kps = video_keypoints(60, W, H, seed=1)
    write_coco_json(d / "clip.json", kps, image_id0=0)
    out = str(d / "out.gif")
    cases = {}
    with zipfile.ZipFile(d / "deep.npz", "w") as z:
        with zipfile.ZipFile(d / "good.npz") as src:
            for info in src.infolist():
                z.writestr(info, src.read(info))
        z.comment = b"[" * 65_000
    cases["archive comment nested 65,000 deep"] = ([str(d / "deep.npz"), "-o", out],
                                                   ["deep.npz: the archive comment is not vp3d's"])
    zip_bomb(d / "bomb.npz", 3_000_000, columns=3)
    cases["poses .npz that unpacks to 0.6 GB"] = ([str(d / "bomb.npz"), "-o", out], ["bomb.npz", "would unpack"])
    rows = "video,frame,joint,x,y,z\n" + "".join(f"clip,{10 ** 30},{j},0,0,4\n" for j in range(17))
    (d / "digits.csv").write_text(rows)
    cases["poses CSV frame of 31 digits"] = ([str(d / "digits.csv"), "-o", out], ["digits.csv", "not a number"])
    (d / "deep.json").write_text('{"videos": ' + "[" * 100_000 + "]" * 100_000 + "}")
    cases["poses JSON nested 100,000 deep"] = ([str(d / "deep.json"), "-o", out], ["deep.json", "not valid JSON"])
    (d / "far.json").write_text(json.dumps([coco_entry(t, kps[t]) for t in range(60)] + [coco_entry(FAR, kps[0])]))
    cases["--keypoint-file image_id 10**10"] = (
        [str(d / "good.npz"), "--keypoint-file", str(d / "far.json"), "--image-size", f"{W}x{H}", "-o", out],
        ["far.json", "to 10000000000"])
    cases["--size 1000000"] = ([str(d / "good.npz"), "--size", "1000000", "-o", out],
                               ["argument --size: expected an integer from 16 to 4096"])
    cases["--fps 1e-300"] = ([str(d / "good.npz"), "--fps", "1e-300", "-o", out],
                             ["out.gif: an animation at 1e-300 fps; expected 0.01 to 1000 frames per second"])
    cases["--start 10**30"] = ([str(d / "good.npz"), "--start", "1" + "0" * 30, "-o", out], ["past the end"])
    return cases


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_render")
    cases = poses_files(root / "in")
    before = tree(root)
    return cases, run_mains("vp3d_render", {name: argv for name, (argv, _) in cases.items()}, root), before, tree(root)


CASES = ["archive comment nested 65,000 deep", "poses .npz that unpacks to 0.6 GB", "poses CSV frame of 31 digits",
         "poses JSON nested 100,000 deep", "--keypoint-file image_id 10**10", "--size 1000000", "--fps 1e-300",
         "--start 10**30"]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_render_is_one_line_in_bounded_memory_and_time(outcome, case):
    cases, results, _, _ = outcome
    assert set(cases) == set(CASES)
    results[case].one_line(*cases[case][1])
    assert results[case].seconds < 10


def test_a_refused_render_writes_nothing(outcome):
    _, _, before, after = outcome
    assert after == before
