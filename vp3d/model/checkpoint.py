"""Loading and saving VideoPose3D checkpoints, safely, in any weight layout.

Upstream run.py saves a dict {epoch, lr, random_state, optimizer, model_pos, model_traj,
random_state_semi} whose model_pos is a Conv1d state dict. The Ascend recipe's model_best.bin holds
the same weights in a Conv2d (k x 1) weight layout with 'module.' prefixes (DataParallel). Both load here
without unpickling arbitrary code: torch's weights-only unpickler, allowing only the numpy globals
these files carry (the pickled RandomState and arrays).
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import WEIGHT_LAYOUTS, ModelConfig, causal_kind, widths_of_kernels
from vp3d.model.temporal import TemporalModel


class CheckpointError(Vp3dError):
    """A checkpoint file that cannot be used: unreadable, unsafe, or not a TemporalModel."""


def _numpy_safe_globals() -> list:
    """The numpy globals a checkpoint may reference: a RandomState and plain arrays."""
    import numpy.random._pickle as nrp
    from numpy.random import MT19937, PCG64, Philox, SFC64
    multiarray = getattr(np, "_core", None) or np.core
    return [
        nrp.__randomstate_ctor, nrp.__bit_generator_ctor, getattr(nrp, "__generator_ctor", None),
        np.random.RandomState, np.random.Generator, MT19937, PCG64, Philox, SFC64,
        multiarray.multiarray._reconstruct, multiarray.multiarray.scalar,
        np.ndarray, np.dtype, *{type(np.dtype(t)) for t in "?bBhHiIlLqQefdgFDGSUV"},
    ]


def load_raw(path: str | Path) -> dict:
    """The checkpoint's top-level object (a dict), loaded weights-only. Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes); expected a torch checkpoint")
    allowed = [g for g in _numpy_safe_globals() if g is not None]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        forbidden = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if forbidden:
            raise CheckpointError(f"{path}: refused to load (forbidden global {forbidden.group(1)}); only "
                                  f"tensors, numpy arrays and RandomState are allowed in a checkpoint") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
        raise CheckpointError(f"{path}: not a readable torch checkpoint "
                              f"({detail.group(1).strip() if detail else 'unpickling failed'})") from None
    except Exception as e:  # zip/EOF/format errors
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict, got {type(obj).__name__}")
    return obj


