"""The training parity case's inputs, regenerated from a seed: Human3.6M-format data and two starting checkpoints.

scripts/make_train_golden.py trains with upstream VideoPose3D's own run.py from these inputs and stores what it
computes (the weights after each epoch, the lines it prints) in tests/fixtures/train/; tests/training/
test_upstream_parity.py regenerates the inputs and trains with vp3d_train.py from them.

The data are golden_case.py's kind (S9 and S11, random-walk bodies seen by four cameras; for the HumanEva-I run,
its HumanEva-I kind, fixture tests/fixtures/train_humaneva15/), drawn from another seed; the weights too, by the same bit-stable rules (uniform doubles from PCG64, then +, -, *, /, sqrt only).
Three runs, each the issue's command with a narrow model (so that the fixture stays small and the test quick):
  supervised: train on S9, validate on S11, from start_supervised.bin, which holds an optimizer state (Adam with
              amsgrad after one step, in upstream's parameter order) and a generator RandomState: both go on.
  semi:       the same plus unlabeled S11 (-sun S11 --warmup 1), from start_semi.bin, which holds a trajectory
              model and the unlabeled generator's RandomState but no optimizer state: a fresh optimizer starts.
  dense:      supervised with --dense (upstream's ablation: run.py then trains its ordinary TemporalModel, not the
              single-frame one), 16 channels, from start_dense.bin: dense weights (kernels 3, 7, 19), an optimizer
              state and a RandomState.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import golden_case

SEED = 20190619
FILTER_WIDTHS = (3, 3, 3)
CHANNELS = 32
EPOCHS = 2
DENSE_CHANNELS = 16             # the dense run's (argparse keeps the last -ch): its kernels 7 and 19 wide
# the dense start's random stream: one whose case is well conditioned. From streams 5, 6, 11, 13 or 14 two vp3d runs
# differing only in their thread count end 1e-4 to 1.5e-3 apart (relative, per tensor) after two epochs, so no
# implementation could be held to 1e-4 there; from 7 and 9 they end within 2e-6
DENSE_STREAM = 9
KEYPOINTS = golden_case.KEYPOINTS
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "train"
# semi-supervised at a tenth of the default learning rate: at 0.001 this case's second epoch is so sensitive to
# rounding that two vp3d runs differing only in their thread count end 5e-4 apart (relative, per tensor), so no
# implementation could be held to 1e-4 there; at 0.0001 they end 2e-5 apart
RUNS = {"supervised": ["-str", "S9", "-ste", "S11"],
        "semi": ["-str", "S9", "-ste", "S11", "-sun", "S11", "--warmup", "1", "-lr", "0.0001"],
        "dense": ["-str", "S9", "-ste", "S11", "--dense", "-ch", str(DENSE_CHANNELS)]}
STARTS = {"supervised": "start_supervised.bin", "semi": "start_semi.bin", "dense": "start_dense.bin"}
# the flags both programs get: upstream's meaning; dropout 0, as dropout masks come from an unseeded generator
COMMON = ["-k", KEYPOINTS, "-arc", ",".join(map(str, FILTER_WIDTHS)), "-ch", str(CHANNELS), "-e", str(EPOCHS),
          "--dropout", "0", "-b", "512"]


def upstream_parameter_names(filter_widths=FILTER_WIDTHS) -> list[str]:
    """TemporalModelOptimized1f.parameters()'s order in upstream's common/model.py: the base class registers
    expand_bn and shrink, the subclass then expand_conv, layers_conv and layers_bn. Optimizer states index
    parameters in this order."""
    blocks = len(filter_widths) - 1
    return (["expand_bn.weight", "expand_bn.bias", "shrink.weight", "shrink.bias", "expand_conv.weight"]
            + [f"layers_conv.{i}.weight" for i in range(2 * blocks)]
            + [name for i in range(2 * blocks) for name in (f"layers_bn.{i}.weight", f"layers_bn.{i}.bias")])


def adam_state(model_pos: dict[str, torch.Tensor], seed: int = SEED) -> dict:
    """run.py's optimizer state dict after one step on random gradients (golden_case.adam_state), indexed in
    upstream's parameter order."""
    return golden_case.adam_state(model_pos, seed, upstream_parameter_names())


@dataclass
class TrainInputs:
    """Where write_train_inputs put the case, and its fingerprint."""

    data: Path                  # data_3d_h36m.npz and data_2d_h36m_<KEYPOINTS>.npz
    starts: dict[str, Path]     # run -> its starting checkpoint
    fingerprint: str            # sha256 of the generated arrays


