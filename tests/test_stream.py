"""Live streaming: frame-by-frame poses against offline lift() of the same sequence (padding, flip,
trajectory; causal and symmetric; checkpoint and ONNX), lookahead against lifting the sequence cut
where the stream stood, tracks, the JSON-lines pipe of vp3d_lift.py --stream and its refusals."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import vp3d
import vp3d_lift
from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel, randomize_batchnorm

from random_models import random_model
from keypoint_writers import video_keypoints
from repo_paths import ROOT

W, H = 1280, 720


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """{(causal, with_trajectory): checkpoint path} of random 27-frame models (channels 32)."""
    d = tmp_path_factory.mktemp("stream_ckpt")
    out = {}
    for causal in (False, True):
        pos = random_model((3, 3, 3), 32, seed=7, causal=causal)
        checkpoint.save(d / f"pos{causal}.bin", pos)
        torch.manual_seed(8)
        traj = randomize_batchnorm(TemporalModel(ModelConfig((3, 3, 3), 32, num_joints_out=1, causal=causal)), 8)
        obj = checkpoint.load_raw(d / f"pos{causal}.bin")
        obj["model_traj"] = traj.eval().state_dict()
        torch.save(obj, d / f"traj{causal}.bin")
        out[causal, False], out[causal, True] = d / f"pos{causal}.bin", d / f"traj{causal}.bin"
        out[causal, "net"] = pos
    return out


def run_stream(stream, kps) -> list:
    out = []
    for k in kps:
        out += stream.push(k)
    return out + stream.flush()


@pytest.mark.parametrize("causal", [False, True], ids=["symmetric", "causal"])
@pytest.mark.parametrize("trajectory", [False, True], ids=["pose", "trajectory"])
@pytest.mark.parametrize("frames", [6, 61])
def test_the_stream_equals_offline_lifting(ckpts, causal, trajectory, frames):
    """Every frame, first and last included, in order: shorter than the padding (6) and longer than RF (61)."""
    lifter = vp3d.load_model(ckpts[causal, trajectory])
    kps = video_keypoints(frames, W, H, seed=3)
    stream = lifter.stream(image_size=(W, H))
    assert stream.lag == (0 if causal else 13)
    pairs, answered_at = [], []
    for t, k in enumerate(kps):
        got = stream.push(k)
        pairs += got
        answered_at += [t] * len(got)
    pairs += stream.flush()
    assert [f for f, _ in pairs] == list(range(frames))
    assert answered_at == [f + stream.lag for f in range(len(answered_at))]    # each after `lag` more pushes
    got = np.stack([p for _, p in pairs])
    assert got.dtype == np.float32 and got.shape == (frames, 17, 3)
    np.testing.assert_allclose(got, lifter.lift(kps, image_size=(W, H)), atol=1e-5)
    if trajectory:    # the trajectory really moves the poses
        without = vp3d.load_model(ckpts[causal, False]).lift(kps, image_size=(W, H))
        assert np.abs(got - without).max() > 1e-2


@pytest.mark.parametrize("causal", [False, True], ids=["symmetric", "causal"])
def test_an_onnx_export_streams_without_torch(ckpts, tmp_path, causal):
    """The weights come from the ONNX initializers (batch norm folded by the exporter); torch unimportable."""
    from vp3d.model.export import export_onnx
    net = ckpts[causal, "net"]
    export_onnx(checkpoint.build_model(net.state_dict(), net.config, "conv2d_w"), tmp_path / "m.onnx", length=None)
    kps = video_keypoints(40, W, H, seed=6)
    np.save(tmp_path / "k.npy", kps)
    code = ("import sys, numpy as np; sys.modules['torch'] = None; import vp3d\n"
            f"s = vp3d.load_model({str(tmp_path / 'm.onnx')!r}).stream(image_size=({W}, {H}))\n"
            f"out = [p for k in np.load({str(tmp_path / 'k.npy')!r}) for p in s.push(k)] + s.flush()\n"
            f"np.save({str(tmp_path / 'o.npy')!r}, np.stack([p for _, p in out]))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-1500:]
    expected = vp3d.load_model(ckpts[causal, False]).lift(kps, image_size=(W, H))
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), expected, atol=1e-5)


@pytest.mark.parametrize("lookahead", [0, 5, 13])
def test_lookahead_answers_as_lifting_the_sequence_cut_at_the_newest_frame(ckpts, lookahead):
    """Frame f answered on the push of f + N: its unseen future filled with the newest frame, which is
    what offline lifting of the sequence up to f + N does at its end."""
    lifter = vp3d.load_model(ckpts[False, True])
    kps = video_keypoints(30, W, H, seed=4)
    stream = lifter.stream(image_size=(W, H), lookahead=lookahead)
    assert stream.lag == lookahead
    for t, k in enumerate(kps):
        got = stream.push(k)
        if t < lookahead:
            assert got == []
            continue
        (frame, pose), = got
        assert frame == t - lookahead
        np.testing.assert_allclose(pose, lifter.lift(kps[:t + 1], image_size=(W, H))[frame], atol=1e-5)
    rest = stream.flush()
    assert [f for f, _ in rest] == list(range(30 - lookahead, 30))
    full = lifter.lift(kps, image_size=(W, H))
    np.testing.assert_allclose(np.array([p for _, p in rest]).reshape(-1, 17, 3), full[30 - lookahead:], atol=1e-5)


def test_tracks_run_as_one_batch_each_with_its_own_state(ckpts):
    lifter = vp3d.load_model(ckpts[False, True])
    a, b, c = (video_keypoints(n, W, H, seed=s) for n, s in ((50, 1), (20, 2), (35, 3)))
    stream = lifter.stream(image_size=(W, H))
    got = {"a": [], 7: [], "c": []}
    for t in range(50):
        frame = {"a": a[t]}
        if t < 20:
            frame[7] = b[t]
        if 10 <= t < 45:
            frame["c"] = c[t - 10]
        for track, pairs in stream.push(frame).items():
            got[track] += pairs
        if t == 25:
            got[7] += stream.flush(7)
            assert sorted(map(str, stream.tracks)) == ["a", "c"]
    for track, pairs in stream.flush_all().items():
        got[track] += pairs
    assert stream.tracks == []
    for track, kps in (("a", a), (7, b), ("c", c)):
        assert [f for f, _ in got[track]] == list(range(len(kps)))
        np.testing.assert_allclose(np.stack([p for _, p in got[track]]), lifter.lift(kps, image_size=(W, H)),
                                   atol=1e-5, err_msg=str(track))


def test_a_track_id_push_and_a_new_stream_after_flush(ckpts):
    lifter = vp3d.load_model(ckpts[True, False])
    kps = video_keypoints(12, W, H, seed=8)
    stream = lifter.stream(image_size=(W, H))
    first = [p for k in kps for p in stream.push(k, track="x")] + stream.flush("x")
    again = [p for k in kps for p in stream.push(k, track="x")] + stream.flush("x")   # state forgotten
    expected = lifter.lift(kps, image_size=(W, H))
    for run in (first, again):
        np.testing.assert_allclose(np.stack([p for _, p in run]), expected, atol=1e-5)


def test_state_is_the_ring_buffers_only(ckpts):
    """Per track: the frames each layer needs, (w - 1) d + 1 columns of its input, for the input and its
    mirror, float32; the 27-frame model: expand 3 x 34, blocks 7 x 32 and 19 x 32."""
    stream = vp3d.load_model(ckpts[False, False]).stream(image_size=(W, H))
    assert stream.state_bytes() == 2 * 4 * (3 * 34 + 7 * 32 + 19 * 32)
    with_traj = vp3d.load_model(ckpts[False, True]).stream(image_size=(W, H))
    assert with_traj.state_bytes() == 2 * stream.state_bytes()


def test_bad_frames_and_options_are_refused(ckpts):
    lifter = vp3d.load_model(ckpts[False, False])
    stream = lifter.stream(image_size=(W, H))
    with pytest.raises(Vp3dError, match=r"shape \(16, 2\): expected \(17, 2\)"):
        stream.push(np.zeros((16, 2)))
    bad = video_keypoints(1, W, H)[0]
    bad[3, 1] = np.nan
    with pytest.raises(Vp3dError, match="track 'p': keypoints: non-finite"):
        stream.push(bad, track="p")
    assert stream.tracks == []                       # nothing half-started
    with pytest.raises(Vp3dError, match="lookahead 14.*0..13"):
        lifter.stream(image_size=(W, H), lookahead=14)
    with pytest.raises(Vp3dError, match="lookahead 3.*0..0"):
        vp3d.load_model(ckpts[True, False]).stream(image_size=(W, H), lookahead=3)
    with pytest.raises(Vp3dError, match="image_size"):
        lifter.stream()


def pipe(args, text, timeout=120):
    return subprocess.run([sys.executable, "vp3d_lift.py", "-", "--stream", *args], cwd=ROOT, input=text,
                          capture_output=True, text=True, timeout=timeout)


def test_the_pipe_equals_offline_lifting(ckpts):
    """One JSON line per frame in (frame ids of the caller's own), one per pose out; two tracks; a bad
    line, a wrong joint count and a NaN are named by line number on stderr and skipped."""
    lifter = vp3d.load_model(ckpts[False, True])
    a, b = video_keypoints(40, W, H, seed=1), video_keypoints(25, W, H, seed=2)
    lines = []
    for t in range(40):
        lines.append(json.dumps({"frame": 1000 + t, "keypoints": a[t].tolist()}))
        if t < 25:
            lines.append(json.dumps({"frame": 1000 + t, "track": "b", "keypoints": b[t].tolist()}))
        if t == 5:
            lines += ["{not json", json.dumps({"frame": 9, "keypoints": a[t][:16].tolist()}),
                      json.dumps({"frame": 9, "keypoints": [[float("nan"), 1.0]] + a[t][1:].tolist()})]
    run = pipe(["-m", str(ckpts[False, True]), "--image-size", str(W), str(H)], "\n".join(lines) + "\n")
    assert run.returncode == 0, run.stderr[-1500:]
    errors = [l for l in run.stderr.splitlines() if l.startswith("error:")]
    assert [e.split(":")[1].strip() for e in errors] == ["stdin line 13", "stdin line 14", "stdin line 15"]
    assert "(17, 2)" in errors[1] and "non-finite" in errors[2]
    out = [json.loads(l) for l in run.stdout.splitlines()]
    for track, kps in ((None, a), ("b", b)):
        mine = [o for o in out if o.get("track") == track]
        assert [o["frame"] for o in mine] == [1000 + t for t in range(len(kps))]
        np.testing.assert_allclose(np.array([o["pose"] for o in mine]), lifter.lift(kps, image_size=(W, H)),
                                   atol=1e-5, err_msg=str(track))


def test_the_pipe_stops_on_error_and_times_out_tracks(ckpts):
    kps = video_keypoints(20, W, H, seed=3)
    lines = [json.dumps({"frame": t, "keypoints": kps[t].tolist()}) for t in range(20)]
    stop = pipe(["-m", str(ckpts[True, False]), "--image-size", str(W), str(H), "--on-error", "stop"],
                "\n".join(lines[:4] + ["[1, 2]"] + lines[4:]) + "\n")
    assert stop.returncode == 2 and stop.stderr.strip().splitlines()[-1].startswith("error: stdin line 5: ")
    assert [json.loads(l)["frame"] for l in stop.stdout.splitlines()] == [0, 1, 2, 3]   # causal: at once
    # MMPose per-frame entries with track ids; track 2 leaves after frame 3 and is flushed 5 lines later
    entries = [{"frame_id": t, "instances": [{"keypoints": kps[t].tolist(), "track_id": 1}]
                + ([{"keypoints": kps[t].tolist(), "track_id": 2}] if t < 4 else [])} for t in range(20)]
    run = pipe(["-m", str(ckpts[False, False]), "--image-size", str(W), str(H), "--track-timeout", "5"],
               "\n".join(map(json.dumps, entries)) + "\n")
    assert run.returncode == 0, run.stderr[-1500:]
    out = [json.loads(l) for l in run.stdout.splitlines()]
    two = [i for i, o in enumerate(out) if o["track"] == 2]
    assert two == [0, 1, 2, 3]      # flushed on line 9, before track 1's first pose (frame 0, on line 14)
    expected = vp3d.load_model(ckpts[False, False]).lift(kps[:4], image_size=(W, H))
    np.testing.assert_allclose(np.array([out[i]["pose"] for i in two]), expected, atol=1e-5)
    assert [o["frame"] for o in out[4:]] == list(range(20)) and {o["track"] for o in out[4:]} == {1}


@pytest.mark.parametrize("causal, fps, lag", [(False, 30.0, 9), (False, 10.0, 3), (False, 60.0, 17), (True, 29.97, 1)])
def test_a_stream_at_another_rate_equals_offline_lifting_at_that_rate(ckpts, causal, fps, lag):
    """Keypoints at 30, 10, 60 or 29.97 fps into a 50 fps model: resampled as they arrive, every input frame
    answered once, in order, within stream.lag pushes, equal to lift(fps=...) of the same frames; a sequence
    shorter than the padding too. The lag, by hand for 30 fps and the symmetric model (13 model frames): input
    frame 2 sits at model position 3.33, needs model frame 4 final, so model frame 17 fed, which sits at input
    position 10.2: it waits for input frame 11, 9 frames later."""
    lifter = vp3d.load_model(ckpts[causal, True])
    for frames in (4, 71):
        kps = video_keypoints(frames, W, H, seed=5)
        stream = lifter.stream(image_size=(W, H), fps=fps)
        pairs, waited = [], []
        for t, k in enumerate(kps):
            got = stream.push(k)
            pairs += got
            waited += [t - f for f, _ in got]
        pairs += stream.flush()
        assert [f for f, _ in pairs] == list(range(frames)), (fps, frames)
        assert stream.lag == lag and max(waited, default=0) <= lag
        if frames == 71:
            assert max(waited) == lag                     # the stated lag is reached, not a loose bound
        np.testing.assert_allclose(np.stack([p for _, p in pairs]), lifter.lift(kps, (W, H), fps=fps), atol=1e-5,
                                   err_msg=f"{fps} fps, {frames} frames")


def test_the_pipe_at_30_fps_answers_every_line(ckpts, monkeypatch, capsys):
    """vp3d_lift.py - --stream --fps 30: one pose line per input line, equal to offline lifting at 30 fps."""
    lifter = vp3d.load_model(ckpts[False, False])
    kps = video_keypoints(50, W, H, seed=6)
    lines = [json.dumps({"frame": 500 + t, "keypoints": kps[t].tolist()}) for t in range(50)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    assert vp3d_lift.main(["-", "--stream", "-m", str(ckpts[False, False]), "--image-size", str(W), str(H),
                           "--fps", "30"]) == 0
    run = capsys.readouterr()
    out = [json.loads(l) for l in run.out.splitlines()]
    assert [o["frame"] for o in out] == [500 + t for t in range(50)]
    np.testing.assert_allclose(np.array([o["pose"] for o in out]), lifter.lift(kps, (W, H), fps=30), atol=1e-5)
    assert "lag 9 frames" in run.err and "30 fps resampled to the model's 50" in run.err


def full_architecture(widths=(3, 3, 3, 3, 3), channels=4):
    """A FoldedModel of the given widths (dilations 1, w, w^2, ...), zero weights: for plans only."""
    from vp3d.model.folded import FoldedLayer, FoldedModel
    layer = lambda c_in, w, d: FoldedLayer(np.zeros((channels, w * c_in), np.float32), np.zeros(channels, np.float32), w, d)
    dilations = np.cumprod((1,) + widths[:-1])
    return FoldedModel(layer(34, widths[0], 1), [(layer(channels, w, int(d)), layer(channels, 1, 1))
                                                 for w, d in zip(widths[1:], dilations[1:])], layer(channels, 1, 1),
                       False, 17)


@pytest.mark.parametrize("ahead, outputs", [
    # the last layer (dilation 81) reads t + 121 - 162, t + 40, t + 121; its input is constant from t + 81
    # (1 + 2 + 6 + 18 + 54), so t + 121 is t + 81's value; one layer down: t + 40 - 54, t + 13, t + 40 and
    # t + 27 (constant from 1 + 2 + 6 + 18); and so on down to the expand layer's t + 1 and t + 3
    (121, ((1, 3), (4, 9), (13, 27), (40, 81), (121,))),
    (1, ((1,), (1,), (1,), (1,), (1,))),          # each layer: its newest taps, the filled one the newest frame's
    (0, ((), (), (), (), ())),
])
def test_a_lookahead_computes_a_few_columns_per_layer(ahead, outputs):
    from vp3d.pipeline.stream import LookaheadPlan
    plan = LookaheadPlan.build(full_architecture(), ahead)
    assert plan.outputs == outputs
    assert [len(t) for t in plan.taps] == [1 + len(o) for o in outputs]     # the step's own column first


@pytest.mark.parametrize("lookahead", [0, 4, 39])
def test_lookahead_of_a_deeper_model_equals_lifting_the_cut_sequence(tmp_path, lookahead):
    """RF 81 (four layers), every push from the start: frame f's pose as lift() of frames 0 .. f + N."""
    checkpoint.save(tmp_path / "m.bin", random_model((3, 3, 3, 3), 16, seed=11))
    lifter = vp3d.load_model(tmp_path / "m.bin")
    kps = video_keypoints(70, W, H, seed=5)
    stream = lifter.stream(image_size=(W, H), lookahead=lookahead)
    answered = {}
    for t, k in enumerate(kps):
        for frame, pose in stream.push(k):
            answered[frame] = (t, pose)
    assert sorted(answered) == list(range(70 - lookahead))
    for frame in range(0, 70 - lookahead, 7):
        t, pose = answered[frame]
        assert t == frame + lookahead
        np.testing.assert_allclose(pose, lifter.lift(kps[:t + 1], image_size=(W, H))[frame], atol=1e-5)
