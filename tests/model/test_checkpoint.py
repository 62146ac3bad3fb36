
import numpy as np
import pytest
import torch
from evil_pickle import Evil
from random_models import random_model

from vp3d.facts.architecture import ModelConfig
from vp3d.model import checkpoint
from vp3d.model.checkpoint import CheckpointError, convert_state_dict
from vp3d.model.temporal import TemporalModel


def test_upstream_and_ascend_checkpoints_load_to_the_same_model(tiny_checkpoints):
    up = checkpoint.load(tiny_checkpoints["conv1d"])
    asc = checkpoint.load(tiny_checkpoints["conv2d"])
    assert up.config.weight_layout == "conv1d" and asc.config.weight_layout == "conv2d"
    assert up.config.filter_widths == asc.config.filter_widths == (3, 3, 3)
    assert up.config.channels == 32 and up.config.num_joints_in == up.config.num_joints_out == 17
    x = torch.randn(2, 50, 17, 2)
    with torch.inference_mode():
        torch.testing.assert_close(asc(x), up(x), atol=1e-5, rtol=1e-5)


def test_checkpoint_keeps_upstream_keys(tiny_checkpoints):
    raw = checkpoint.load_raw(tiny_checkpoints["conv2d"])
    upstream = {"epoch", "lr", "random_state", "optimizer", "model_pos", "model_traj", "random_state_semi"}
    assert set(raw) == upstream | {"model_args"}
    assert raw["model_args"]["weight_layout"] == "conv2d" and raw["model_args"]["filter_widths"] == [3, 3, 3]
    assert isinstance(raw["random_state"], np.random.RandomState)
    assert raw["model_traj"] is None
    assert "module.expand_conv.weight" in raw["model_pos"] and all(k.startswith("module.") for k in raw["model_pos"])
    assert raw["model_pos"]["module.expand_conv.weight"].shape == (32, 34, 3, 1)
    assert raw["optimizer"]["state"]          # real Adam moments survive


@pytest.mark.parametrize("weight_layout", ["conv1d", "conv2d", "conv2d_w"])
def test_load_into_any_weight_layout(tiny_checkpoints, weight_layout):
    ref = checkpoint.load(tiny_checkpoints["conv1d"])
    model = checkpoint.load(tiny_checkpoints["conv2d"], weight_layout=weight_layout)
    x = torch.randn(2, 40, 17, 2)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), ref(x), atol=1e-5, rtol=1e-5)


def test_bare_state_dict_loads(tmp_path):
    model = random_model((3, 3), 16)
    torch.save(model.state_dict(), tmp_path / "bare.pth")
    assert checkpoint.load(tmp_path / "bare.pth").config.filter_widths == (3, 3)


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model_pos": {}, "payload": Evil(str(marker))}, tmp_path / "evil.bin")
    with pytest.raises(CheckpointError, match=r"evil.bin: refused.*open"):
        checkpoint.load(tmp_path / "evil.bin")
    assert not marker.exists()


def test_missing_key_and_wrong_shape_are_named(tmp_path):
    state = random_model((3, 3), 16).state_dict()
    del state["shrink.bias"]
    torch.save({"model_pos": state}, tmp_path / "missing.bin")
    with pytest.raises(CheckpointError, match="missing.bin.*shrink.bias"):
        checkpoint.load(tmp_path / "missing.bin")
    state = random_model((3, 3), 16).state_dict()
    state["layers_bn.0.weight"] = torch.ones(15)
    torch.save({"model_pos": state}, tmp_path / "shape.bin")
    with pytest.raises(CheckpointError, match=r"layers_bn.0.weight' has shape \(15,\), expected \(16,\)"):
        checkpoint.load(tmp_path / "shape.bin")


@pytest.mark.parametrize("content,match", [(b"", r"the file is empty \(0 bytes\); expected a torch checkpoint"), (b"garbage" * 10, "not a readable")])
def test_unreadable_files(tmp_path, content, match):
    (tmp_path / "bad.bin").write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(tmp_path / "bad.bin")


def test_not_a_temporal_model(tmp_path):
    torch.save({"model_pos": {"fc.weight": torch.ones(3, 3)}}, tmp_path / "other.bin")
    with pytest.raises(CheckpointError, match="missing key 'expand_conv.weight'"):
        checkpoint.load(tmp_path / "other.bin")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "absent.bin")