def write_train_inputs(directory: str | Path, seed: int = SEED) -> TrainInputs:
    directory = Path(directory)
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d = golden_case.golden_data(seed)
    np.savez_compressed(data / "data_3d_h36m.npz", positions_3d=pos3d)
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": golden_case.KEYPOINTS_SYMMETRY}
    np.savez_compressed(data / f"data_2d_h36m_{KEYPOINTS}.npz", positions_2d=pos2d, metadata=metadata)

    pos = golden_case.golden_state_dict(seed, 17, 17, FILTER_WIDTHS, CHANNELS, stream=2)
    traj = golden_case.golden_state_dict(seed, 17, 1, FILTER_WIDTHS, CHANNELS, stream=4)
    # a trajectory model that starts about where the roots are (about 5 m in front of the cameras): from 0, every
    # example's error would point the same way, batch norm would cancel its gradient, and the weights would follow
    # rounding noise; and the projections of poses near the camera centre would be clamped
    traj["shrink.bias"] = np.array([0.0, -0.5, 5.0], dtype=np.float32)
    tensors = lambda state: {k: torch.from_numpy(v) for k, v in state.items()}
    starts = {run: directory / STARTS[run] for run in RUNS}
    torch.save({"epoch": 0, "lr": 0.001, "random_state": np.random.RandomState(seed % 1000),
                "optimizer": adam_state(tensors(pos), seed), "model_pos": tensors(pos), "model_traj": None,
                "random_state_semi": None}, starts["supervised"])
    torch.save({"epoch": 0, "lr": 0.0001, "random_state": np.random.RandomState(1234), "optimizer": None,
                "model_pos": tensors(pos), "model_traj": tensors(traj),
                "random_state_semi": np.random.RandomState(seed % 997)}, starts["semi"])
    dense = golden_case.golden_state_dict(seed, 17, 17, FILTER_WIDTHS, DENSE_CHANNELS,
                                      stream=DENSE_STREAM, dense=True)
    torch.save({"epoch": 0, "lr": 0.001, "random_state": np.random.RandomState(seed % 991),
                "optimizer": adam_state(tensors(dense), seed), "model_pos": tensors(dense), "model_traj": None,
                "random_state_semi": None}, starts["dense"])
    state = {**pos, **{f"traj/{k}": v for k, v in traj.items()}, **{f"dense/{k}": v for k, v in dense.items()}}
    return TrainInputs(data, starts, golden_case.fingerprint(pos3d, pos2d, state))


def upstream_args(run: str) -> list[str]:
    """run.py's arguments for `run`, in a copy of the checkout whose checkpoint/ holds the starting files; a
    checkpoint after every epoch (checkpoint/epoch_N.bin), whose weights the fixture keeps."""
    return ["-d", "humaneva15" if run in HE_RUNS else "h36m", *COMMON, *ALL_RUNS[run], "-c", "checkpoint",
            "--resume", {**STARTS, **HE_STARTS}[run], "--checkpoint-frequency", "1"]


def vp3d_args(run: str, inputs: TrainInputs, out: Path) -> list[str]:
    """vp3d_train.py's arguments for `run`: the same flags, the data folder, the start file, -o OUT/last.bin."""
    return ["-d", str(inputs.data), *COMMON, *ALL_RUNS[run], "--resume", str(inputs.starts[run]),
            "-o", str(out / "last.bin")]


# ---------------------------------------------------------------------------------------------- HumanEva-I

# upstream's README HumanEva-I command (-d humaneva15 -k detectron_pt_coco -str Train/S1,Train/S2,Train/S3 -ste
# Validate/S1,Validate/S2,Validate/S3 -b 128 -e 1000 -lrd 0.996 -a Walk,Jog,Box --by-subject), for COMMON's
# narrow model and epochs (its -k and -b given again, later: argparse keeps the last), on golden_case.py's
# HumanEva-I kind of data from another seed, from a 17 -> 15 start with an optimizer state. The seed is one whose
# case is well conditioned: from 20190620, 20190621 or 20190628 two vp3d runs differing only in their thread count
# end 1e-3 apart (relative, per tensor) after two epochs, so no implementation could be held to 1e-4 there; from
# 20190622-27 they end within 1e-6
HE_SEED = 20190622
HE_FIXTURE = FIXTURE.with_name("train_humaneva15")
HE_RUNS = {"humaneva": ["-k", "detectron_pt_coco", "-str", "Train/S1,Train/S2,Train/S3",
                        "-ste", "Validate/S1,Validate/S2,Validate/S3", "-b", "128", "-lrd", "0.996",
                        "-a", "Walk,Jog,Box", "--by-subject"]}
HE_STARTS = {"humaneva": "start_humaneva.bin"}
ALL_RUNS = {**RUNS, **HE_RUNS}


def write_humaneva_train_inputs(directory: str | Path, seed: int = HE_SEED) -> TrainInputs:
    """data/ with upstream's three HumanEva-I files (golden_case.write_humaneva_data) and start_humaneva.bin."""
    directory = Path(directory)
    data = directory / "data"
    pos3d, pos2d = golden_case.write_humaneva_data(data, seed)
    pos = golden_case.golden_state_dict(seed, 17, 15, FILTER_WIDTHS, CHANNELS, stream=2)
    tensors = {k: torch.from_numpy(v) for k, v in pos.items()}
    start = directory / HE_STARTS["humaneva"]
    torch.save({"epoch": 0, "lr": 0.001, "random_state": np.random.RandomState(seed % 1000),
                "optimizer": adam_state(tensors, seed), "model_pos": tensors, "model_traj": None,
                "random_state_semi": None}, start)
    return TrainInputs(data, {"humaneva": start}, golden_case.fingerprint(pos3d, pos2d["detectron_pt_coco"], pos))
