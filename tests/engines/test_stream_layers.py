"""The stream's matrix products on other engines (vp3d.engines.stream_layers): fp32 engines equal offline lift()
to float rounding, bf16 and int8 within a stated fraction of the poses' size and really reduced; refusals."""
import numpy as np
import pytest

import vp3d
from vp3d.engines.stream_layers import ENGINES, available, default_engine, make_stream_layer
from vp3d.errors import Vp3dError
from vp3d.model import checkpoint
from vp3d.model.folded import FoldedLayer

from random_models import random_model
from repo_paths import ROOT
from keypoint_writers import video_keypoints

W, H = 1280, 720
REDUCED = {"onnxruntime-int8", "onnxruntime-int8-blocks", "openvino-bf16", "torch-bf16"}
# bf16 keeps 8 bits of mantissa (relative error 2^-9 per weight), int8 per-channel weights and per-call
# activations 1/255 of their range: through four layers, a few per cent of the output's size
REDUCED_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def lifter(tmp_path_factory):
    d = tmp_path_factory.mktemp("engines")
    checkpoint.save(d / "m.bin", random_model((3, 3, 3), 64, seed=21))
    return vp3d.load_model(d / "m.bin")


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "numpy"])
def test_each_engine_streams_the_offline_poses(lifter, engine):
    if not available(engine):
        pytest.skip(f"{engine} not installed")
    kps = video_keypoints(40, W, H, seed=9)
    stream = lifter.stream(image_size=(W, H), engine=engine, threads=1)
    assert stream.engine == engine and engine in stream.description
    got = np.stack([p for k in kps for _, p in stream.push(k)] + [p for _, p in stream.flush()])
    expected = lifter.lift(kps, image_size=(W, H))
    if engine not in REDUCED:
        np.testing.assert_allclose(got, expected, atol=1e-5)
        return
    error = np.abs(got - expected).max()
    assert error <= REDUCED_TOLERANCE * np.abs(expected).max()
    assert error > 1e-5                              # the weights really are narrower than float32


def test_a_layer_by_hand():
    """relu(x @ W.T + b) written out, and the shrink layer without relu, on every installed engine."""
    rng = np.random.default_rng(0)
    layer = FoldedLayer(rng.normal(0, 1, (5, 6)).astype(np.float32), rng.normal(0, 1, 5).astype(np.float32))
    x = rng.normal(0, 1, (3, 6)).astype(np.float32)
    by_hand = np.array([[sum(x[n, k] * layer.weight[c, k] for k in range(6)) + layer.bias[c] for c in range(5)]
                        for n in range(3)])
    for engine in (e for e in ENGINES if available(e)):
        tol = 0.05 if engine in REDUCED else 1e-5
        for relu in (True, False):
            want = np.maximum(by_hand, 0) if relu else by_hand
            got = make_stream_layer(layer, relu, engine, threads=1)(x)
            assert got.shape == (3, 5) and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=tol * np.abs(want).max(), err_msg=f"{engine} relu={relu}")


def test_unknown_and_missing_engines_are_refused(lifter, monkeypatch):
    with pytest.raises(Vp3dError, match="stream engine 'cuda': expected one of numpy, onnxruntime"):
        lifter.stream(image_size=(W, H), engine="cuda")
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)       # as if not installed
    assert not available("openvino")
    with pytest.raises(Vp3dError, match=r"openvino-bf16 stream engine needs openvino: pip install 'vp3d\[openvino\]'"):
        lifter.stream(image_size=(W, H), engine="openvino-bf16")
    assert default_engine() in ENGINES and available(default_engine())


def test_the_pipe_takes_a_stream_engine(lifter, tmp_path):
    import json
    import subprocess
    import sys
    checkpoint.save(tmp_path / "m.bin", random_model((3, 3, 3), 64, seed=21))
    kps = video_keypoints(30, W, H, seed=2)
    lines = "".join(json.dumps({"frame": t, "keypoints": k.tolist()}) + "\n" for t, k in enumerate(kps))
    args = [sys.executable, "vp3d_lift.py", "-", "--stream", "-m", str(tmp_path / "m.bin"), "--image-size", str(W), str(H)]
    run = subprocess.run(args + ["--stream-engine", "numpy"], cwd=ROOT, input=lines, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-1500:]
    assert "numpy stream engine" in run.stderr
    poses = np.array([json.loads(l)["pose"] for l in run.stdout.splitlines()])
    np.testing.assert_allclose(poses, lifter.lift(kps, image_size=(W, H)), atol=1e-5)
    wrong = subprocess.run([sys.executable, "vp3d_lift.py", str(tmp_path / "k.npz"), "-m", str(tmp_path / "m.bin"),
                            "-o", str(tmp_path / "o"), "--stream-engine", "numpy"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert wrong.returncode == 2 and "--stream-engine" in wrong.stderr
