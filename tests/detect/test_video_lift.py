"""From a video to 3D poses in one command (vp3d_lift.py VIDEO, vp3d_detect.py): known-answer detector graphs
with the published files' signatures, on a video of two dots written here; the 2D file beside the output, its
reuse, --people all, --render, --stream and --camera, and the one-line refusals."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from one_line_errors import one_line_error
from random_models import random_model
from detector_graphs import OFFSETS, write_dot_video, write_pair

import vp3d_detect
import vp3d_lift
from vp3d.detect import weights
from vp3d.detect.rtmpose import RTMPoseDetector
from vp3d.io.keypoints import read_keypoints
from vp3d.io.poses import read_poses_npz
from vp3d.lift import load_model
from vp3d.model import checkpoint

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

FRAMES, SIZE, FPS = 32, (160, 120), 25.0
STEP = 30 * 1.25 / 192             # frame pixels per crop pixel: the known-answer box is 30 frame pixels wide


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The video (two dots: the first brighter, on a circle; the second up and down), the detector graphs
    (pose: batch 1, as the published files), a COCO-order model."""
    d = tmp_path_factory.mktemp("clip")
    dots = write_dot_video(d / "clip.mp4", FRAMES, SIZE, FPS, second=True)
    det, pose = write_pair(d / "weights")
    checkpoint.save(d / "model.bin", random_model((3, 3, 3), 32, seed=7))
    return {"video": d / "clip.mp4", "dots": dots, "weights": [str(det), str(pose)], "model": str(d / "model.bin")}


