"""What a new user runs into first, lifting their own video: each mistake gets a one-line refusal naming
the file and what to do, before any work; the files vp3d_lift.py writes are read by the other tools."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import vp3d_convert
import vp3d_lift
import vp3d_render
from vp3d.facts.architecture import ModelConfig
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel, randomize_batchnorm
from vp3d.errors import Vp3dError
from vp3d.io.keypoints import read_keypoints
from vp3d.io.poses import read_poses_npz

from one_line_errors import one_line_error
from random_models import random_model
from repo_paths import ROOT
from keypoint_writers import video_keypoints, write_coco_json, write_mmpose_json

W, H = 880, 660
H36M_SYMMETRY = ((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{'coco': a checkpoint that records nothing of its keypoint order (lifted as COCO, upstream's default),
    'h36m': one trained on Human3.6M-order keypoints (its checkpoint records that symmetry)}."""
    d = tmp_path_factory.mktemp("first_contact")
    checkpoint.save(d / "coco.bin", random_model((3, 3), 16, seed=4))
    torch.manual_seed(5)
    h36m = TemporalModel(ModelConfig((3, 3), 16, keypoint_symmetry=H36M_SYMMETRY))
    checkpoint.save(d / "h36m.bin", randomize_batchnorm(h36m, 5).eval())
    return {"coco": d / "coco.bin", "h36m": d / "h36m.bin"}


@pytest.fixture
def clip(tmp_path):
    """A COCO results JSON of 40 frames whose keypoints fill a W x H image."""
    kps = video_keypoints(40, W, H, seed=3)
    kps[:, 0] = [5, 5]                                  # a keypoint near each corner: the span is the image
    kps[:, 1] = [W - 5, H - 5]
    return write_coco_json(tmp_path / "clip.json", kps), kps


@pytest.mark.parametrize("writer", [write_coco_json, write_mmpose_json])
def test_coco_order_keypoints_with_a_human36m_order_model_are_refused_naming_both(models, tmp_path, capsys, writer):
    path = writer(tmp_path / "clip.json", video_keypoints(40, W, H))
    out = tmp_path / "o.npz"
    rc = vp3d_lift.main([str(path), "-m", str(models["h36m"]), "--image-size", str(W), str(H), "-o", str(out)])
    err = one_line_error(capsys, rc)
    assert "clip.json" in err and "coco-order keypoints" in err and "h36m order" in err
    assert not out.exists()


def test_an_image_size_the_keypoints_do_not_fit_is_refused_with_their_span(models, clip, tmp_path, capsys):
    path, _ = clip
    out = tmp_path / "o.npz"
    rc = vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", "100", "100", "-o", str(out)])
    err = one_line_error(capsys, rc)
    assert f"span x 5..{W - 5}, y 5..{H - 5} px" in err and "100x100" in err and "--image-size" in err
    assert not out.exists()


def test_image_size_as_WxH_lifts_as_W_H(models, clip, tmp_path):
    path, _ = clip
    assert vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", f"{W}x{H}", "-o",
                           str(tmp_path / "a.npz")]) == 0
    assert vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", str(W), str(H), "-o",
                           str(tmp_path / "b.npz")]) == 0
    np.testing.assert_array_equal(read_poses_npz(tmp_path / "a.npz")["clip"], read_poses_npz(tmp_path / "b.npz")["clip"])


def test_an_unreadable_image_size_shows_the_forms_it_takes(models, clip, tmp_path, capsys):
    path, _ = clip
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", f"{W},{H}", "-o", str(tmp_path / "a.npz")])
    assert e.value.code == 2 and "W H or WxH" in capsys.readouterr().err


@pytest.mark.parametrize("out", ["out.txt", "poses.npy", "clip.mp4"])
def test_an_unknown_output_suffix_is_refused_before_any_work(models, clip, tmp_path, capsys, out):
    path, _ = clip
    rc = vp3d_lift.main([str(path), "-m", str(tmp_path / "no_such_model.bin"), "--image-size", str(W), str(H),
                         "-o", str(tmp_path / out)])
    err = one_line_error(capsys, rc)            # the model (missing) was never opened
    assert f"{out}: unknown output format" in err and "a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.json"]


