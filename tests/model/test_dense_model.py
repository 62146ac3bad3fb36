"""The dense model (upstream's --dense ablation: each block's convolution reads every frame of its span, kernel
2p + 1 at dilation 1, where the dilated one reads w taps p = (w - 1) d / 2 apart) against references that do not
come from vp3d's model code: upstream's own common/model.py where VP3D_UPSTREAM names a checkout at 1afb1ca; in a
plain clone, upstream's forward written out in numpy below, and the dilated model a dense kernel holds when it is
zero but at the dilated taps. Its checkpoints are told from dilated ones by their weights; export, ONNX Runtime,
int8, lifting and streaming take it."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import vp3d
import vp3d_pth2onnx
import vp3d_quantize
from vp3d.facts.architecture import ModelConfig, widths_of_kernels
from vp3d.io.onnx_meta import INPUT_NAME
from vp3d.model import checkpoint
from vp3d.model.checkpoint import CheckpointError
from vp3d.model.temporal import TemporalModel

from random_models import random_model
from golden_case import golden_state_dict
from keypoint_writers import video_keypoints

UPSTREAM = os.environ.get("VP3D_UPSTREAM")
WIDTHS = (3, 3, 3)
DENSE_KERNELS = (7, 19)         # upstream: 2 * pad + 1 with pad (3 - 1) * 3 / 2 = 3 and (3 - 1) * 9 / 2 = 9
CHANNELS = 16
W, H = 1000, 1000


def reference(state: dict, widths, x: np.ndarray, causal: bool = False) -> np.ndarray:
    """Upstream's TemporalModel(dense=True) in eval mode, written out from its definition in float64:
    (N, T, J, 2) -> (N, T - RF + 1, J_out, 3)."""
    s = {k: np.asarray(v, np.float64) for k, v in state.items()}

    def conv(h, weight):                # h (N, T, C_in), weight (C_out, C_in, k): every tap, dilation 1
        k = weight.shape[2]
        return sum(h[:, j:h.shape[1] - k + 1 + j] @ weight[:, :, j].T for j in range(k))

    def bn_relu(h, name):
        y = (h - s[f"{name}.running_mean"]) / np.sqrt(s[f"{name}.running_var"] + 1e-5)
        return np.maximum(y * s[f"{name}.weight"] + s[f"{name}.bias"], 0)

    n, t = x.shape[:2]
    h = bn_relu(conv(x.reshape(n, t, -1).astype(np.float64), s["expand_conv.weight"]), "expand_bn")
    d = widths[0]
    for i, w in enumerate(widths[1:]):
        pad = (w - 1) * d // 2
        shift = pad if causal else 0
        assert s[f"layers_conv.{2 * i}.weight"].shape[2] == 2 * pad + 1
        res = h[:, pad + shift:h.shape[1] - pad + shift]
        y = bn_relu(conv(h, s[f"layers_conv.{2 * i}.weight"]), f"layers_bn.{2 * i}")
        h = res + bn_relu(y @ s[f"layers_conv.{2 * i + 1}.weight"][:, :, 0].T, f"layers_bn.{2 * i + 1}")
        d *= w
    out = h @ s["shrink.weight"][:, :, 0].T + s["shrink.bias"]
    return out.reshape(n, out.shape[1], -1, 3)


@pytest.fixture(scope="module")
def states():
    """Upstream-format dense weights (numpy, Conv1d): the pose model and a trajectory model."""
    return {"model_pos": golden_state_dict(11, 17, 17, WIDTHS, CHANNELS, stream=9, dense=True),
            "model_traj": golden_state_dict(11, 17, 1, WIDTHS, CHANNELS, stream=10, dense=True)}


@pytest.fixture(scope="module")
def files(states, tmp_path_factory) -> dict[str, Path]:
    """Upstream run.py's checkpoint dict (no model_args): 'pose' (supervised) and 'semi' (with model_traj)."""
    d = tmp_path_factory.mktemp("dense")
    tensors = lambda state: {k: torch.from_numpy(v) for k, v in state.items()}
    out = {}
    for name, traj in (("pose", None), ("semi", tensors(states["model_traj"]))):
        out[name] = d / f"{name}.bin"
        torch.save({"epoch": 80, "lr": 1e-5, "random_state": np.random.RandomState(1), "optimizer": None,
                    "model_pos": tensors(states["model_pos"]), "model_traj": traj, "random_state_semi": None},
                   out[name])
    return out


def keypoints(seed=0, frames=45) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.8, 0.8, (2, frames, 17, 2)).astype(np.float32)


