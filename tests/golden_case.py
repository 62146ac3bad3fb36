"""The golden cases' inputs, regenerated from a seed: Human3.6M-format data and a random 27-frame model; HumanEva-I-format
data (upstream's prepare_data_humaneva.py's files: 'Validate/S1' subjects, 'Walking 1 chunk0' actions, 2D-only
'Unlabeled/' entries; ground-truth 15-joint and COCO-17 2D) and two random 27-frame models (15 -> 15, 17 -> 15 joints).

scripts/make_golden.py runs upstream VideoPose3D's own run.py on these inputs and stores what upstream
computes in tests/fixtures/golden/ (and golden_humaneva15/); tests/scripts/test_golden.py regenerates them and runs
vp3d's stages on them. The inputs are not committed: they are about 1.8 MB, the fixture about 100 KB.

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
    checkpoints: dict             # 'conv1d': upstream run.py's file; 'conv2d_module': the Ascend recipe's (HumanEva:
                                  # keypoints name -> those two)
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


def golden_state_dict(seed: int = SEED, joints_in: int = 17, joints_out: int = 17,
                      filter_widths: tuple[int, ...] = FILTER_WIDTHS, channels: int = CHANNELS,
                      stream: int | None = None, dense: bool = False) -> dict[str, np.ndarray]:
    """A TemporalModel's weights in upstream's Conv1d weight layout: name -> float32 array (num_batches_tracked:
    int64 scalar). Convolutions uniform in +-1/sqrt(fan_in), as torch initialises them; batch norms with
    non-trivial statistics and scales, as a trained model has. `stream` picks the random stream (default: the
    golden cases'; the training case draws its pose and trajectory models from streams 2 and 4). dense: upstream's
    TemporalModel(dense=True), whose block after widths of product d has a kernel of (w - 1) d + 1 frames."""
    if stream is not None:
        rng = np.random.default_rng([seed, stream])
    else:
        rng = np.random.default_rng([seed, 2] if (joints_in, joints_out) == (17, 17) else [seed, 2, joints_in, joints_out])
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

    conv("expand_conv", channels, joints_in * 2, filter_widths[0])
    batch_norm("expand_bn", channels)
    d = filter_widths[0]
    for i, width in enumerate(filter_widths[1:]):
        conv(f"layers_conv.{2 * i}", channels, channels, (width - 1) * d + 1 if dense else width)
        conv(f"layers_conv.{2 * i + 1}", channels, channels, 1)
        d *= width
    for i in range(2 * (len(filter_widths) - 1)):
        batch_norm(f"layers_bn.{i}", channels)
    conv("shrink", joints_out * 3, channels, 1, bias=True)
    return state


def _digest(named_arrays) -> str:
    """sha256 over (name, array) pairs: each name, dtype, shape and little-endian bytes."""
    h = hashlib.sha256()
    for name, a in named_arrays:
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprint(pos3d: dict, pos2d: dict, state: dict[str, np.ndarray]) -> str:
    """sha256 over every generated array of the Human3.6M case."""
    def arrays():
        for subject, actions in pos3d.items():
            for action, world in actions.items():
                yield f"3d/{subject}/{action}", world
                for c, px in enumerate(pos2d[subject][action]):
                    yield f"2d/{subject}/{action}/{c}", px
        for key, value in state.items():
            yield f"model_pos/{key}", value
    return _digest(arrays())


def adam_state(state: dict[str, torch.Tensor], seed: int, names: list[str] | None = None) -> dict:
    """The state dict of run.py's optimizer (Adam, amsgrad, lr 0.001) after one step on random gradients, as
    PyTorch of upstream's time wrote it (torch.optim itself takes seconds to import), its parameters indexed in
    the order of `names` (None: the state's parameters in its own order)."""
    rng = np.random.default_rng([seed, 3])
    if names is None:
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
    paths = _write_checkpoints(state, {weight_layout: directory / name
                                       for weight_layout, name in CHECKPOINTS.items()}, seed)
    return GoldenInputs(data, paths, fingerprint(pos3d, pos2d, state))


def _write_checkpoints(state: dict[str, np.ndarray], paths: dict[str, Path], seed: int) -> dict[str, Path]:
    """The weights as upstream run.py saves them (paths['conv1d']: epoch, lr, random_state, optimizer, model_pos,
    model_traj None, random_state_semi None) and as the Ascend recipe does (paths['conv2d_module']: Conv2d k x 1
    kernels, 'module.' prefixes)."""
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    ascend = checkpoint.convert_state_dict(tensors, "conv1d", "conv2d")
    optimizer = adam_state(tensors, seed)
    for path, model_pos in [(paths["conv1d"], tensors),
                            (paths["conv2d_module"], {"module." + k: v for k, v in ascend.items()})]:
        torch.save({"epoch": 80, "lr": 1.6e-5, "random_state": np.random.RandomState(seed % 2**32),
                    "optimizer": optimizer, "model_pos": model_pos, "model_traj": None,
                    "random_state_semi": None}, path)
    return paths


# ---------------------------------------------------------------------------------------------- HumanEva-I

HE_SEED = 20190617
HE_TAKES = ("Walking", "Jog", "ThrowCatch", "Gestures", "Box")
# subject -> its labelled chunks, as prepare_data_humaneva.py names them (S3 has no ThrowCatch: damaged mocap);
# a missing chunk number is a stretch of corrupted mocap: its 2D detections are 'Unlabeled/<subject>' entries
HE_ACTIONS = {
    "Train/S1": ["Walking 1 chunk0", "Jog 1 chunk0", "Box 1 chunk0"],
    "Train/S2": ["Walking 1 chunk0", "Box 1 chunk0"],
    "Train/S3": ["Jog 1 chunk0", "Gestures 1 chunk0"],
    "Validate/S1": ["Walking 1 chunk0", "Walking 1 chunk2", "Jog 1 chunk0", "ThrowCatch 1 chunk0", "Gestures 1 chunk0",
                    "Box 1 chunk0"],
    "Validate/S2": ["Walking 1 chunk0", "Jog 1 chunk0", "Jog 1 chunk1", "ThrowCatch 1 chunk0", "Gestures 1 chunk0",
                    "Box 1 chunk0", "Box 1 chunk2"],
    "Validate/S3": ["Walking 1 chunk0", "Jog 1 chunk0", "Gestures 1 chunk0", "Box 1 chunk0"],
}
HE_UNLABELED = {"Unlabeled/Validate/S1": ["Walking 1 chunk1"], "Unlabeled/Validate/S2": ["Box 1 chunk1"],
                "Unlabeled/S4": ["Box 2"]}      # 2D only, in the detections file (as upstream's)
HE_SUBJECTS_TEST = ["Validate/S1", "Validate/S2", "Validate/S3"]
HE_ACTION_FILTER = ["Walk", "Jog", "Box"]
HE_KEYPOINTS = {   # the 2D files: name -> (metadata as upstream's data_utils.py, keypoints per frame)
    "gt": {"layout_name": "humaneva15", "num_joints": 15,
           "keypoints_symmetry": [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]},
    "detectron_pt_coco": {"layout_name": "coco", "num_joints": 17,
                          "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]},
}
# COCO-17 keypoint -> the HumanEva joint it is drawn near (nose, eyes and ears near the head)
HE_COCO_FROM = [14, 14, 14, 14, 14, 2, 5, 3, 6, 4, 7, 8, 11, 9, 12, 10, 13]
HE_CHECKPOINTS = {kp: {weight_layout: f"he_{kp}_{name}" for weight_layout, name in CHECKPOINTS.items()}
                  for kp in HE_KEYPOINTS}
HE_FIXTURE = FIXTURE.with_name("golden_humaneva15")


def golden_humaneva_data(seed: int = HE_SEED) -> tuple[dict, dict[str, dict]]:
    """(positions_3d, {keypoints name: positions_2d}) as upstream's prepare_data_humaneva.py writes them.

    3D: subject -> chunk -> (T, 15, 3) float32 world metres, T in 12..90: a body-sized cloud of joints on random
    walks, walking in a straight line. 2D 'gt': the 15 joints seen by three pinhole cameras 3.5-5 m away in a
    640 x 480 image, exactly T frames; 'detectron_pt_coco': COCO-17 keypoints near those joints (HE_COCO_FROM), with
    up to 4 px of noise, and the 'Unlabeled/' entries (HE_UNLABELED), 2D only."""
    rng = np.random.default_rng([seed, 1])
    pos3d, pos2d = {}, {name: {} for name in HE_KEYPOINTS}

    def cameras(world):
        x, y, z = (world[..., i].astype(np.float64) for i in range(3))
        out = []
        for _ in range(3):
            a, b = rng.uniform(-1, 1, 2)
            norm = np.sqrt(a * a + b * b)
            a, b = a / norm, b / norm
            distance, focal = rng.uniform(3.5, 5.0), rng.uniform(560.0, 620.0)
            cx, cy = rng.uniform(300.0, 340.0), rng.uniform(220.0, 260.0)
            depth = distance + a * x + b * y
            out.append(np.stack([cx + focal * (a * y - b * x) / depth, cy - focal * (z - 1.0) / depth], axis=-1))
        return out

    def motion(t, joints):
        body = rng.uniform(-0.3, 0.3, (1, joints, 3)) + np.array([0.0, 0.0, 1.0])
        sway = np.cumsum(rng.uniform(-0.008, 0.008, (t, joints, 3)), axis=0)
        step = np.concatenate([rng.uniform(-0.005, 0.005, 2), [0.0]])
        return (body + sway + np.arange(t)[:, None, None] * step).astype(np.float32)

    for subject, actions in HE_ACTIONS.items():
        pos3d[subject] = {}
        for files in pos2d.values():
            files[subject] = {}
        for action in actions:
            world = motion(int(rng.integers(12, 91)), 15)
            pos3d[subject][action] = world
            views = cameras(world)
            pos2d["gt"][subject][action] = [v.astype(np.float32) for v in views]
            pos2d["detectron_pt_coco"][subject][action] = [
                (v[:, HE_COCO_FROM] + rng.uniform(-4.0, 4.0, (len(v), 17, 2))).astype(np.float32) for v in views]
    for subject, actions in HE_UNLABELED.items():
        pos2d["detectron_pt_coco"][subject] = {
            action: [(v[:, HE_COCO_FROM]).astype(np.float32) for v in cameras(motion(int(rng.integers(12, 91)), 15))]
            for action in actions}
    return pos3d, pos2d


def write_humaneva_data(data: str | Path, seed: int = HE_SEED) -> tuple[dict, dict[str, dict]]:
    """golden_humaneva_data(seed) written into the folder `data` as upstream's prepare_data_humaneva.py writes it:
    data_3d_humaneva15.npz, data_2d_humaneva15_gt.npz, data_2d_humaneva15_detectron_pt_coco.npz. Returns the arrays."""
    data = Path(data)
    data.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d = golden_humaneva_data(seed)
    np.savez_compressed(data / "data_3d_humaneva15.npz", positions_3d=pos3d)
    for name, metadata in HE_KEYPOINTS.items():
        np.savez_compressed(data / f"data_2d_humaneva15_{name}.npz", positions_2d=pos2d[name], metadata=metadata)
    return pos3d, pos2d


def write_humaneva_inputs(directory: str | Path, seed: int = HE_SEED) -> GoldenInputs:
    """Write the HumanEva-I case under `directory`: data/ (write_humaneva_data), and for each 2D file a model of its
    keypoints (15 or 17 in, 15 out) in both weight layouts: checkpoints[keypoints][weight_layout]."""
    directory = Path(directory)
    data = directory / "data"
    pos3d, pos2d = write_humaneva_data(data, seed)
    named = [(f"3d/{s}/{a}", w) for s, actions in pos3d.items() for a, w in actions.items()]
    paths = {}
    for name, metadata in HE_KEYPOINTS.items():
        named += [(f"2d/{name}/{s}/{a}/{c}", px) for s, actions in pos2d[name].items() for a, cams in actions.items()
                  for c, px in enumerate(cams)]
        state = golden_state_dict(seed, metadata["num_joints"], 15)
        named += [(f"model_pos/{name}/{k}", v) for k, v in state.items()]
        files = {weight_layout: directory / f for weight_layout, f in HE_CHECKPOINTS[name].items()}
        paths[name] = _write_checkpoints(state, files, seed)
    return GoldenInputs(data, paths, _digest(named))
