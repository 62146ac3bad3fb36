"""The golden case's inputs, regenerated from a seed: Human3.6M-format data and a random 27-frame model.

scripts/make_golden.py runs upstream VideoPose3D's own run.py on these inputs and stores what upstream
computes in tests/fixtures/golden/; tests/test_golden.py regenerates them and runs vp3d's stages on them.
The inputs are not committed: they are about 1.8 MB, the fixture about 100 KB.

Bit-identical everywhere by construction. numpy promises the same random stream only for the same build on
the same machine, so this keeps to what cannot drift: the PCG64 stream (np.random.default_rng) drawn only as
uniform doubles and bounded integers (no normal(), whose algorithm may change), then only +, -, *, /, sqrt and
cumsum, which IEEE arithmetic rounds correctly (no transcendental functions, no BLAS, no reductions whose order
may vary). torch's RNG and init play no part: the weights are numpy arrays. `fingerprint` hashes the arrays,
so a change here fails the test until scripts/make_golden.py is run again.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vp3d.model import checkpoint

SEED = 20190616
FILTER_WIDTHS = (3, 3, 3)   # 27-frame receptive field
CHANNELS = 32
ACTIONS = {"S9": ["Directions", "Directions 1", "Walking", "Greeting 1"],
           "S11": ["Directions 1", "Walking 1", "Greeting", "Eating"]}
KEYPOINTS = "cpn_ft_h36m_dbb"
KEYPOINTS_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
KEPT_JOINTS = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]   # the 17 of the 32 mocap joints
CHECKPOINTS = {"conv1d": "ckpt_conv1d.bin", "conv2d_module": "ckpt_conv2d_module.bin"}
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "golden"


@dataclass
class GoldenInputs:
    """Where write_golden_inputs put the case, and its fingerprint."""

    data: Path                    # data_3d_h36m.npz and data_2d_h36m_cpn_ft_h36m_dbb.npz
    checkpoints: dict[str, Path]  # 'conv1d': upstream run.py's file; 'conv2d_module': the Ascend recipe's
    fingerprint: str              # sha256 of the generated arrays


def golden_data(seed: int = SEED, actions: dict[str, list[str]] = ACTIONS) -> tuple[dict, dict]:
    """(positions_3d, positions_2d) as upstream's .npz files hold them.

    3D: subject -> action -> (T, 32, 3) float32 world metres, T in 120..240: a body-sized cloud of joints,
    each on a random walk, the whole walking in a straight line. 2D: subject -> action -> 4 cameras, each
    (T + 0..3, 17, 2) float32 pixels: the 17 kept joints seen by a pinhole camera 4-6 m away, with up to
    3 px of noise; extra frames repeat the last one, as some Human3.6M videos run longer than their mocap.
    """
    rng = np.random.default_rng([seed, 1])
    pos3d, pos2d = {}, {}
    for subject, takes in actions.items():
        pos3d[subject], pos2d[subject] = {}, {}
        for action in takes:
            t = int(rng.integers(120, 241))
            body = rng.uniform(-0.3, 0.3, (1, 32, 3)) + np.array([0.0, 0.0, 1.0])
            sway = np.cumsum(rng.uniform(-0.008, 0.008, (t, 32, 3)), axis=0)
            step = np.concatenate([rng.uniform(-0.004, 0.004, 2), [0.0]])               # metres per frame
            world = (body + sway + np.arange(t)[:, None, None] * step).astype(np.float32)
            pos3d[subject][action] = world
            x, y, z = (world[:, KEPT_JOINTS, i].astype(np.float64) for i in range(3))
            cams = []
            for _ in range(4):
                a, b = rng.uniform(-1, 1, 2)
                norm = np.sqrt(a * a + b * b)
                a, b = a / norm, b / norm                                               # viewing direction
                distance, focal = rng.uniform(4.0, 6.0), rng.uniform(1100.0, 1150.0)
                cx, cy = rng.uniform(480.0, 520.0, 2)
                depth = distance + a * x + b * y
                px = np.stack([cx + focal * (a * y - b * x) / depth, cy - focal * (z - 1.0) / depth], axis=-1)
                px = px + rng.uniform(-3.0, 3.0, px.shape)
                extra = int(rng.integers(0, 4))
                cams.append(np.concatenate([px, px[-1:].repeat(extra, 0)]).astype(np.float32))
            pos2d[subject][action] = cams
    return pos3d, pos2d


def golden_state_dict(seed: int = SEED, filter_widths: tuple[int, ...] = FILTER_WIDTHS, channels: int = CHANNELS,
                      joints_out: int = 17, stream: int = 2) -> dict[str, np.ndarray]:
    """A TemporalModel's weights in upstream's Conv1d layout: name -> float32 array (num_batches_tracked:
    int64 scalar). Convolutions uniform in +-1/sqrt(fan_in), as torch initialises them; batch norms with
    non-trivial statistics and scales, as a trained model has. `stream` picks the random stream (2 for the
    golden case's model; other cases draw other models from the same seed)."""
    rng = np.random.default_rng([seed, stream])
    state = {}

    def conv(name, c_out, c_in, width, bias=False):
        bound = 1 / np.sqrt(c_in * width)
        state[f"{name}.weight"] = rng.uniform(-bound, bound, (c_out, c_in, width)).astype(np.float32)
        if bias:
            state[f"{name}.bias"] = rng.uniform(-bound, bound, c_out).astype(np.float32)

    def batch_norm(name, c):
        for key, lo, hi in [("weight", 0.5, 1.5), ("bias", -0.1, 0.1), ("running_mean", -0.2, 0.2),
                            ("running_var", 0.5, 2.0)]:
            state[f"{name}.{key}"] = rng.uniform(lo, hi, c).astype(np.float32)
        state[f"{name}.num_batches_tracked"] = np.array(10000, dtype=np.int64)

    conv("expand_conv", channels, 17 * 2, filter_widths[0])
    batch_norm("expand_bn", channels)
    for i, width in enumerate(filter_widths[1:]):
        conv(f"layers_conv.{2 * i}", channels, channels, width)
        conv(f"layers_conv.{2 * i + 1}", channels, channels, 1)
    for i in range(2 * (len(filter_widths) - 1)):
        batch_norm(f"layers_bn.{i}", channels)
    conv("shrink", joints_out * 3, channels, 1, bias=True)
    return state


def fingerprint(pos3d: dict, pos2d: dict, state: dict[str, np.ndarray]) -> str:
    """sha256 over every generated array: its name, dtype, shape and little-endian bytes."""
    h = hashlib.sha256()

    def add(name, a):
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())

    for subject, actions in pos3d.items():
        for action, world in actions.items():
            add(f"3d/{subject}/{action}", world)
            for c, px in enumerate(pos2d[subject][action]):
                add(f"2d/{subject}/{action}/{c}", px)
    for key, value in state.items():
        add(f"model_pos/{key}", value)
    return h.hexdigest()