def model_state_dict(obj: dict, path: str | Path = "checkpoint") -> dict[str, torch.Tensor]:
    """The pose model's state dict from a checkpoint dict (upstream, Ascend, or a bare state dict),
    with 'module.' prefixes stripped."""
    state = obj.get("model_pos", obj)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no 'model_pos' state dict of tensors "
                              f"(top-level keys: {sorted(map(str, obj))[:8]})")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def infer_config(state: dict[str, torch.Tensor], causal: bool = False,
                 path: str | Path = "checkpoint", dense: bool | None = None) -> ModelConfig:
    """Read the architecture (widths, dense or dilated, channels, joints, weight layout) off a TemporalModel state dict.
    dense None: from the kernel widths (facts.architecture.widths_of_kernels: a dense model's block reads all 2p + 1
    frames of its span); True/False: read the widths as that kind's (a CheckpointError where they cannot be)."""
    def need(key):
        if key not in state:
            raise CheckpointError(f"{path}: missing key '{key}': not a VideoPose3D TemporalModel")
        return state[key]

    expand = need("expand_conv.weight")
    if expand.ndim == 3:
        weight_layout, width = "conv1d", lambda w: w.shape[2]
    elif expand.ndim == 4 and expand.shape[3] == 1:
        weight_layout, width = "conv2d", lambda w: w.shape[2]
    elif expand.ndim == 4 and expand.shape[2] == 1 and expand.shape[3] > 1:
        weight_layout, width = "conv2d_w", lambda w: w.shape[3]
    else:
        raise CheckpointError(f"{path}: expand_conv.weight has shape {tuple(expand.shape)}, "
                              f"expected (C, J*2, k), (C, J*2, k, 1) or (C, J*2, 1, k)")
    kernels = [width(expand)]
    n_blocks = len([k for k in state if re.fullmatch(r"layers_conv\.\d+\.weight", k)]) // 2
    for i in range(n_blocks):
        kernels.append(width(need(f"layers_conv.{2 * i}.weight")))
    shrink = need("shrink.weight")
    if expand.shape[1] % 2 or shrink.shape[0] % 3:
        raise CheckpointError(f"{path}: expand_conv takes {expand.shape[1]} inputs and shrink gives "
                              f"{shrink.shape[0]} outputs; expected multiples of 2 and 3")
    try:
        widths, dense = widths_of_kernels(kernels, dense)
        return ModelConfig(filter_widths=widths, dense=dense, channels=expand.shape[0],
                           num_joints_in=expand.shape[1] // 2, in_features=2,
                           num_joints_out=shrink.shape[0] // 3, causal=causal, weight_layout=weight_layout)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None


def convert_state_dict(state: dict[str, torch.Tensor], src: str, dst: str) -> dict[str, torch.Tensor]:
    """The same weights in another weight layout (conv kernels reshaped; batch-norm tensors unchanged)."""
    if src not in WEIGHT_LAYOUTS or dst not in WEIGHT_LAYOUTS:
        raise ValueError(f"weight layouts must be among {WEIGHT_LAYOUTS}, got {src!r} -> {dst!r}")
    out = {}
    for key, v in state.items():
        if key.endswith("weight") and v.ndim >= 3:      # conv kernels only: BN weights are 1-D
            v1d = v if src == "conv1d" else (v[..., 0] if src == "conv2d" else v[:, :, 0, :])
            v = v1d if dst == "conv1d" else (v1d.unsqueeze(3) if dst == "conv2d" else v1d.unsqueeze(2))
        out[key] = v.contiguous()
    return out


def build_model(state: dict[str, torch.Tensor], config: ModelConfig, weight_layout: str | None = None,
                path: str | Path = "checkpoint") -> TemporalModel:
    """A TemporalModel in `weight_layout` (default: the state dict's own) with the weights loaded strictly, in
    eval mode."""
    weight_layout = weight_layout or config.weight_layout
    model = TemporalModel(config.replace(weight_layout=weight_layout))
    state = convert_state_dict(state, config.weight_layout, weight_layout)
    expected = model.state_dict()
    for key, v in expected.items():
        if key in state and tuple(state[key].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: '{key}' has shape {tuple(state[key].shape)}, "
                                  f"expected {tuple(v.shape)}")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: state dict does not match a {config.arc_text} model: "
                              f"missing {missing[:4]}, unexpected {unexpected[:4]}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def checkpoint_config(obj: dict, state: dict[str, torch.Tensor], causal: bool | None = None,
                      path: str | Path = "checkpoint") -> ModelConfig:
    """The model's facts: the checkpoint's own 'model_args' (vp3d writes them) checked against its
    weights, or what the weights tell (upstream and Ascend files: widths, dense or dilated, channels, joints).
    Causality cannot be read off weights: `causal` supplies it for those (default not causal) and must agree with
    model_args where present."""
    if obj.get("model_args") is None:
        return infer_config(state, causal=bool(causal), path=path)
    try:
        config = ModelConfig.from_json(obj["model_args"])
    except ValueError as e:
        raise CheckpointError(f"{path}: unreadable 'model_args' ({e})") from None
    try:
        inferred = infer_config(state, causal=bool(causal), path=path, dense=config.dense)
    except CheckpointError:
        inferred = None
    if inferred is None or inferred.filter_widths != config.filter_widths:
        told = infer_config(state, path=path)
        raise CheckpointError(f"{path}: 'model_args' say a {config.arc_text} model, but the weights are of a "
                              f"{told.arc_text} one")
    for key in ("channels", "num_joints_in", "num_joints_out", "weight_layout"):
        if getattr(config, key) != getattr(inferred, key):
            raise CheckpointError(f"{path}: 'model_args' say {key} {getattr(config, key)}, but the weights "
                                  f"are of a model with {getattr(inferred, key)}")
    if causal is not None and causal != config.causal:
        raise CheckpointError(f"{path}: the checkpoint records {causal_kind(config.causal)} model, asked to run it "
                              f"as {causal_kind(causal)} one")
    return config