@pytest.mark.parametrize("weight_layout", ["conv1d", "conv2d", "conv2d_w"])
@pytest.mark.parametrize("causal", [False, True], ids=["symmetric", "causal"])
def test_an_upstream_dense_checkpoint_is_read_from_its_weights_and_computes_upstreams_model(
        states, files, weight_layout, causal):
    assert tuple(states["model_pos"][f"layers_conv.{2 * i}.weight"].shape[2] for i in range(2)) == DENSE_KERNELS
    model = checkpoint.load(files["pose"], weight_layout=weight_layout, causal=causal)
    c = model.config
    assert (c.filter_widths, c.dense, c.receptive_field, c.weight_layout) == (WIDTHS, True, 27, weight_layout)
    x = keypoints()
    with torch.inference_mode():
        got = model(torch.from_numpy(x)).numpy()
    expected = reference(states["model_pos"], WIDTHS, x, causal)
    assert got.shape == (2, 45 - 26, 17, 3)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    dilated = reference(states["model_pos"], WIDTHS, x, not causal)      # the other causality: another function
    assert np.abs(got - dilated).max() > 1e-2


@pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca")
@pytest.mark.parametrize("causal", [False, True], ids=["symmetric", "causal"])
def test_the_dense_model_equals_upstreams_common_model(states, files, causal):
    spec = importlib.util.spec_from_file_location("upstream_common_model", Path(UPSTREAM) / "common" / "model.py")
    upstream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(upstream)
    theirs = upstream.TemporalModel(17, 2, 17, list(WIDTHS), causal=causal, dropout=0.25, channels=CHANNELS,
                                    dense=True).eval()
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == \
        {k: v.shape for k, v in states["model_pos"].items()}         # upstream's shapes are this file's
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in states["model_pos"].items()}, strict=True)
    x = torch.from_numpy(keypoints(1))
    for weight_layout in ("conv1d", "conv2d", "conv2d_w"):
        ours = checkpoint.load(files["pose"], weight_layout=weight_layout, causal=causal)
        with torch.inference_mode():
            torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
    with torch.inference_mode():
        np.testing.assert_allclose(theirs(x).numpy(), reference(states["model_pos"], WIDTHS, x.numpy(), causal),
                                   atol=2e-5)


@pytest.mark.parametrize("causal", [False, True], ids=["symmetric", "causal"])
def test_a_dense_kernel_zero_but_at_the_dilated_taps_is_the_dilated_model(causal):
    dilated = random_model(WIDTHS, CHANNELS, seed=3, causal=causal)
    state = dict(dilated.state_dict())
    d = WIDTHS[0]
    for i, w in enumerate(WIDTHS[1:]):                      # taps 0, d, 2d of a (w - 1) d + 1 kernel
        kernel = state[f"layers_conv.{2 * i}.weight"]
        wide = torch.zeros(kernel.shape[0], kernel.shape[1], (w - 1) * d + 1)
        wide[:, :, ::d] = kernel
        state[f"layers_conv.{2 * i}.weight"] = wide
        d *= w
    dense = TemporalModel(dilated.config.replace(dense=True)).eval()
    dense.load_state_dict(state, strict=True)
    x = torch.from_numpy(keypoints(2))
    with torch.inference_mode():
        torch.testing.assert_close(dense(x), dilated(x), atol=1e-5, rtol=1e-5)
        state["layers_conv.2.weight"][:, :, 1] = 0.1         # a frame between the taps: now it counts
        dense.load_state_dict(state)
        assert (dense(x) - dilated(x)).abs().max() > 1e-2


def test_kernel_widths_tell_dense_from_dilated():
    assert ModelConfig((3, 3, 3, 3, 3), dense=True).wide_convs == ((7, 1), (19, 1), (55, 1), (163, 1))
    assert ModelConfig((3, 3, 3, 3, 3)).wide_convs == ((3, 3), (3, 9), (3, 27), (3, 81))
    assert ModelConfig((3, 5), dense=True).wide_convs == ((13, 1),)
    assert widths_of_kernels([3, 7, 19, 55, 163]) == ((3, 3, 3, 3, 3), True)
    assert widths_of_kernels([3, 3, 3, 3, 3]) == ((3, 3, 3, 3, 3), False)
    assert widths_of_kernels([3, 13]) == ((3, 5), True)
    assert widths_of_kernels([3, 5]) == ((3, 5), False)              # 5 = 2p + 1 for no width at d 3
    assert widths_of_kernels([5, 3, 3]) == ((5, 3, 3), False)
    assert widths_of_kernels([1, 3, 3]) == ((1, 3, 3), False)        # d 1: dense and dilated are the same model
    assert widths_of_kernels([3, 1, 7]) == ((3, 1, 3), True)
    assert widths_of_kernels([3, 7], dense=False) == ((3, 7), False)  # the one ambiguity: a record settles it
    with pytest.raises(ValueError, match="not a dense model's"):
        widths_of_kernels([3, 5], dense=True)