def _adam_state(state: dict[str, torch.Tensor], seed: int) -> dict:
    """The state dict of run.py's optimizer (Adam, amsgrad) after one step on random gradients, as
    PyTorch of upstream's time wrote it (torch.optim itself takes seconds to import)."""
    rng = np.random.default_rng([seed, 3])
    names = [k for k in state if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    moments = {}
    for i, name in enumerate(names):
        grad = rng.uniform(-1e-3, 1e-3, tuple(state[name].shape)).astype(np.float32)
        square = torch.from_numpy(0.001 * grad * grad)
        moments[i] = {"step": 1, "exp_avg": torch.from_numpy(0.1 * grad), "exp_avg_sq": square,
                      "max_exp_avg_sq": square.clone()}
    group = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": True,
             "params": list(range(len(names)))}
    return {"state": moments, "param_groups": [group]}


def write_golden_inputs(directory: str | Path, seed: int = SEED) -> GoldenInputs:
    """Write the case under `directory`: data/ with the two .npz files as upstream's prepare_data scripts
    write them, and the same weights as two checkpoints: ckpt_conv1d.bin as upstream run.py saves them
    (epoch, lr, random_state, optimizer, model_pos, model_traj None, random_state_semi None) and
    ckpt_conv2d_module.bin as the Ascend recipe does (Conv2d k x 1 kernels, 'module.' prefixes)."""
    directory = Path(directory)
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d = golden_data(seed)
    np.savez_compressed(data / "data_3d_h36m.npz", positions_3d=pos3d)
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY}
    np.savez_compressed(data / f"data_2d_h36m_{KEYPOINTS}.npz", positions_2d=pos2d, metadata=metadata)

    state = golden_state_dict(seed)
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    ascend = checkpoint.convert_state_dict(tensors, "conv1d", "conv2d")
    optimizer = _adam_state(tensors, seed)
    paths = {layout: directory / name for layout, name in CHECKPOINTS.items()}
    for path, model_pos in [(paths["conv1d"], tensors),
                            (paths["conv2d_module"], {"module." + k: v for k, v in ascend.items()})]:
        torch.save({"epoch": 80, "lr": 1.6e-5, "random_state": np.random.RandomState(seed % 2**32),
                    "optimizer": optimizer, "model_pos": model_pos, "model_traj": None,
                    "random_state_semi": None}, path)
    return GoldenInputs(data, paths, fingerprint(pos3d, pos2d, state))
