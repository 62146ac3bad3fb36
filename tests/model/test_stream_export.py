"""The streaming-step ONNX export (vp3d_pth2onnx.py --stream): one frame and the layer states in, the
newest output and the new states out; equal to the numpy stream's step on ONNX Runtime; shapes, metadata
and refusals."""
import subprocess
import sys

import numpy as np
import onnx
import pytest

from vp3d.errors import Vp3dError
from vp3d.model import checkpoint
from vp3d.model.folded import from_torch
from vp3d.model.stream_export import StepSession, export_stream, stream_metadata
from vp3d.pipeline.stream import StatePool

from random_models import random_model
from repo_paths import ROOT


@pytest.fixture(scope="module")
def net():
    return random_model((3, 3, 3), 32, seed=5)


def test_the_export_steps_as_the_numpy_stream(net, tmp_path):
    """Both from zero state, the same 40 frames (4 rows): every output column equal."""
    folded = from_torch(net)
    export_stream(folded, tmp_path / "s.onnx", rows=4)
    session = StepSession(tmp_path / "s.onnx")
    pool = StatePool(folded, capacity=4)
    rng = np.random.default_rng(0)
    slots = np.arange(4)
    for t in range(40):
        x = rng.uniform(-0.5, 0.5, (4, 34)).astype(np.float32)
        np.testing.assert_allclose(session.step(x), pool.step(slots, x), atol=1e-5, err_msg=f"frame {t}")


def test_shapes_and_metadata(net, tmp_path):
    """RF 27 (expand 3 x 1, blocks 3 x 3 and 3 x 9): states keep 2, 6 and 18 columns."""
    export_stream(from_torch(net), tmp_path / "s.onnx", rows=2, facts={"model_args": net.config.to_json()})
    m = onnx.load(str(tmp_path / "s.onnx"))
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    assert {v.name: dims(v) for v in m.graph.input} == {
        "frame": [2, 34], "state_0": [2, 2, 34], "state_1": [2, 6, 32], "state_2": [2, 18, 32]}
    assert {v.name: dims(v) for v in m.graph.output} == {
        "pose": [2, 51], "new_state_0": [2, 2, 34], "new_state_1": [2, 6, 32], "new_state_2": [2, 18, 32]}
    meta = stream_metadata(tmp_path / "s.onnx")
    assert meta["receptive_field"] == 27 and meta["rows"] == 2 and meta["causal"] is False
    assert meta["model_args"]["channels"] == 32


def test_bad_input_is_refused(net, tmp_path):
    export_stream(from_torch(net), tmp_path / "s.onnx", rows=2)
    with pytest.raises(Vp3dError, match=r"frames of shape \(3, 34\): the export takes \(2, 34\)"):
        StepSession(tmp_path / "s.onnx").step(np.zeros((3, 34), np.float32))
    with pytest.raises(Vp3dError, match="rows 0"):
        export_stream(from_torch(net), tmp_path / "t.onnx", rows=0)
    with pytest.raises(Vp3dError, match="width 1 keeps no state"):
        export_stream(from_torch(random_model((1, 3), 8)), tmp_path / "t.onnx")
    assert not (tmp_path / "t.onnx").exists()


def test_the_script_exports_a_stream_step(net, tmp_path):
    checkpoint.save(tmp_path / "m.bin", net)
    run = subprocess.run([sys.executable, "vp3d_pth2onnx.py", "-m", str(tmp_path / "m.bin"), "-o",
                          str(tmp_path / "s.onnx"), "--stream", "--tracks", "3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-1500:]
    assert "frame 6x34" in run.stdout
    meta = stream_metadata(tmp_path / "s.onnx")
    assert meta["rows"] == 6 and meta["model_args"]["filter_widths"] == [3, 3, 3]


def test_load_model_streams_a_step_export(net, tmp_path):
    """load_model(step.onnx).stream() equals lift() of the checkpoint; lift() itself is refused."""
    import vp3d
    from keypoint_writers import video_keypoints
    checkpoint.save(tmp_path / "m.bin", net)
    export_stream(from_torch(net), tmp_path / "s.onnx", facts={"model_args": net.config.to_json()})
    lifter = vp3d.load_model(tmp_path / "s.onnx")
    assert lifter.receptive_field == 27 and not lifter.causal
    kps = video_keypoints(40, 1280, 720, seed=1)
    stream = lifter.stream(image_size=(1280, 720))
    got = np.stack([p for k in kps for _, p in stream.push(k)] + [p for _, p in stream.flush()])
    np.testing.assert_allclose(got, vp3d.load_model(tmp_path / "m.bin").lift(kps, image_size=(1280, 720)), atol=1e-5)
    with pytest.raises(Vp3dError, match=r"s.onnx: a streaming-step export lifts frame by frame: use .stream\(\)"):
        lifter.lift(kps, image_size=(1280, 720))
