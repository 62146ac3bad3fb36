"""Hostile flag values through vp3d_lift.py, in a child under a memory limit (hostile_run): a frame rate that
would resample a clip into gigabytes, a million threads, sizes of zero or of no unit, limits that leave
nothing to lift. Each is one line and exit 2 before any large work; nothing is written."""
import pytest

from random_models import random_model
from hostile_run import run_mains, tree
from keypoint_writers import video_keypoints, write_coco_json
from vp3d.model.export import export_onnx

W = H = 1000

# case: (extra flags, fragments of the one error line)
CASES = {
    "--fps 0.0001 (150 million frames at the model's 50 fps)": (
        ["--fps", "0.0001"], ["clip.json", "300 frames at 0.0001 fps would be 149500001 frames at 50 fps",
                              "--max-frames"]),
    "--fps 1e-300": (["--fps", "1e-300"], ["clip.json", "would be 1.495e+304 frames"]),
    "--fps 30 with --max-frames below the resampled length": (
        ["--fps", "30", "--max-frames", "400"], ["clip.json", "would be 500 frames at 50 fps, more than 400"]),
    "--fps nan": (["--fps", "nan"], ["argument --fps: expected a positive number, got 'nan'"]),
    "--threads 1000000": (["--threads", "1000000"], ["argument --threads: expected a number of threads from 1 to"]),
    "--max-frames 0": (["--max-frames", "0"], ["argument --max-frames: expected a positive integer"]),
    "--max-json-bytes 0": (["--max-json-bytes", "0"], ["argument --max-json-bytes: expected a size in bytes"]),
    "--max-json-bytes 12Q": (["--max-json-bytes", "12Q"], ["argument --max-json-bytes: expected a size in bytes"]),
    "--max-json-bytes of 30 digits": (["--max-json-bytes", "9" * 30], ["expected a size in bytes"]),
    "--min-frames 10**30 (every sequence dropped)": (
        ["--min-frames", "1" + "0" * 30], ["clip.json: every sequence is shorter than --min-frames", "nothing to lift"]),
    "--image-size 0 0": (["--image-size", "0", "0"], ["argument --image-size: expected a positive integer"]),
    "--stream --fps 0.0001 (500,000 model frames a frame)": (
        ["--stream", "--fps", "0.0001"], ["fps 0.0001: each frame would make 5e+05 frames at the model's 50 fps"]),
    "--stream --max-tracks 0": (["--stream", "--max-tracks", "0"], ["argument --max-tracks: expected a positive"]),
    "--stream --max-line-bytes 1T": (["--stream", "--max-line-bytes", "1T"], ["argument --max-line-bytes: expected a"]),
    "--max-tracks without --stream": (["--max-tracks", "5"], ["--max-tracks and --max-line-bytes are for --stream"]),
}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_options")
    export_onnx(random_model((3, 3, 3), 32, seed=6), root / "m.onnx", length=None)
    write_coco_json(root / "clip.json", video_keypoints(300, W, H, seed=3))
    argv = {}
    for n, (name, (flags, _)) in enumerate(CASES.items()):
        size = [] if "--image-size" in flags else ["--image-size", f"{W}x{H}"]
        given = ["-"] if "--stream" in flags else [str(root / "clip.json"), "-o", str(root / f"o{n}.npz")]
        argv[name] = [*given, "-m", str(root / "m.onnx"), *size, *flags]
    before = tree(root)
    return run_mains("vp3d_lift", argv, root), before, tree(root)


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_flag_is_one_line_before_any_large_work(outcome, case):
    results, _, _ = outcome
    r = results[case]
    r.one_line(*CASES[case][1])
    assert r.seconds < 10, r.seconds


def test_hostile_flags_write_nothing(outcome):
    _, before, after = outcome
    assert after == before