def test_vp3d_checkpoints_record_dense_and_it_must_fit_the_weights(files, tmp_path):
    model = checkpoint.load(files["pose"], weight_layout="conv2d_w")
    checkpoint.save(tmp_path / "d.bin", model, weight_layout="conv2d", module_prefix=True)
    raw = checkpoint.load_raw(tmp_path / "d.bin")
    assert raw["model_args"]["dense"] is True
    assert raw["model_pos"]["module.layers_conv.2.weight"].shape == (CHANNELS, CHANNELS, 19, 1)
    again = checkpoint.load(tmp_path / "d.bin")
    assert again.config.dense and again.config.weight_layout == "conv2d"
    raw["model_args"]["dense"] = False
    torch.save(raw, tmp_path / "lie.bin")
    with pytest.raises(CheckpointError, match="'model_args' say a dilated 3,3,3 model, but the weights are of a "
                                              "dense 3,3,3 one"):
        checkpoint.load(tmp_path / "lie.bin")
    dilated = random_model(WIDTHS, CHANNELS)
    checkpoint.save(tmp_path / "dilated.bin", dilated)
    raw = checkpoint.load_raw(tmp_path / "dilated.bin")
    raw["model_args"]["dense"] = True
    torch.save(raw, tmp_path / "lie2.bin")
    with pytest.raises(CheckpointError, match="say a dense 3,3,3 model, but the weights are of a dilated 3,3,3 one"):
        checkpoint.load(tmp_path / "lie2.bin")
    pose, traj = checkpoint.load_with_trajectory(files["semi"])
    assert traj.config.dense and traj.config.num_joints_out == 1


def test_export_and_onnx_runtime_equal_the_reference_and_int8_stays_close(states, files, tmp_path, capsys):
    assert vp3d_pth2onnx.main(["-m", str(files["pose"]), "-o", str(tmp_path / "d.onnx"), "--length", "64"]) == 0
    printed = capsys.readouterr().out
    assert "filter widths 3,3,3" in printed and ", dense" in printed
    x = keypoints(3, 64)
    got = ort.InferenceSession(str(tmp_path / "d.onnx")).run(None, {INPUT_NAME: x})[0]
    np.testing.assert_allclose(got, reference(states["model_pos"], WIDTHS, x), atol=2e-5)
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for i in range(6):
        keypoints(10 + i, 64).tofile(calibration / f"s{i}.bin")
    assert vp3d_quantize.main(["--model", str(tmp_path / "d.onnx"), "--calibration", str(calibration),
                               "-o", str(tmp_path / "int8.onnx"), "--inputs", "4"]) == 0
    int8 = ort.InferenceSession(str(tmp_path / "int8.onnx")).run(None, {INPUT_NAME: x})[0]
    fp32_spread = np.abs(got).mean()
    assert 0 < np.abs(int8 - got).mean() < 0.1 * fp32_spread, (np.abs(int8 - got).mean(), fp32_spread)


@pytest.mark.parametrize("source", ["checkpoint", "causal", "onnx", "step"])
def test_the_stream_equals_lifting_a_dense_model(files, tmp_path, source):
    """Lifting (edge padding, flip, the trajectory model) from the checkpoint, against the stream of the
    checkpoint, of a causal reading of it, of its dynamic ONNX export (weights from the initializers) and of its
    streaming-step export."""
    causal = source == "causal"
    lifter = vp3d.load_model(files["semi" if source != "step" else "pose"], layout="h36m", causal=causal or None)
    if source == "onnx":
        assert vp3d_pth2onnx.main(["-m", str(files["semi"]), "-o", str(tmp_path / "d.onnx"), "--dynamic"]) == 0
        streamer = vp3d.load_model(tmp_path / "d.onnx", layout="h36m")
        lifter = vp3d.load_model(files["pose"], layout="h36m")        # an export is the pose model alone
    elif source == "step":
        assert vp3d_pth2onnx.main(["-m", str(files["pose"]), "-o", str(tmp_path / "s.onnx"), "--stream"]) == 0
        streamer = vp3d.load_model(tmp_path / "s.onnx", layout="h36m")
    else:
        streamer = lifter
    kps = video_keypoints(50, W, H, seed=5)
    stream = streamer.stream(image_size=(W, H))
    assert stream.lag == (0 if causal else 13)
    out = [p for k in kps for p in stream.push(k)] + stream.flush()
    assert [f for f, _ in out] == list(range(50))
    np.testing.assert_allclose(np.stack([p for _, p in out]), lifter.lift(kps, image_size=(W, H)), atol=2e-5)
