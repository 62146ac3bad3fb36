"""Lifting: the model path against a hand computation, parity between input formats, chunks, exported
models, the Python API and vp3d_lift.py's outputs and refusals."""
import csv
import json

import numpy as np
import pytest
import torch
from one_line_errors import one_line_error
from random_models import random_model
from keypoint_writers import (
    COCO_SYMMETRY,
    fill_gaps_by_hand,
    video_keypoints,
    write_coco_json,
    write_custom_npz,
    write_keypoints_csv,
    write_mmpose_json,
)

import vp3d
import vp3d_lift
from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig
from vp3d.io.formats import per_video_paths, read_poses
from vp3d.io.poses import read_poses_npz
from vp3d.lift import load_model
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel, randomize_batchnorm

W, H = 1280, 720
MISSING = [30, 31, 32, 60]
H36M_JOINTS = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]    # left, right of the 17 Human3.6M joints
NAMES = ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose", "Head",
         "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{'pos': checkpoint without, 'traj': with a trajectory model}, 27 frames, channels 32; and the nets."""
    d = tmp_path_factory.mktemp("lift_ckpt")
    pos = random_model((3, 3, 3), 32, seed=7)
    torch.manual_seed(8)
    traj = randomize_batchnorm(TemporalModel(ModelConfig((3, 3, 3), 32, num_joints_out=1)), 8).eval()
    checkpoint.save(d / "pos.bin", pos)
    obj = checkpoint.load_raw(d / "pos.bin")
    obj["model_traj"] = traj.state_dict()
    torch.save(obj, d / "traj.bin")
    checkpoint.save(d / "ascend.bin", pos, "conv2d", module_prefix=True)
    return {"pos": d / "pos.bin", "traj": d / "traj.bin", "ascend": d / "ascend.bin", "net": pos, "traj_net": traj}


def by_hand(net, traj_net, pixels, w, h, joints=H36M_JOINTS):
    """Upstream's in-the-wild path written out: x/w*2-1, y/w*2-h/w; 13 edge frames each side; the COCO
    mirror beside the input; un-flip (`joints`' left and right: Human3.6M's) and average; the trajectory
    (x negated) added."""
    x = pixels.astype(np.float64) / w * 2 - [1, h / w]
    x = np.concatenate([x[:1].repeat(13, 0), x, x[-1:].repeat(13, 0)]).astype(np.float32)
    left, right = COCO_SYMMETRY
    m = x.copy()
    m[:, left + right] = x[:, right + left]
    m[..., 0] *= -1
    batch = torch.from_numpy(np.stack([x, m]))
    with torch.no_grad():
        y = net(batch).numpy()
        t = traj_net(batch).numpy() if traj_net is not None else None
    back = y[1].copy()
    back[:, joints[0] + joints[1]] = y[1][:, joints[1] + joints[0]]
    back[..., 0] *= -1
    poses = (y[0] + back) / 2
    if t is not None:
        poses = poses + (t[0] + t[1] * [-1, 1, 1]) / 2
    return poses