@pytest.mark.parametrize("out", ["lifted", "lifted.d/"])
def test_a_folder_is_a_path_without_a_suffix_or_ending_in_a_slash(models, clip, tmp_path, out):
    path, _ = clip
    assert vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", f"{W}x{H}",
                           "-o", f"{tmp_path}/{out}"]) == 0
    folder = tmp_path / out.rstrip("/")
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir()) == ["clip.npz"]


@pytest.mark.parametrize("suffix", [".mp4", ".MOV", ".avi"])
def test_a_video_is_lifted_through_the_detector_and_a_broken_one_is_one_line(models, tmp_path, capsys, suffix):
    video = tmp_path / f"clip{suffix}"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    rc = vp3d_lift.main([str(video), "-m", str(models["coco"]), "-o", str(tmp_path / "o.npz")])
    one_line_error(capsys, rc, f"clip{suffix}: cannot read the video")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"clip{suffix}"]      # nothing written
    with pytest.raises(Vp3dError, match="a video, not 2D keypoints: give it to vp3d_lift.py as its input") as e:
        read_keypoints(video)                     # where keypoints must be given (vp3d_render.py --keypoint-file)
    assert "Lift your own video" in str(e.value) and "vp3d_detect.py" in str(e.value)
    readme = (ROOT / "README.md").read_text()
    assert "\n## Lift your own video\n" in readme               # the section the message points at


def test_convert_and_render_read_every_format_lift_writes(models, clip, tmp_path):
    """The .json and .csv vp3d_lift.py writes convert back to its .npz exactly (9 significant digits keep
    float32), and render as the .npz does."""
    path, _ = clip
    lift = [str(path), "-m", str(models["coco"]), "--image-size", f"{W}x{H}", "-o"]
    for suffix in (".npz", ".json", ".csv"):
        assert vp3d_lift.main([*lift, str(tmp_path / f"lifted{suffix}")]) == 0
    lifted = read_poses_npz(tmp_path / "lifted.npz")["clip"]
    for suffix in (".json", ".csv"):
        back = tmp_path / f"back_{suffix[1:]}.npz"
        assert vp3d_convert.main([str(tmp_path / f"lifted{suffix}"), "-o", str(back)]) == 0
        np.testing.assert_array_equal(read_poses_npz(back)["clip"], lifted)
    pytest.importorskip("PIL")
    for suffix in (".json", ".csv"):
        gif = tmp_path / f"r_{suffix[1:]}.gif"
        assert vp3d_render.main([str(tmp_path / f"lifted{suffix}"), "-o", str(gif), "--frames", "3", "--size", "64"]) == 0
        assert gif.stat().st_size > 0


def test_a_bvh_given_as_poses_says_which_files_hold_positions(models, clip, tmp_path, capsys):
    path, _ = clip
    assert vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", f"{W}x{H}",
                           "-o", str(tmp_path / "clip.bvh")]) == 0
    capsys.readouterr()
    rc = vp3d_convert.main([str(tmp_path / "clip.bvh"), "-o", str(tmp_path / "x.npz")])
    err = one_line_error(capsys, rc)
    assert "clip.bvh: a BVH file holds joint rotations" in err and ".npz" in err
    assert not (tmp_path / "x.npz").exists()


def test_the_old_script_name_still_converts(models, clip, tmp_path):
    path, _ = clip
    assert vp3d_lift.main([str(path), "-m", str(models["coco"]), "--image-size", f"{W}x{H}",
                           "-o", str(tmp_path / "l.npz")]) == 0
    run = subprocess.run([sys.executable, "vp3d_export.py", str(tmp_path / "l.npz"), "-o", str(tmp_path / "l.json")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = json.loads((tmp_path / "l.json").read_text())["videos"]["clip"]["poses"]
    np.testing.assert_array_equal(np.asarray(got, np.float32), read_poses_npz(tmp_path / "l.npz")["clip"])
