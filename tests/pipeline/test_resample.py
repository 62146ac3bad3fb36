"""Frame-rate resampling (pipeline.resample) and the model's training rate as a fact (ModelConfig.fps):
exact where it must be, and carried from training through checkpoints and ONNX to lifting."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import H36M_FPS, ModelConfig
from vp3d.lift import load_model
from vp3d.model import checkpoint
from vp3d.model.export import export_onnx
from vp3d.pipeline.resample import resample, resampled_length

from random_models import random_model
from keypoint_writers import video_keypoints

W, H = 640, 480


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("fps")
    net = random_model((3, 3, 3), 32, seed=5)
    checkpoint.save(d / "m.bin", net)
    return d / "m.bin"


def test_lengths_cover_the_input_span():
    # by hand: 11 frames at 25 fps span 0.4 s = 20 frames at 50 fps -> 21; 10 at 30 fps span 0.3 s = 15 -> 16;
    # 4 at 60 fps span 0.05 s = 2.5 frames at 50 fps -> 4 (the last at 0.06 s, just past the end)
    assert resampled_length(11, 25, 50) == 21
    assert resampled_length(10, 30, 50) == 16
    assert resampled_length(4, 60, 50) == 4
    assert resampled_length(7, 50, 50) == 7 and resampled_length(1, 25, 50) == 1


def test_the_models_rate_is_the_identity(ckpt):
    kps = video_keypoints(40, W, H, seed=2)
    assert resample(kps, 50.0, 50.0) is kps
    lifter = load_model(ckpt)
    np.testing.assert_array_equal(lifter.lift(kps, (W, H), fps=H36M_FPS), lifter.lift(kps, (W, H)))


@pytest.mark.parametrize("src,dst", [(30.0, 50.0), (25.0, 50.0), (50 / 3, 50.0), (60.0, 50.0)])
def test_linear_motion_survives_resampling_there_and_back(src, dst):
    """x = a + b t is linear in time, so linear interpolation must give it exactly at the new frames' times."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(17, 2)), rng.normal(size=(17, 2))
    t_src = np.arange(37) / src
    x = a + b * t_src[:, None, None]
    y = resample(x, src, dst)
    t_dst = np.arange(len(y)) / dst
    inside = t_dst <= t_src[-1] + 1e-12                  # past the input's end the edge frame is held
    np.testing.assert_allclose(y[inside], (a + b * t_dst[:, None, None])[inside], rtol=0, atol=1e-12)
    np.testing.assert_allclose(resample(y, dst, src, frames=len(x)), x, rtol=0, atol=1e-12)


def test_lifting_at_25_fps_is_upsample_by_hand_lift_every_second_frame(ckpt):
    """25 -> 50 fps by hand: the input's frames with their midpoints between; the model's poses at the
    even frames are the input's. Same frame count as the input."""
    kps = video_keypoints(31, W, H, seed=4)
    up = np.empty((2 * len(kps) - 1, 17, 2), np.float32)
    up[0::2] = kps
    up[1::2] = (kps[:-1].astype(np.float64) + kps[1:]) / 2
    lifter = load_model(ckpt)
    lifted = lifter.lift(kps, (W, H), fps=25)
    assert lifted.shape == (31, 17, 3)
    np.testing.assert_allclose(lifted, lifter.lift(up, (W, H))[0::2], atol=1e-6)


@pytest.mark.parametrize("fps", [30.0, 50 / 3, 60.0])
def test_lifted_poses_keep_the_inputs_frames(ckpt, fps):
    kps = video_keypoints(45, W, H, seed=1)
    assert load_model(ckpt).lift(kps, (W, H), fps=fps).shape == (45, 17, 3)
    with pytest.raises(Vp3dError, match="fps must be a positive"):
        load_model(ckpt).lift(kps, (W, H), fps=0)


def test_the_training_rate_travels_checkpoint_onnx_load_model(tmp_path):
    net = random_model((3, 3), 16, seed=3)
    net.config = net.config.replace(fps=25.0)            # as vp3d_train.py --downsample 2 records it
    checkpoint.save(tmp_path / "m.bin", net, "conv2d", module_prefix=True)
    assert checkpoint.load_raw(tmp_path / "m.bin")["model_args"]["fps"] == 25.0
    model = checkpoint.load(tmp_path / "m.bin")
    export_onnx(model, tmp_path / "m.onnx", length=40)
    assert load_model(tmp_path / "m.bin").fps == 25.0
    assert load_model(tmp_path / "m.onnx", backend="onnxruntime").fps == 25.0
    # older files: model_args without fps, and upstream's checkpoints without model_args, read as 50
    raw = checkpoint.load_raw(tmp_path / "m.bin")
    del raw["model_args"]["fps"]
    torch.save(raw, tmp_path / "old.bin")
    assert load_model(tmp_path / "old.bin").fps == 50.0
    del raw["model_args"]
    torch.save(raw, tmp_path / "upstream.bin")
    assert load_model(tmp_path / "upstream.bin").fps == 50.0
    assert ModelConfig.from_json({"filter_widths": [3, 3]}).fps == 50.0
    with pytest.raises(ValueError, match="fps must be"):
        ModelConfig(fps=0)