@pytest.mark.parametrize("kind", ["pos", "traj", "ascend"])
def test_lift_matches_upstreams_path_computed_by_hand(models, kind):
    kps = video_keypoints(70, W, H, seed=3)
    lifter = vp3d.load_model(models[kind])
    got = lifter.lift(kps, image_size=(W, H))
    expected = by_hand(models["net"], models["traj_net"] if kind == "traj" else None, kps, W, H)
    assert got.shape == (70, 17, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if kind == "traj":    # the trajectory moves every joint: the root is no longer near the origin alone
        without = vp3d.load_model(models["pos"]).lift(kps, image_size=(W, H))
        assert np.abs(got - without).max() > 1e-2


def test_every_input_format_lifts_to_the_same_poses(models, tmp_path):
    video = video_keypoints(90, W, H, seed=1)
    others = {t: video[t] + 150 for t in (3, 29, 33, 70)}
    filled = fill_gaps_by_hand(video, MISSING)
    lifter = load_model(models["traj"])
    expected = by_hand(models["net"], models["traj_net"], filled, W, H)
    inputs = {
        "npz": write_custom_npz(tmp_path / "data_2d_custom_x.npz", {"clip": (filled, W, H)}),
        "mmpose": write_mmpose_json(tmp_path / "clip.json", video, MISSING, others),
        "coco": write_coco_json(tmp_path / "coco.json", video, MISSING, others),
        "csv": write_keypoints_csv(tmp_path / "table.csv", video, MISSING),
    }
    for kind, path in inputs.items():
        (name, poses), = lifter.lift_file(path, image_size=None if kind == "npz" else (W, H)).items()
        np.testing.assert_allclose(poses, expected, atol=1e-5, err_msg=kind)
    assert name == "table"


def test_a_long_sequence_lifts_chunked_as_whole(models):
    kps = video_keypoints(3000, W, H, seed=4)
    whole = load_model(models["traj"], chunk=10 ** 6).lift(kps, image_size=(W, H))
    chunked = load_model(models["traj"], chunk=97).lift(kps, image_size=(W, H))
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    np.testing.assert_allclose(whole[:100], by_hand(models["net"], models["traj_net"], kps, W, H)[:100], atol=1e-5)


def test_an_exported_onnx_model_lifts_as_its_checkpoint(models, tmp_path):
    from vp3d.model.export import export_onnx
    export_onnx(models["net"], tmp_path / "m.onnx", length=64)
    kps = video_keypoints(150, W, H, seed=5)
    lifter = load_model(tmp_path / "m.onnx")
    assert (lifter.receptive_field, lifter.length, lifter.trajectory) == (27, 64, None)
    np.testing.assert_allclose(lifter.lift(kps, image_size=(W, H)), by_hand(models["net"], None, kps, W, H), atol=1e-4)


def test_the_cli_writes_all_three_formats_with_the_same_numbers(models, tmp_path, capsys):
    video = video_keypoints(90, W, H, seed=1)
    mm = write_mmpose_json(tmp_path / "clip.json", video, MISSING, {40: video[40] + 90})
    npz = write_custom_npz(tmp_path / "data_2d_custom_x.npz", {"other": (video[:50], 640, 480)})
    expected = {"clip": by_hand(models["net"], models["traj_net"], fill_gaps_by_hand(video, MISSING), W, H),
                "other": by_hand(models["net"], models["traj_net"], video[:50], 640, 480)}
    for fmt in ("npz", "json", "csv"):
        out = tmp_path / f"poses.{fmt}"
        assert vp3d_lift.main([str(mm), str(npz), "-m", str(models["traj"]), "-o", str(out),
                               "--image-size", str(W), str(H)]) == 0
        if fmt == "npz":
            got = read_poses_npz(out)
        elif fmt == "json":
            doc = json.loads(out.read_text())
            assert (doc["joints"], doc["units"], doc["frame"]) == (NAMES, "m", "camera")
            got = {k: np.asarray(v["poses"], np.float32) for k, v in doc["videos"].items()}
        else:
            with open(out, newline="") as f:
                rows = list(csv.reader(f))
            assert rows[0] == ["video", "frame", "joint", "x", "y", "z", "time", "filled"]
            assert rows[1][:3] == ["clip", "0", "Hip"] and rows[17][:3] == ["clip", "0", "RWrist"]
            got = {}
            for name in ("clip", "other"):
                mine = [r for r in rows[1:] if r[0] == name]
                got[name] = np.asarray([r[3:6] for r in mine], np.float32).reshape(-1, 17, 3)
                assert [int(r[7]) for r in mine[::17]] == [int(t in MISSING) * (name == "clip")
                                                           for t in range(len(got[name]))]
                assert [float(r[6]) for r in mine[::17]] == pytest.approx(np.arange(len(got[name])) / 50)
                assert [int(r[1]) for r in mine[::17]] == list(range(len(got[name])))
        assert sorted(got) == ["clip", "other"]
        for name in got:
            np.testing.assert_allclose(got[name], expected[name], atol=1e-5, err_msg=f"{fmt} {name}")
    printed = capsys.readouterr().out
    assert "clip: 90 frames (1280x720), 4 without a detection filled by interpolation" in printed
    assert "other: 50 frames (640x480)" in printed


def test_directory_output_keeps_every_file_inside(models, tmp_path):
    kps = video_keypoints(30, W, H)
    npz = write_custom_npz(tmp_path / "in.npz", {"../../escape": (kps, W, H), "a b": (kps, W, H)})
    out = tmp_path / "out" / "deep"
    assert vp3d_lift.main([str(npz), "-m", str(models["pos"]), "-o", str(out) + "/", "--format", "csv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["______escape.csv", "a_b.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["deep"]
    assert per_video_paths(out, ["a b", "a_b", ".."], ".npz") == {      # two videos never share a file
        "a b": out / "a_b.npz", "a_b": out / "a_b_2.npz", "..": out / "__.npz"}


@pytest.mark.parametrize("case,fragment", [
    ("no-size", "gives no image size; give the frame size: image_size=(w, h) (vp3d_lift.py: --image-size W H"),
    ("layout", "holds coco-order keypoints, but the model takes h36m order"),
    ("symmetry", "keypoints_symmetry"),
    ("bad-json", "expected MMPose predictions"),
    ("missing", "no such keypoint file"),
    ("duplicate", "is also in"),
    ("bad-model", "none.bin: no such model file"),
])
def test_cli_bad_input_exits_2_with_one_line(models, tmp_path, capsys, case, fragment):
    kps = video_keypoints(30, W, H)
    npz = write_custom_npz(tmp_path / "v.npz", {"clip": (kps, W, H)})
    mm = write_mmpose_json(tmp_path / "clip.json", kps)
    model, extra = str(models["pos"]), []
    inputs = {"no-size": [mm], "layout": [npz], "bad-json": [tmp_path / "bad.json"], "missing": [tmp_path / "nope.csv"],
              "duplicate": [npz, mm], "bad-model": [npz],
              "symmetry": [write_custom_npz(tmp_path / "s.npz", {"clip": (kps, W, H)}, symmetry=[[1], [2]])]}[case]
    (tmp_path / "bad.json").write_text('{"predictions": []}')
    if case == "layout":
        extra = ["--layout", "h36m"]
    if case == "duplicate":
        extra = ["--image-size", "10", "10"]
    if case == "bad-model":
        model = str(tmp_path / "none.bin")
    out = tmp_path / "o.npz"
    one_line_error(capsys, vp3d_lift.main([*map(str, inputs), "-m", model, "-o", str(out), *extra]), fragment)
    assert not out.exists()


def test_cli_flag_errors_exit_2(models, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main(["a.json", "-m", "m.bin", "-o", "x.json", "--format", "csv"])
    assert e.value.code == 2 and "contradicts" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main(["a.json", "-m", "m.bin", "-o", "x.json", "--image-size", "0", "10"])
    assert e.value.code == 2


def test_lift_refuses_wrong_arrays(models):
    lifter = load_model(models["pos"])
    with pytest.raises(Vp3dError, match="expected \\(T, 17, 2\\)"):
        lifter.lift(np.zeros((10, 16, 2)), image_size=(W, H))
    with pytest.raises(Vp3dError, match="non-finite values, first at frame 4"):
        lifter.lift(np.where(np.arange(10)[:, None, None] == 4, np.nan, 1.0) * np.ones((10, 17, 2)), image_size=(W, H))
    with pytest.raises(Vp3dError, match="need image_size"):
        lifter.lift(np.zeros((10, 17, 2)))
    with pytest.raises(Vp3dError, match="keypoint layout"):
        load_model(models["pos"], layout="mpii")


def test_video_gives_the_image_size(models, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    writer = imageio_ffmpeg.write_frames(str(tmp_path / "v.mp4"), (64, 48), fps=25)
    writer.send(None)
    for _ in range(3):
        writer.send(np.zeros((48, 64, 3), np.uint8).tobytes())
    writer.close()
    from vp3d.io.video import video_info
    assert video_info(tmp_path / "v.mp4").size == (64, 48)
    assert video_info(tmp_path / "v.mp4").fps == 25.0
    kps = video_keypoints(30, 64, 48)
    write_keypoints_csv(tmp_path / "c.csv", kps)
    args = [str(tmp_path / "c.csv"), "-m", str(models["pos"]), "--video", str(tmp_path / "v.mp4")]
    assert vp3d_lift.main([*args, "-o", str(tmp_path / "o.npz")]) == 0
    # the video's 25 fps, lifted at the model's 50: the input with midpoints between frames, every 2nd pose kept
    up = np.empty((59, 17, 2))
    up[0::2], up[1::2] = kps, (kps[:-1] + kps[1:]) / 2
    np.testing.assert_allclose(read_poses_npz(tmp_path / "o.npz")["c"],
                               by_hand(models["net"], None, up, 64, 48)[0::2], atol=1e-5)
    assert vp3d_lift.main([*args, "--fps", "50", "-o", str(tmp_path / "o50.npz")]) == 0      # --fps overrides
    np.testing.assert_allclose(read_poses_npz(tmp_path / "o50.npz")["c"], by_hand(models["net"], None, kps, 64, 48),
                               atol=1e-5)


def test_an_exported_model_lifts_without_torch(models, tmp_path):
    """Lifting from ONNX needs numpy + onnxruntime only: the CLI runs with torch made unimportable."""
    import subprocess
    import sys
    from pathlib import Path

    from vp3d.model.export import export_onnx
    export_onnx(models["net"], tmp_path / "m.onnx", length=60)
    kps = video_keypoints(40, W, H, seed=6)
    write_coco_json(tmp_path / "c.json", kps)
    code = ("import sys; sys.modules['torch'] = None; import vp3d_lift; "
            f"sys.exit(vp3d_lift.main([{str(tmp_path / 'c.json')!r}, '-m', {str(tmp_path / 'm.onnx')!r}, "
            f"'-o', {str(tmp_path / 'o.npz')!r}, '--image-size', '{W}', '{H}']))")
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(vp3d_lift.__file__).parent, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-1500:]
    np.testing.assert_allclose(read_poses_npz(tmp_path / "o.npz")["c"], by_hand(models["net"], None, kps, W, H),
                               atol=1e-4)


def test_the_cli_writes_bvh_whose_bones_point_where_the_lifted_poses_point(models, tmp_path, capsys):
    """vp3d_lift.py -o OUT.bvh: one motion, read back by the BVH tests' own parser (not the writer)."""
    from bvh_reader import TO_YUP, bone_errors, joints_array, read_bvh_positions
    video = video_keypoints(60, W, H, seed=3)
    mm = write_mmpose_json(tmp_path / "clip.json", video, MISSING, {})
    args = [str(mm), "-m", str(models["traj"]), "--image-size", str(W), str(H), "--fps", "25"]
    assert vp3d_lift.main([*args, "-o", str(tmp_path / "clip.npz")]) == 0
    assert vp3d_lift.main([*args, "-o", str(tmp_path / "clip.bvh"), "--origin", "camera"]) == 0
    lifted = read_poses_npz(tmp_path / "clip.npz")["clip"].astype(np.float64) @ TO_YUP.T
    positions, frame_time, _ = read_bvh_positions(tmp_path / "clip.bvh")
    angles, _ = bone_errors(lifted, joints_array(positions))
    assert angles.max() < 1.0 and frame_time == pytest.approx(1 / 25)
    np.testing.assert_allclose(joints_array(positions)[:, 0], lifted[:, 0], atol=1e-5)   # trajectory kept
    capsys.readouterr()
    npz = write_custom_npz(tmp_path / "data_2d_custom_two.npz", {"a": (video, W, H), "b": (video, W, H)})
    assert vp3d_lift.main([str(npz), "-m", str(tmp_path / "not_loaded.bin"), "-o", str(tmp_path / "two.bvh")]) == 2
    assert "two.bvh: a BVH file holds one motion, but the inputs hold 2 videos" in capsys.readouterr().err
    with pytest.raises(SystemExit):                                   # before the model is even looked at
        vp3d_lift.main([str(npz), "-m", str(models["pos"]), "-o", str(tmp_path / "p.json"), "--units", "cm"])


HUMANEVA_JOINTS = [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]     # upstream's humaneva_skeleton: left, right
HUMANEVA_NAMES = ["Pelvis", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist", "LHip",
                  "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "Head"]     # ConvertHumanEva.m's order


def test_a_humaneva_model_lifts_coco_keypoints_to_its_15_joints(tmp_path, capsys):
    """Upstream's detectron_pt_coco HumanEva-I model: COCO-17 in, HumanEva's 15 joints out, trained at 60 fps. From
    upstream's own file (no facts but the weights) it lifts as upstream would, into every format, and live."""
    net = random_model((3, 3, 3), 32, seed=9, joints_out=15)
    torch.save({"epoch": 1, "lr": 1e-3, "random_state": None, "optimizer": None, "model_pos": net.state_dict(),
                "model_traj": None, "random_state_semi": None}, tmp_path / "he.bin")
    lifter = vp3d.load_model(tmp_path / "he.bin")
    assert (lifter.layout.name, lifter.skeleton.names, lifter.fps) == ("coco", tuple(HUMANEVA_NAMES), 60)
    kps = video_keypoints(70, 640, 480, seed=5)
    got = lifter.lift(kps, image_size=(640, 480))
    assert got.shape == (70, 15, 3)
    np.testing.assert_allclose(got, by_hand(net, None, kps, 640, 480, HUMANEVA_JOINTS), atol=1e-5)
    stream = lifter.stream(image_size=(640, 480))
    live = [p for k in kps for _, p in stream.push(k)] + [p for _, p in stream.flush()]
    np.testing.assert_allclose(np.stack(live), got, atol=1e-5)

    clip = write_coco_json(tmp_path / "clip.json", kps)
    for suffix in (".npz", ".json", ".csv", ".bvh"):
        assert vp3d_lift.main([str(clip), "-m", str(tmp_path / "he.bin"), "--image-size", "640", "480",
                               "--fps", "60", "-o", str(tmp_path / f"out{suffix}")]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["joints"] == HUMANEVA_NAMES
    for suffix in (".npz", ".json", ".csv"):
        back = read_poses(tmp_path / f"out{suffix}")
        np.testing.assert_allclose(back["clip"], got, atol=1e-6)
        assert back.fps == 60
    assert "JOINT LAnkle" in (tmp_path / "out.bvh").read_text()
    rc = vp3d_lift.main([str(clip), "-m", str(tmp_path / "he.bin"), "--layout", "humaneva15", "-o",
                         str(tmp_path / "x.npz"), "--image-size", "640", "480"])
    one_line_error(capsys, rc, "he.bin: the model takes 17 keypoints, the humaneva15 layout has 15")
    assert not (tmp_path / "x.npz").exists()