def load(path: str | Path, device: str = "cpu", weight_layout: str | None = None,
         causal: bool | None = None) -> TemporalModel:
    """Load a checkpoint (any weight layout, any prefix) into a TemporalModel on `device`, in eval mode.

    `weight_layout` picks the weight layout of the returned model (default: the checkpoint's own). Causality comes
    from the checkpoint's model_args where vp3d wrote them; upstream files cannot tell, so `causal`
    says it (None: not causal).
    """
    return _pose_model(load_raw(path), path, device, weight_layout, causal)


def _pose_model(obj: dict, path: str | Path, device: str, weight_layout: str | None,
                causal: bool | None) -> TemporalModel:
    state = model_state_dict(obj, path)
    return build_model(state, checkpoint_config(obj, state, causal, path), weight_layout, path).to(device)


def save(path: str | Path, model: TemporalModel, weight_layout: str = "conv1d", module_prefix: bool = False,
         epoch: int = 0, lr: float = 0.0, optimizer: dict | None = None,
         random_state: np.random.RandomState | None = None, trajectory: TemporalModel | None = None,
         random_state_semi: np.random.RandomState | None = None, extra: dict | None = None) -> None:
    """Save `model` (and a trajectory model) as upstream run.py does (or as the Ascend recipe: weight_layout='conv2d',
    module_prefix=True), plus 'model_args' (the ModelConfig, in the saved weight layout): upstream ignores the extra
    key; vp3d reads causality and the keypoint symmetry from it. `extra`: more keys (training's resume state).
    Written to a temporary name and renamed into place.
    """
    from vp3d.io.files import atomic_path

    def state(m: TemporalModel) -> dict[str, torch.Tensor]:
        out = convert_state_dict(m.state_dict(), m.config.weight_layout, weight_layout)
        return {"module." + k: v for k, v in out.items()} if module_prefix else out

    obj = {
        "epoch": epoch, "lr": lr,
        "random_state": random_state if random_state is not None else np.random.RandomState(1234),
        "optimizer": optimizer if optimizer is not None else {"state": {}, "param_groups": []},
        "model_pos": state(model), "model_traj": None if trajectory is None else state(trajectory),
        "random_state_semi": random_state_semi,
        "model_args": model.config.replace(weight_layout=weight_layout).to_json(), **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def trajectory_state_dict(obj: dict, path: str | Path = "checkpoint") -> dict[str, torch.Tensor] | None:
    """The trajectory model's state dict ('model_traj', as semi-supervised upstream checkpoints hold), with
    'module.' prefixes stripped; None where the checkpoint has none."""
    state = obj.get("model_traj")
    if state is None:
        return None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'model_traj' is not a state dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_with_trajectory(path: str | Path, device: str = "cpu", weight_layout: str | None = None,
                         causal: bool | None = None) -> tuple[TemporalModel, TemporalModel | None]:
    """(pose model, trajectory model or None) from one checkpoint, both in eval mode on `device`.

    The trajectory model (upstream's model_traj) is a TemporalModel with one output joint: the root's
    camera-frame position, metres; it must see the same frames (receptive field) as the pose model.
    """
    obj = load_raw(path)
    model = _pose_model(obj, path, device, weight_layout, causal)
    traj_state = trajectory_state_dict(obj, path)
    if traj_state is None:
        return model, None
    config = infer_config(traj_state, causal=model.config.causal, path=f"{path}: model_traj", dense=model.config.dense)
    if config.num_joints_out != 1 or config.receptive_field != model.config.receptive_field \
            or config.num_joints_in != model.config.num_joints_in:
        raise CheckpointError(f"{path}: model_traj has {config.num_joints_out} output joints, receptive field "
                              f"{config.receptive_field} and {config.num_joints_in} input keypoints; expected 1, "
                              f"{model.config.receptive_field} and {model.config.num_joints_in} (the pose model's)")
    return model, build_model(traj_state, config, weight_layout, f"{path}: model_traj").to(device)
