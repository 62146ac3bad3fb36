"""A hostile live stream through vp3d_lift.py - --stream, as a user runs it, under a memory limit
(hostile_run): lines that are not JSON, nested 100,000 deep, 2 MiB long, not UTF-8, of the wrong shape or far
outside the image, naming more tracks than --max-tracks, among good ones; and a stream naming thousands of
tracks. Each bad line is one stderr line naming its number while the stream goes on (--on-error skip) and
the good frames' poses equal offline lifting; at --max-tracks the least recently seen track ends (its poses
written) and memory stays bounded."""
import json

import numpy as np
import pytest

import vp3d
from random_models import random_model
from hostile_run import ROOT, run_script
from keypoint_writers import video_keypoints
from vp3d.model.export import export_onnx

W, H = 1280, 720


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile_stream") / "m.onnx"
    export_onnx(random_model((3, 3, 3), 32, seed=9), path, length=None)
    return path


def bad_lines(kps: np.ndarray) -> list[tuple[bytes, str]]:
    """(line, a fragment of its error) for every kind of bad line."""
    good = {"frame": 0, "keypoints": kps.tolist()}
    many = {"frame_id": 0, "instances": [{"keypoints": kps.tolist(), "track_id": f"x{i}"} for i in range(9)]}
    line = lambda obj: json.dumps(obj).encode()                                              # noqa: E731
    return [
        (b"{not json", "not valid JSON (unexpected character"),
        (b"[" * 100_000 + b"]" * 100_000, "depth limit exceeded"),
        (b'{"frame": 0, "keypoints": "' + b"x" * (2 << 20) + b'"}', "longer than 1048576 bytes (--max-line-bytes)"),
        (b'{"frame": 0, "keypoints": "\xff\xfe"}', "not valid UTF-8"),
        (line(good).replace(b"[", b"[NaN, ", 1)[:-1] + b"}", "non-finite number"),
        (line({**good, "keypoints": kps[:16].tolist()}), "(16, 2): expected (17, 2)"),
        (b"[1, 2, 3]", "expected a JSON object, got list"),
        (b'"a string"', "expected a JSON object, got str"),
        (line({**good, "frame": True}), "expected an integer frame number"),
        (line({**good, "track": [1]}), "expected a string or a number"),
        (line({"frame_id": 0, "instances": [1, 2]}), "'instances' must be a list of objects"),
        (line({"frame_id": 0, "instances": [{"keypoints": kps.tolist(), "keypoint_scores": "abc"}] * 2}),
         "'keypoint_scores' must be numbers"),
        (line({**good, "keypoints": (kps * 1e6).tolist()}), "far outside a 1280x720 image"),
        (b'{"frame": 0, "keypoints": [[1e400, 1]]}', "number is infinity"),
        (line({"frame_id": 0, "instances": [{"keypoints": kps.tolist(), "track_id": 5}] * 2}), "track 5 twice"),
        (line(many), "9 tracks in one line, more than --max-tracks 8"),
        (b"{}", "expected an integer frame number"),
    ]


def test_every_bad_line_is_one_stderr_line_and_the_stream_goes_on(model):
    a = video_keypoints(60, W, H, seed=4)
    churn = video_keypoints(30, W, H, seed=5)
    bad = bad_lines(a[0])
    lines, errors = [], {}
    for t in range(60):
        lines.append(json.dumps({"frame": 500 + t, "keypoints": a[t].tolist()}).encode())
        if t < 30:                                # a new single-frame track on every other line: 30 in all
            lines.append(json.dumps({"frame": t, "track": f"c{t}", "keypoints": churn[t].tolist()}).encode())
        if t < len(bad):
            lines.append(bad[t][0])
            errors[len(lines)] = bad[t][1]
    run = run_script([ROOT / "vp3d_lift.py", "-", "--stream", "-m", model, "--image-size", str(W), str(H),
                      "--max-tracks", "8"], b"\n".join(lines) + b"\n")
    assert run.rc == 0, run.err[-3000:]
    assert "Traceback" not in run.err
    said = [l for l in run.err.splitlines() if l.startswith("error:")]
    assert [int(l.split("line ")[1].split(":")[0]) for l in said] == sorted(errors), said
    for l in said:
        n = int(l.split("line ")[1].split(":")[0])
        assert errors[n] in l and l.endswith("(skipped)"), (errors[n], l)
    ended = [l for l in run.err.splitlines() if "(--max-tracks); ended track" in l]
    assert len(ended) == 30 - 7                   # the main track and 7 others live at once
    assert all("ended track 'c" in l for l in ended)          # never the main track: it is seen on every other line
    out = [json.loads(l) for l in run.out.splitlines()]
    mine = [o for o in out if "track" not in o]
    assert [o["frame"] for o in mine] == list(range(500, 560))
    np.testing.assert_allclose(np.array([o["pose"] for o in mine]),
                               vp3d.load_model(model).lift(a, image_size=(W, H)), atol=1e-5)
    assert sorted(o["track"] for o in out if "track" in o) == sorted(f"c{t}" for t in range(30))    # nothing lost
    assert run.seconds < 30


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A causal 243-frame model of 256 channels: 0.5 MiB of state per track (both flip copies)."""
    path = tmp_path_factory.mktemp("hostile_stream_wide") / "wide.onnx"
    export_onnx(random_model((3, 3, 3, 3, 3), 256, seed=10, causal=True), path, length=None)
    return path


def test_a_stream_of_thousands_of_tracks_stays_within_its_memory(wide):
    """3,000 tracks at 0.5 MiB each would be 1.5 GiB of state; the default --max-tracks keeps 256 MiB of it, and
    the run stays under the child's 1.5 GiB address-space limit."""
    kps = video_keypoints(40, W, H, seed=6)
    lines = [json.dumps({"frame_id": n, "instances": [{"keypoints": kps[(n + i) % 40].tolist(), "track_id": n * 100 + i}
                                                      for i in range(100)]}).encode() for n in range(30)]
    run = run_script([ROOT / "vp3d_lift.py", "-", "--stream", "-m", wide, "--image-size", str(W), str(H)],
                     b"\n".join(lines) + b"\n", timeout=120)
    assert run.rc == 0, run.err[-3000:]
    cap = int(run.err.split("at most ")[1].split(" tracks")[0])
    assert 400 < cap < 600                                   # 256 MiB / 0.5 MiB
    assert sum("ended track" in l for l in run.err.splitlines()) == 3000 - cap
    out = [json.loads(l) for l in run.out.splitlines()]
    assert len(out) == 3000 and len({o["track"] for o in out}) == 3000       # causal: each frame's pose at once