def lift(clip, *args) -> int:
    return vp3d_lift.main([str(clip["video"]), "-m", clip["model"], "--detector", "rtmpose",
                           "--detector-weights", *clip["weights"], *args])


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_a_video_lifts_in_one_command_and_its_2d_file_is_reused(clip, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert lift(clip, "-o", str(out / "clip.npz"), "--render", str(out / "clip_3d.mp4")) == 0
    assert files(out) == ["clip.mp4.npz", "clip.npz", "clip_3d.mp4"]
    poses = read_poses_npz(out / "clip.npz")
    assert list(poses) == ["clip"] and poses["clip"].shape == (FRAMES, 17, 3)      # one pose per video frame
    # the 2D file: the known answer (the nose on the brighter dot, every keypoint at its offset), the rate
    (seq,) = read_keypoints(out / "clip.mp4.npz")
    assert (seq.name, seq.frames, seq.image_size, seq.fps) == ("clip", FRAMES, SIZE, FPS)
    np.testing.assert_allclose(seq.keypoints[:, 0], clip["dots"][:, 0], atol=1.0)
    np.testing.assert_allclose(seq.keypoints, clip["dots"][:, :1] + OFFSETS * STEP, atol=1.0)
    # lifting that 2D file again gives the same poses (its 25 fps travels in the file: resampled as before)
    assert vp3d_lift.main([str(out / "clip.mp4.npz"), "-m", clip["model"], "-o", str(tmp_path / "again.npz")]) == 0
    np.testing.assert_allclose(read_poses_npz(tmp_path / "again.npz")["clip"], poses["clip"], atol=1e-5)
    assert imageio_ffmpeg.count_frames_and_secs(str(out / "clip_3d.mp4"))[0] == FRAMES      # one per video frame
    # a second run detects nothing (a detector that ran would fail here) and says it reused the 2D file
    past = 10**18                       # 2001: a rewrite stamps the file later whatever the clock's resolution
    os.utime(out / "clip.mp4.npz", ns=(past, past))
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(RTMPoseDetector, "__call__", lambda *a: pytest.fail("the detector ran again"))
        assert lift(clip, "-o", str(out / "second.npz")) == 0
    assert f"reused {out / 'clip.mp4.npz'}" in capsys.readouterr().out
    assert (out / "clip.mp4.npz").stat().st_mtime_ns == past
    np.testing.assert_allclose(read_poses_npz(out / "second.npz")["clip"], poses["clip"], atol=1e-6)
    # --people all into the folder: every detected person, tracked (the 2D file in that folder: reused again)
    assert lift(clip, "-o", f"{out}/", "--people", "all") == 0
    assert "reused" in capsys.readouterr().out
    for name in ["clip_person1", "clip_person2"]:
        assert read_poses_npz(out / f"{name}.npz")[name].shape == (FRAMES, 17, 3)
    people = {s.name: s for s in read_keypoints(out / "clip.mp4.npz", "all")}
    for k in (0, 1):
        np.testing.assert_allclose(people[f"clip_person{k + 1}"].keypoints[:, 0], clip["dots"][:, k], atol=1.0)
    # --redetect runs the detector again
    assert lift(clip, "-o", str(out / "clip.npz"), "--redetect") == 0
    assert "reused" not in capsys.readouterr().out and (out / "clip.mp4.npz").stat().st_mtime_ns > past


@pytest.fixture(scope="module")
def detected(clip, tmp_path_factory):
    """vp3d_detect.py's 2D file of the clip, and what it printed."""
    out = tmp_path_factory.mktemp("detected") / "clip.mp4.npz"
    argv = [str(clip["video"]), "-o", str(out), "--detector-weights", *clip["weights"]]
    return out, argv, vp3d_detect.main(argv)


def test_vp3d_detect_writes_the_2d_file_and_reuses_it(clip, detected, tmp_path, capsys):
    out, argv, rc = detected
    assert rc == 0
    (seq,) = read_keypoints(out)
    np.testing.assert_allclose(seq.keypoints[:, 0], clip["dots"][:, 0], atol=1.0)
    assert vp3d_detect.main(argv) == 0 and "[INFO] reused" in capsys.readouterr().out
    assert vp3d_detect.main([*argv[:2], str(tmp_path / "c.json"), *argv[3:]]) == 2
    one_line_error(capsys, 2, "c.json: the 2D file is an .npz")
    assert not (tmp_path / "c.json").exists()


@pytest.mark.slow
def test_the_stream_and_the_camera_lift_frame_by_frame(clip, detected, capsys, monkeypatch):
    capsys.readouterr()
    assert lift(clip, "--stream") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [obj["frame"] for obj in lines] == list(range(FRAMES))
    # the stream's poses are lift()'s of the same keypoints (the best person's, as the JSON lines carry them)
    # at the video's rate
    (seq,) = read_keypoints(detected[0])
    expected = load_model(clip["model"]).lift(np.round(seq.keypoints.astype(np.float64), 3), SIZE, fps=FPS)
    np.testing.assert_allclose(np.array([obj["pose"] for obj in lines]), expected, atol=1e-5)
    # --camera N is the same path from another source: here the camera's ffmpeg input is the video
    monkeypatch.setattr("vp3d.io.video.camera_input", lambda index: (str(clip["video"]), []))
    assert vp3d_lift.main(["--camera", "0", "--stream", "-m", clip["model"], "--detector-weights", *clip["weights"]]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == lines


@pytest.mark.slow
def test_the_stream_lifts_every_person_tracked_as_the_frames_come(clip, detected, capsys):
    """--stream --people all from a video: each dot is a person, tracked frame by frame (PeopleTracker), and each
    track's poses are lift()'s of that person's keypoints as the offline tracker finds them, at the video's rate."""
    capsys.readouterr()
    assert lift(clip, "--stream", "--people", "all") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    tracks = {}
    for obj in lines:
        tracks.setdefault(obj["track"], []).append(obj)
    assert sorted(tracks) == ["person1", "person2"]
    people = {s.name: s for s in read_keypoints(detected[0], "all")}
    model = load_model(clip["model"])
    for k in (1, 2):
        got = tracks[f"person{k}"]
        assert [obj["frame"] for obj in got] == list(range(FRAMES))
        kps = people[f"clip_person{k}"].keypoints
        np.testing.assert_allclose(kps[:, 0], clip["dots"][:, k - 1], atol=1.0)     # person k is dot k
        expected = model.lift(np.round(kps.astype(np.float64), 3), SIZE, fps=FPS)
        np.testing.assert_allclose(np.array([obj["pose"] for obj in got]), expected, atol=1e-5)


def test_people_all_streams_only_from_a_video_or_camera(clip, capsys):
    """A stream from stdin names its tracks in its lines: --people there is one line, exit 2."""
    with pytest.raises(SystemExit) as e:
        vp3d_lift.main(["-", "--stream", "-m", clip["model"], "--image-size", "160", "120", "--people", "all"])
    assert e.value.code == 2 and "--people (but from a video or camera)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_folder_of_videos_lifts_as_a_corpus_in_process_and_on_ray(clip, detected, tmp_path, capsys, monkeypatch):
    """vp3d_lift.py VIDEOS/ -o OUT/: each video detected (its 2D file beside its output) and lifted as the single
    video command lifts it; a video whose 2D file is beside it was detected already: that file is the input;
    --resume detects nothing again; on Ray the workers detect, with the same poses."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_dot_video(videos / "b.mp4", 20, SIZE, 30.0)
    os.symlink(clip["video"], videos / "c.mp4")
    write_dot_video(videos / "a.mp4", 8, SIZE, 30.0)
    os.symlink(detected[0], videos / "a.mp4.npz")           # a.mp4's 2D file beside it (here: the clip's)
    single = {}
    for name in ("b", "c"):
        assert lift({"video": videos / f"{name}.mp4", **{k: clip[k] for k in ("model", "weights")}},
                    "-o", str(tmp_path / "single" / f"{name}.npz")) == 0
        single[name] = read_poses_npz(tmp_path / "single" / f"{name}.npz")[name]
    capsys.readouterr()
    base = [str(videos), "-m", clip["model"], "--detector-weights", *clip["weights"]]
    assert vp3d_lift.main([*base, "-o", str(tmp_path / "out")]) == 0
    assert "lifted 3 of 3 inputs" in capsys.readouterr().out
    assert files(tmp_path / "out") == ["a_mp4.npz", "b.mp4.npz", "b.npz", "c.mp4.npz", "c.npz", "lift_report.jsonl"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "lift_report.jsonl").read_text().splitlines()]
    assert [(Path(r["input"]).name, r["status"], r.get("keypoints"), r["frames"]) for r in rows] == [
        ("a.mp4.npz", "ok", None, FRAMES), ("b.mp4", "ok", str(tmp_path / "out" / "b.mp4.npz"), 20),
        ("c.mp4", "ok", str(tmp_path / "out" / "c.mp4.npz"), FRAMES)]
    np.testing.assert_allclose(read_poses_npz(tmp_path / "out" / "a_mp4.npz")["clip"], single["c"], atol=1e-6)
    for name in ("b", "c"):
        poses = read_poses_npz(tmp_path / "out" / f"{name}.npz")
        assert poses.fps == (FPS if name == "c" else 30.0)
        np.testing.assert_allclose(poses[name], single[name], atol=1e-6)
    with monkeypatch.context() as m:                        # finished: nothing detected or lifted again
        m.setattr(RTMPoseDetector, "__call__", lambda *a: pytest.fail("the detector ran again"))
        assert vp3d_lift.main([*base, "-o", str(tmp_path / "out"), "--resume"]) == 0
    assert "lifted 3 of 3 inputs (3 done before)" in capsys.readouterr().out
    assert vp3d_lift.main([*base, "-o", str(tmp_path / "ray"), "--ray", "--workers", "1"]) == 0
    for name in ("b", "c"):
        np.testing.assert_allclose(read_poses_npz(tmp_path / "ray" / f"{name}.npz")[name], single[name], atol=1e-6)


def test_videos_refuse_what_does_not_apply_to_them(clip, tmp_path, capsys):
    """Several videos into one file, --render of several, detector flags without a video: one line each, exit 2."""
    two = [str(clip["video"]), str(clip["video"].with_name("other.mp4"))]
    cases = [([*two, "-o", str(tmp_path / "x.npz")], "give -o DIR"),
             ([*two, "-o", str(tmp_path / "d"), "--render", str(tmp_path / "r.mp4")], "--render draws over one video")]
    for argv, fragment in cases:
        with pytest.raises(SystemExit) as e:
            vp3d_lift.main([*argv, "-m", clip["model"]])
        assert e.value.code == 2 and fragment in capsys.readouterr().err, fragment
    assert not list(tmp_path.iterdir())


def test_a_videos_2d_file_never_replaces_an_input_of_the_same_corpus(clip, detected, tmp_path, capsys):
    """out/a.mp4.npz, a keypoint file lifted into out/, is where the corpus keeps video a.mp4's 2D file: refused
    before anything is written, naming both; the file unchanged."""
    (tmp_path / "out").mkdir()
    (tmp_path / "v").mkdir()
    given = tmp_path / "out" / "a.mp4.npz"
    given.write_bytes(detected[0].read_bytes())
    os.symlink(clip["video"], tmp_path / "v" / "a.mp4")
    before = given.read_bytes()
    assert vp3d_lift.main([str(given), str(tmp_path / "v" / "a.mp4"), "-m", clip["model"], "-o", str(tmp_path / "out"),
                           "--detector-weights", *clip["weights"]]) == 2
    one_line_error(capsys, 2, f"{given}: -o would write over INPUT {given}")
    assert given.read_bytes() == before and files(tmp_path / "out") == ["a.mp4.npz"]


def closed_url() -> str:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/yolox.zip"


@pytest.mark.parametrize("case, fragment", [
    ("not a video", "bad.mp4: cannot read the video"),
    ("no frames", "zero.mkv: cannot read the video"),
    ("unknown detector", "--detector openpose: unknown detector; choose from rtmpose, keypointrcnn"),
    ("another shape", "pose.onnx: inputs 'input' (1, 3, 256, 192), outputs 'simcc_x'"),
    ("no network", "--detector-weights DET POSE"),
    ("layout", "the rtmpose detector gives coco-order keypoints, but the model takes h36m order"),
    ("output is the 2d file", "out/clip.mp4.npz: that is where the 2D keypoints of clip.mp4 go"),
    ("render without pillow", "out/r.mp4: rendering needs Pillow: pip install 'vp3d[render]'"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(clip, tmp_path, capsys, monkeypatch, case, fragment):
    out = tmp_path / "out"
    video, model, extra = str(clip["video"]), clip["model"], ["--detector-weights", *clip["weights"]]
    target = str(out / "clip.npz")
    if case == "not a video":
        video = str(tmp_path / "bad.mp4")
        (tmp_path / "bad.mp4").write_bytes(b"not a video" * 100)
    elif case == "no frames":
        video = str(tmp_path / "zero.mkv")
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        "color=c=black:s=160x120:r=25", "-frames:v", "0", "-c:v", "mpeg4", video], check=True)
    elif case == "unknown detector":
        extra = ["--detector", "openpose"]
    elif case == "another shape":
        extra = ["--detector-weights", clip["weights"][1], clip["weights"][1]]
    elif case == "no network":
        url = closed_url()
        monkeypatch.setitem(weights.PUBLISHED, "m", (url, url))
        monkeypatch.setenv("VP3D_CACHE", str(tmp_path / "cache"))
        extra = []
    elif case == "layout":
        extra += ["--layout", "h36m"]
    elif case == "render without pillow":
        monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    else:
        target = str(out / "clip.mp4.npz")
    rc = vp3d_lift.main([video, "-m", model, "-o", target, "--render", str(out / "r.mp4"), *extra])
    line = one_line_error(capsys, rc, fragment)
    if case == "no network":
        assert f"cannot fetch {url}" in line
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_keypointrcnn_without_a_working_torchvision_says_which_in_one_line(clip, tmp_path, capsys, monkeypatch):
    """PyPI's torchvision is built for the CUDA PyTorch: with the CPU-only one it fails at import. Both a
    missing torchvision and one that fails so are one line naming the torchvision to install."""
    for broken in (None, "raise RuntimeError('operator torchvision::nms does not exist')"):
        if broken is None:
            monkeypatch.setitem(__import__("sys").modules, "torchvision", None)
        else:
            monkeypatch.delitem(__import__("sys").modules, "torchvision", raising=False)
            fake = tmp_path / "fake" / "torchvision"
            fake.mkdir(parents=True, exist_ok=True)
            (fake / "__init__.py").write_text(broken + "\n")
            monkeypatch.syspath_prepend(str(tmp_path / "fake"))
        rc = vp3d_lift.main([str(clip["video"]), "-m", clip["model"], "-o", str(tmp_path / "out" / "o.npz"),
                             "--detector", "keypointrcnn"])
        line = one_line_error(capsys, rc, "--detector keypointrcnn", "torchvision==0.")
        if broken:
            assert "operator torchvision::nms does not exist" in line
        assert not (tmp_path / "out").exists()