def test_model_args_carry_causality_and_must_match_the_weights(tmp_path):
    model = random_model((3, 3), 16, causal=True)
    checkpoint.save(tmp_path / "c.bin", model)
    assert checkpoint.load(tmp_path / "c.bin").config.causal            # no flag needed
    with pytest.raises(checkpoint.CheckpointError, match="records a causal model"):
        checkpoint.load(tmp_path / "c.bin", causal=False)
    raw = checkpoint.load_raw(tmp_path / "c.bin")
    raw["model_args"]["channels"] = 99
    torch.save(raw, tmp_path / "lie.bin")
    with pytest.raises(checkpoint.CheckpointError, match="model_args' say channels 99, but the weights"):
        checkpoint.load(tmp_path / "lie.bin")
    del raw["model_args"]                                              # an upstream file: the flag decides
    torch.save(raw, tmp_path / "up.bin")
    assert not checkpoint.load(tmp_path / "up.bin").config.causal
    assert checkpoint.load(tmp_path / "up.bin", causal=True).config.causal


def test_trajectory_model_loads_beside_the_pose_model(tmp_path):
    from vp3d.model.temporal import randomize_batchnorm
    pos = random_model((3, 3, 3), 32, seed=1)
    checkpoint.save(tmp_path / "none.bin", pos)
    assert checkpoint.load_with_trajectory(tmp_path / "none.bin")[1] is None
    traj = randomize_batchnorm(TemporalModel(ModelConfig((3, 3, 3), 32, num_joints_out=1)), 2).eval()
    obj = checkpoint.load_raw(tmp_path / "none.bin")
    obj["model_traj"] = {"module." + k: v for k, v in traj.state_dict().items()}     # DataParallel prefixes
    torch.save(obj, tmp_path / "traj.bin")
    model, loaded = checkpoint.load_with_trajectory(tmp_path / "traj.bin")
    x = torch.randn(2, 40, 17, 2)
    with torch.no_grad():
        assert loaded(x).shape == (2, 14, 1, 3)
        torch.testing.assert_close(loaded(x), traj(x))
        torch.testing.assert_close(model(x), pos(x))
    obj["model_traj"] = random_model((3, 3), 32, seed=3).state_dict()                   # 9 frames, 17 joints
    torch.save(obj, tmp_path / "bad.bin")
    with pytest.raises(checkpoint.CheckpointError, match="model_traj has 17 output joints, receptive field 9"):
        checkpoint.load_with_trajectory(tmp_path / "bad.bin")


# model_args as vp3d wrote them before the weight layout's key was 'weight_layout'
OLD_MODEL_ARGS = {"filter_widths": [3, 3, 3], "channels": 32, "num_joints_in": 17, "in_features": 2,
                  "num_joints_out": 17, "causal": True, "dense": False, "dropout": 0.25, "layout": "conv2d",
                  "keypoint_symmetry": None, "fps": 50.0, "dataset": "h36m"}


def test_checkpoint_with_the_old_layout_key_loads(tiny_checkpoints, tmp_path):
    raw = checkpoint.load_raw(tiny_checkpoints["conv2d"])      # Conv2d k x 1 weights, 'module.' prefixes
    raw["model_args"] = dict(OLD_MODEL_ARGS)
    torch.save(raw, tmp_path / "old.bin")
    model = checkpoint.load(tmp_path / "old.bin")
    assert (model.config.weight_layout, model.config.causal) == ("conv2d", True)
    checkpoint.save(tmp_path / "new.bin", model, weight_layout="conv2d")
    args = checkpoint.load_raw(tmp_path / "new.bin")["model_args"]
    assert args["weight_layout"] == "conv2d" and "layout" not in args
    raw["model_args"]["layout"] = "conv1d"                        # the old key is checked against the weights too
    torch.save(raw, tmp_path / "lie.bin")
    with pytest.raises(checkpoint.CheckpointError, match="say weight_layout conv1d, but the weights"):
        checkpoint.load(tmp_path / "lie.bin")


def test_weight_layout_round_trip_is_identity():
    state = random_model((3, 3), 8).state_dict()
    for weight_layout in ("conv2d", "conv2d_w"):
        back = convert_state_dict(convert_state_dict(state, "conv1d", weight_layout), weight_layout, "conv1d")
        assert all(torch.equal(back[k], state[k]) for k in state)
