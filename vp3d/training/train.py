"""Training the temporal model as upstream run.py (1afb1ca) trains it: supervised and semi-supervised.

One epoch: the labeled batches (batches.ChunkedBatches: upstream's examples, order and flips) through the training
forward (the single-frame model, TemporalModel.forward_single_frame, when each example predicts one frame of a
dilated model; TemporalModel.forward otherwise, as upstream falls back to its TemporalModel), loss MPJPE on
root-relative 3D, Adam with amsgrad. Semi-supervised (unlabeled subjects given): each labeled batch is joined by a
batch of unlabeled 2D (an endless generator with its own seeded order); a trajectory model (one output joint: the
root's camera-frame position) is trained on the labeled roots with a 1/depth-weighted loss, and after --warmup
epochs the unlabeled poses plus trajectories are projected back to 2D through the cameras' intrinsics
(losses.project_to_2d) and compared with their inputs, with a penalty on the difference of the mean bone lengths of
the labeled and unlabeled halves. After the epoch, in eval mode: the test sequences (3d_valid) and the labeled ones
(3d_eval), each whole and unflipped, and semi-supervised the trajectory and 2D errors; upstream's line is printed;
the learning rate decays by lr_decay, batch-norm momentum by upstream's schedule (0.1 -> 0.001 over the epochs).
Checkpoints are upstream's dicts (model.checkpoint.save).

Everything is in metres; the printed 3D errors in millimetres, 2D errors in normalised screen units (as upstream).
A run resumed from a checkpoint vp3d wrote continues exactly where the uninterrupted run would be (the unlabeled
generator's position and the dropout generator travel in the checkpoint); from an upstream file it continues as
upstream's run.py would, except that batch-norm momentum follows the schedule (upstream restarts it at 0.1).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vp3d.errors import Vp3dError, first_line
from vp3d.facts.architecture import H36M_FPS, ModelConfig
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel
from vp3d.pipeline.evaluation import Results, evaluate_model
from vp3d.pipeline.sequences import edge_padded
from vp3d.training import losses
from vp3d.training.batches import LABELED_SEED, UNLABELED_SEED, ChunkedBatches, share
from vp3d.training.data import TrainingData
from vp3d.training.distributed import Processes

RESUME_KEY = "vp3d_resume"    # vp3d's addition to upstream's checkpoint keys: what an exact resume needs


@dataclass(frozen=True)
class TrainConfig:
    """The recipe. Defaults are upstream run.py's (its 27-frame model)."""

    filter_widths: tuple[int, ...] = (3, 3, 3)  # -arc; receptive field = product (27 here)
    channels: int = 1024            # width of every hidden layer
    causal: bool = False            # causal model: sees only past frames
    dense: bool = False             # dense convolutions instead of dilated ones (upstream's --dense ablation)
    dropout: float = 0.25
    epochs: int = 60
    batch_size: int = 1024          # output frames per batch: batch_size // chunk examples
    chunk: int = 1                  # output frames per example (upstream -s/--stride)
    learning_rate: float = 0.001
    lr_decay: float = 0.95          # lr multiplied by this after every epoch
    bn_momentum: tuple[float, float] = (0.1, 0.001)  # initial, final; exponential decay over the epochs
    augment: bool = True            # mirrored copy of every example (upstream: on unless -no-da)
    validate: bool = True           # the per-epoch errors on the training and test subjects (upstream: --no-eval)
    optimized: bool = True          # the single-frame training model where chunk is 1 and the model dilated
                                    # (--disable-optimizations)
    warmup: int = 1                 # semi-supervised: epochs trained on labeled data only first
    projection: bool = True         # semi-supervised: the 2D reprojection loss (--no-proj)
    linear_projection: bool = False  # ... through focal length and centre only
    bone_length: bool = True        # semi-supervised: the bone-length term (--no-bone-length)
    seed: int = 1234                # torch's initialisation of a fresh model, and the dropout masks
    max_minutes: float | None = None  # stop after the epoch that crosses this budget
    fps: float = H36M_FPS           # frame rate of the training sequences as the model sees them (after downsampling)

    def __post_init__(self):
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}"),
            (self.chunk >= 1, f"chunk must be at least 1 frame, got {self.chunk}"),
            (self.chunk <= self.batch_size, f"chunk ({self.chunk}) must not exceed the batch size ({self.batch_size})"),
            (self.channels >= 1, f"channels must be at least 1, got {self.channels}"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.learning_rate > 0, f"learning rate must be positive, got {self.learning_rate}"),
            (0 < self.lr_decay <= 1, f"lr decay must be in (0, 1], got {self.lr_decay}"),
            (0 < self.bn_momentum[1] <= self.bn_momentum[0] <= 1,
             f"batch-norm momentum must decay within (0, 1], got {self.bn_momentum}"),
            (self.warmup >= 0, f"warm-up epochs must not be negative, got {self.warmup}"),
            (self.fps > 0, f"fps must be positive, got {self.fps}"),
            (self.max_minutes is None or self.max_minutes > 0,
             f"max minutes must be positive, got {self.max_minutes}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def model_config(self, num_joints_in: int = 17, num_joints_out: int = 17, keypoint_symmetry=None) -> ModelConfig:
        """The architecture trained, in the Conv1d weight layout (checkpoint.save writes any)."""
        return ModelConfig(filter_widths=tuple(self.filter_widths), channels=self.channels,
                           num_joints_in=num_joints_in, num_joints_out=num_joints_out,
                           causal=self.causal, dense=self.dense, dropout=self.dropout, weight_layout="conv1d",
                           keypoint_symmetry=keypoint_symmetry and keypoint_symmetry.to_json(), fps=self.fps)

    @property
    def single_frame(self) -> bool:
        """Whether training runs upstream's TemporalModelOptimized1f computation (run.py: not with --dense, -s > 1
        or --disable-optimizations)."""
        return self.optimized and self.chunk == 1 and not self.dense


@dataclass(frozen=True)
class Outputs:
    """Where checkpoints go. All are upstream's format in `weight_layout` (with 'module.' prefixes if asked)."""

    last: Path | None = None        # -o: every epoch's, replaced
    best: Path | None = None        # the lowest 3d_valid so far
    folder: Path | None = None      # -c: epoch_N.bin every `frequency` epochs, as upstream
    frequency: int = 10
    weight_layout: str = "conv1d"
    module_prefix: bool = False
    curves: Path | None = None      # --export-training-curves: loss_*.png in this folder


# ------------------------------------------------------------------------------------ schedules

def learning_rate(epoch: int, initial: float = 0.001, decay: float = 0.95) -> float:
    """Learning rate during epoch `epoch` (0-based): initial * decay ** epoch."""
    return initial * decay ** epoch


def bn_momentum(epoch: int, epochs: int, initial: float = 0.1, final: float = 0.001) -> float:
    """Batch-norm momentum during epoch `epoch` (0-based) of `epochs`, as upstream run.py:
    initial * exp(-epoch / epochs * log(initial / final)), reaching `final` after the last epoch."""
    return initial * np.exp(-epoch / epochs * np.log(initial / final))


def set_bn_momentum(model: torch.nn.Module, momentum: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def upstream_parameters(model: TemporalModel) -> list[torch.nn.Parameter]:
    """The model's parameters in the order of upstream's TemporalModel(Optimized1f).parameters() (its base class
    registers expand_bn and shrink first): optimizer states index parameters by this order, so upstream's and
    vp3d's checkpoints continue in each other's training."""
    named = dict(model.named_parameters())
    first = ["expand_bn.weight", "expand_bn.bias", "shrink.weight", "shrink.bias", "expand_conv.weight"]
    rest = [k for k in named if k.startswith("layers_conv.")] + [k for k in named if k.startswith("layers_bn.")]
    return [named[k] for k in first + rest]


# ---------------------------------------------------------------------------------------- model

class DropoutMasks:
    """Dropout on the CPU with masks from numpy (torch's CPU Bernoulli sampling took a third of a step): 0 with
    probability p (to 1/65536), else 1 / (1 - p). In data-parallel training every process draws the global
    batch's mask and keeps its rows, so P processes drop what one process drops."""

    def __init__(self, p: float, seed: int):
        self.p, self.rng = p, np.random.default_rng(seed)
        self.rows: np.ndarray | None = None       # this process's rows of the global batch; None: all
        self.global_rows = 0

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0] if self.rows is None else self.global_rows
        shape = (n, *h.shape[1:])
        keep_from = -32768 + round(self.p * 65536)          # int16 draws >= keep_from are kept
        draws = np.frombuffer(self.rng.bytes(2 * math.prod(shape)), dtype=np.int16).reshape(shape)
        if self.rows is not None:
            draws = draws[self.rows]
        mask = (draws >= keep_from).astype(np.float32)
        mask *= np.float32(65536 / (65536 - round(self.p * 65536)))
        return h * torch.from_numpy(mask)


class TrainingForward(torch.nn.Module):
    """The training-time computation of the pose model and (semi-supervised) the trajectory model, as one module
    for DistributedDataParallel: 2D (B, RF + chunk - 1, J_in, 2) -> (3D poses, root trajectories or None)."""

    def __init__(self, pos: TemporalModel, traj: TemporalModel | None, single_frame: bool, drop=None):
        super().__init__()
        self.pos, self.traj, self.single_frame, self.dropout = pos, traj, single_frame, drop

    def run(self, model: TemporalModel, x: torch.Tensor) -> torch.Tensor:
        return model.forward_single_frame(x, self.dropout) if self.single_frame else model(x)

    def forward(self, x: torch.Tensor):
        return self.run(self.pos, x), None if self.traj is None else self.run(self.traj, x)


# ------------------------------------------------------------------------------------- records

@dataclass
class EpochLog:
    """One epoch's record, with upstream's names: 3D and trajectory errors in mm, 2D in normalised units."""

    epoch: int                # 1-based
    lr: float                 # as upstream prints it: during this epoch
    bn_momentum: float        # during this epoch
    seconds: float            # wall time of the epoch, its evaluation included
    losses: dict[str, float] = field(default_factory=dict)   # '3d_train' (+ '3d_eval', '3d_valid', ...)
    curves: dict[str, float] = field(default_factory=dict)   # semi-supervised: 'traj_train', '2d_train_unlabeled'

    SUPERVISED = ("3d_train", "3d_eval", "3d_valid")
    SEMI = ("3d_train", "3d_eval", "traj_eval", "3d_valid", "traj_valid", "2d_train_sup", "2d_train_unsup",
            "2d_valid")

    def line(self) -> str:
        """Upstream's line: '[%d] time %.2f lr %f 3d_train %f 3d_eval %f 3d_valid %f' (time in minutes), the
        semi-supervised one, or with --no-eval '[%d] time %.2f lr %f 3d_train %f'."""
        names = ("3d_train",) if "3d_valid" not in self.losses else \
            self.SEMI if "traj_valid" in self.losses else self.SUPERVISED
        return f"[{self.epoch}] time {self.seconds / 60:.2f} lr {self.lr:f} " + \
            " ".join(f"{name} {self.losses[name]:f}" for name in names)

    @property
    def train_mpjpe_mm(self) -> float:
        return self.losses["3d_train"]

    @property
    def val_mpjpe_mm(self) -> float | None:
        return self.losses.get("3d_valid")

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "lr": self.lr, "bn_momentum": float(self.bn_momentum), "seconds": self.seconds,
                "losses": dict(self.losses), "curves": dict(self.curves)}


@dataclass
class TrainResult:
    """The trained models (conv1d, eval mode) and the epochs' records."""

    model: TemporalModel
    trajectory: TemporalModel | None
    history: list[EpochLog]
    final: Results | None = None          # the final evaluation (action-wise, flip-averaged) on the test subjects


# ----------------------------------------------------------------------------------- evaluation

def _whole(seq, pad: int, shift: int) -> torch.Tensor:
    """A sequence's 2D, edge-padded for the model (upstream's UnchunkedGenerator): (1, T + 2 pad, J, 2)."""
    return torch.from_numpy(edge_padded(seq.poses_2d, pad, shift)[None])


# the sets upstream evaluates after each epoch, in its order, with the names of their 3D, trajectory and 2D errors
EVALUATED = (("test", "3d_valid", "traj_valid", "2d_valid"), ("train", "3d_eval", "traj_eval", "2d_train_sup"),
             ("unlabeled", None, None, "2d_train_unsup"))


@torch.no_grad()
def evaluation_losses(pos: TemporalModel, traj: TemporalModel | None, data: TrainingData,
                      device: str = "cpu") -> dict[str, float]:
    """Upstream's end-of-epoch errors, models in eval mode, each sequence whole and unflipped: 3d_valid (test),
    3d_eval (training sequences); semi-supervised also traj_valid, traj_eval, 2d_valid, 2d_train_sup and
    2d_train_unsup (unlabeled; 2D always through the full camera model). Frame-weighted means; 3D and trajectory
    in mm, 2D in normalised units."""
    pad, shift = pos.config.pad, pos.config.causal_shift
    out = {}
    for attr, name_3d, name_traj, name_2d in EVALUATED:
        if name_3d is None and traj is None:
            continue
        sums, frames = np.zeros(3), 0
        for seq in getattr(data, attr):
            if seq.poses_2d.shape[0] == 0:          # only where downsampling left nothing
                continue
            x = _whole(seq, pad, shift).to(device)
            predicted = pos(x)
            n = predicted.shape[0] * predicted.shape[1]
            frames += n
            if seq.poses_3d is not None:
                target = torch.tensor(seq.poses_3d[None], device=device)      # a copy: the root is zeroed
                root = target[:, :, :1].clone()
                target[:, :, 0] = 0
                sums[0] += n * losses.mpjpe(predicted, target).item()
            if traj is not None:
                trajectory = traj(x)
                if seq.poses_3d is not None:
                    sums[1] += n * losses.mpjpe(trajectory, root).item()
                cam = torch.from_numpy(seq.intrinsics[None]).to(device)
                reconstruction = losses.project_to_2d(predicted + trajectory, cam)
                sums[2] += n * losses.mpjpe(reconstruction, x[:, pad:x.shape[1] - pad, :, :2]).item()
        if frames == 0:
            continue
        if name_3d is not None:
            out[name_3d] = 1000 * sums[0] / frames
        if traj is not None:
            out.update({name_traj: 1000 * sums[1] / frames} if name_traj else {})
            out[name_2d] = sums[2] / frames
    return out


def evaluate(model: TemporalModel, data: TrainingData, device: str = "cpu") -> Results:
    """The final evaluation on the test sequences, as run.py's after training and the four stages compute it:
    flip test-time augmentation, per action, action-wise averages (evaluation.evaluate_model)."""
    from vp3d.engines.backends import TorchSession
    was_training = model.training
    model.eval()
    try:
        c = model.config
        return evaluate_model(TorchSession.of_model(model, str(device)).run, data.test, c.receptive_field, c.causal,
                              data.keypoint_symmetry, data.joint_symmetry)
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------------- resuming

@dataclass
class Start:
    """Where training starts: a fresh model, or what a checkpoint holds."""

    epoch: int = 0
    lr: float | None = None                     # as printed (upstream's 'lr'); None: the recipe's
    model_pos: dict | None = None               # conv1d state dicts
    model_traj: dict | None = None
    optimizer: dict | None = None
    random_state: np.random.RandomState | None = None
    random_state_semi: np.random.RandomState | None = None
    extra: dict = field(default_factory=dict)   # RESUME_KEY's contents, where vp3d wrote the file
    path: str = ""


def _conv1d_state(state: dict, path: str, what: str) -> dict:
    config = checkpoint.infer_config(state, path=f"{path}: {what}")
    return checkpoint.convert_state_dict(state, config.weight_layout, "conv1d")


def read_start(path: str | Path) -> Start:
    """What an upstream or vp3d checkpoint holds for continuing training (weights only; no code is unpickled)."""
    obj = checkpoint.load_raw(path)
    path = str(path)
    traj = checkpoint.trajectory_state_dict(obj, path)
    extra = obj.get(RESUME_KEY) or {}
    if not isinstance(extra, dict):
        raise checkpoint.CheckpointError(f"{path}: '{RESUME_KEY}' is not a dict")
    for key in ("random_state", "random_state_semi"):
        if obj.get(key) is not None and not isinstance(obj[key], np.random.RandomState):
            raise checkpoint.CheckpointError(f"{path}: '{key}' is not a numpy RandomState")
    try:
        epoch, lr = int(obj.get("epoch", 0)), float(obj["lr"]) if obj.get("lr") is not None else None
    except (TypeError, ValueError):
        raise checkpoint.CheckpointError(f"{path}: 'epoch' and 'lr' must be numbers") from None
    optimizer = obj.get("optimizer")
    if optimizer is not None and not (isinstance(optimizer, dict) and optimizer.get("param_groups")):
        optimizer = None                          # vp3d's files without training carry an empty one
    return Start(epoch, lr, _conv1d_state(checkpoint.model_state_dict(obj, path), path, "model_pos"),
                 None if traj is None else _conv1d_state(traj, path, "model_traj"), optimizer,
                 obj.get("random_state"), obj.get("random_state_semi"), extra, path)


def _load_weights(model: TemporalModel, state: dict, path: str, what: str) -> None:
    expected = model.state_dict()
    bad = [k for k in expected if k not in state or tuple(state[k].shape) != tuple(expected[k].shape)]
    if bad or set(state) - set(expected):
        have = checkpoint.infer_config(state, path=path)
        c = model.config
        raise Vp3dError(f"{path}: its {what} is a {have.arc_text} model with {have.channels} channels, "
                        f"{have.num_joints_in} -> {have.num_joints_out} joints; asked to train "
                        f"-arc {c.widths_text}{' --dense' if c.dense else ''} -ch {c.channels} with "
                        f"{c.num_joints_in} -> {c.num_joints_out}")
    model.load_state_dict(state)


# ------------------------------------------------------------------------------------- training

def train(config: TrainConfig, data: TrainingData, device: str = "cpu", outputs: Outputs = Outputs(),
          start: Start | None = None, log=None, progress=None, processes: Processes = Processes()) -> TrainResult:
    """Train on `data` as upstream run.py does; semi-supervised where data.unlabeled is not empty.

    start: a checkpoint's contents (read_start) to continue from; None: a fresh model (torch seeded with
      config.seed) at epoch 0.
    outputs: checkpoints written (atomically) after each epoch; by process 0 only.
    log: called with each line to print (upstream's lines), by process 0 only.
    progress: wraps the batch iterator, e.g. lambda it, total, desc: tqdm(it, total=total, desc=desc).
    processes: this process's place among data-parallel processes (distributed.from_environment).
    """
    say = log if (log and processes.main) else (lambda line: None)
    semi = data.semi_supervised
    j_in, j_out = data.train[0].poses_2d.shape[1], data.train[0].poses_3d.shape[1]
    torch.manual_seed(config.seed)
    model = TemporalModel(config.model_config(j_in, j_out, data.keypoint_symmetry)).to(device)
    traj = TemporalModel(config.model_config(j_in, 1)).to(device) if semi else None
    if processes.parallel:          # before the optimizer takes the parameters: this makes new batch norms
        from vp3d.training.distributed import synchronise_batch_norm
        model, traj = (synchronise_batch_norm(m, device) if m is not None else None for m in (model, traj))
    mc = model.config
    batch = config.batch_size // config.chunk
    labeled = ChunkedBatches(batch, [s.poses_2d for s in data.train], [s.poses_3d for s in data.train],
                             [s.intrinsics for s in data.train] if semi else None, config.chunk, mc.pad,
                             mc.causal_shift, config.augment, data.symmetry, LABELED_SEED)
    unlabeled = ChunkedBatches(batch, [s.poses_2d for s in data.unlabeled], None,
                               [s.intrinsics for s in data.unlabeled], config.chunk, mc.pad, mc.causal_shift,
                               config.augment, data.symmetry, UNLABELED_SEED, endless=True) if semi else None
    params = upstream_parameters(model) + (upstream_parameters(traj) if semi else [])
    optimizer = torch.optim.Adam(params, lr=config.learning_rate, amsgrad=True)
    drop = DropoutMasks(config.dropout, config.seed) \
        if config.dropout > 0 and torch.device(device).type == "cpu" else None
    epoch, lr, best_valid, history = 0, config.learning_rate, None, []
    if start is not None:
        epoch, lr, best_valid, history = _resume(start, config, model, traj, optimizer, labeled, unlabeled, drop,
                                                 say)
    forward = TrainingForward(model, traj, config.single_frame, drop)
    step_forward = forward
    if processes.parallel:
        step_forward = torch.nn.parallel.DistributedDataParallel(forward, broadcast_buffers=False)
    say("** Note: reported losses are averaged over all frames and test-time augmentation is not used here.")
    started = time.monotonic()
    while epoch < config.epochs:
        t0 = time.monotonic()
        momentum = bn_momentum(epoch, config.epochs, *config.bn_momentum)
        set_bn_momentum(forward, momentum)
        forward.train()
        sums = _train_epoch(config, step_forward, optimizer, labeled, unlabeled, epoch, mc.pad, data, drop,
                            processes, device, progress)
        record = EpochLog(epoch + 1, lr, momentum, 0.0, {"3d_train": 1000 * sums["3d"] / sums["frames"]})
        if semi:
            record.curves = {"traj_train": 1000 * sums["traj"] / sums["frames"],
                             "2d_train_unlabeled": sums["2d"] / sums["frames_2d"]}
        forward.eval()
        if config.validate and processes.main:
            record.losses.update(evaluation_losses(model, traj, data, device))
        record.seconds = time.monotonic() - t0
        say(record.line())
        lr *= config.lr_decay
        for group in optimizer.param_groups:
            group["lr"] *= config.lr_decay
        epoch += 1
        history.append(record)
        valid = record.losses.get("3d_valid")
        improved = valid is not None and math.isfinite(valid) and (best_valid is None or valid < best_valid)
        best_valid = valid if improved else best_valid
        if processes.main:
            _save(outputs, epoch, improved, model, traj, optimizer, lr, labeled, unlabeled, drop, best_valid,
                  history, say)
            if outputs.curves is not None:
                from vp3d.training.curves import export_curves
                export_curves(history, outputs.curves)
        processes.barrier()
        over = config.max_minutes is not None and time.monotonic() - started >= 60 * config.max_minutes
        if processes.agree(over, device):
            break
    model.eval()
    if traj is not None:
        traj.eval()
    final = evaluate(model, data, device) if data.test and processes.main else None
    return TrainResult(model, traj, history, final)


def _train_epoch(config: TrainConfig, forward, optimizer, labeled: ChunkedBatches, unlabeled: ChunkedBatches | None,
                 epoch: int, pad: int, data: TrainingData, drop: DropoutMasks | None, processes: Processes,
                 device: str, progress) -> dict[str, float]:
    """One pass over the labeled batches (each joined by an unlabeled one, semi-supervised): the loss sums over
    frames that upstream prints the means of."""
    semi = unlabeled is not None
    skip = epoch < config.warmup                  # semi-supervised warm-up: labeled data only
    project = losses.project_to_2d_linear if config.linear_projection else losses.project_to_2d
    parents = data.facts.skeleton.parents
    sums = {"3d": 0.0, "traj": 0.0, "2d": 0.0, "frames": 0, "frames_2d": 0}
    it = labeled.epoch()
    if progress:
        it = progress(it, labeled.num_batches, f"epoch {epoch + 1}/{config.epochs}")
    to = lambda a: torch.from_numpy(a).to(device, non_blocking=True)
    for full in it:
        full_semi = unlabeled.next_batch() if semi else None
        mine = full.part(processes.rank, processes.world)
        mine_semi = full_semi.part(processes.rank, processes.world) if semi else None
        n_lab, n_semi = len(full), (0 if skip or not semi else len(full_semi))   # global counts
        if drop is not None and processes.parallel:      # this process's rows of the global (joined) batch
            rows = [np.arange(n_lab)[share(n_lab, processes.rank, processes.world)],
                    n_lab + np.arange(n_semi)[share(n_semi, processes.rank, processes.world)]]
            drop.rows, drop.global_rows = np.concatenate(rows), n_lab + n_semi
        inputs_3d = to(mine.targets_3d)
        root = inputs_3d[:, :, :1].clone()
        inputs_3d[:, :, 0] = 0
        inputs_2d = to(mine.inputs_2d)
        inputs_semi = to(mine_semi.inputs_2d) if n_semi else None
        optimizer.zero_grad()
        predicted, trajectory = forward(torch.cat((inputs_2d, inputs_semi)) if n_semi else inputs_2d)
        split = inputs_3d.shape[0]
        frames_3d = n_lab * inputs_3d.shape[1]             # global: chunks x frames
        loss_3d = _mean(torch.norm(predicted[:split] - inputs_3d, dim=-1), frames_3d * inputs_3d.shape[2], processes)
        loss = loss_3d
        loss_traj = loss_2d = None
        if semi:
            w = 1 / root[:, :, :, 2]                       # weight inversely proportional to depth
            loss_traj = _mean(w * torch.norm(trajectory[:split] - root, dim=-1), frames_3d, processes)
            loss = loss + loss_traj
            if n_semi:
                predicted_semi = predicted[split:]
                target_semi = inputs_semi[:, pad:inputs_semi.shape[1] - pad, :, :2]
                cam = to(mine_semi.cameras)
                reconstruction = project(predicted_semi + trajectory[split:], cam)
                frames_semi = n_semi * predicted_semi.shape[1]
                loss_2d = _mean(torch.norm(reconstruction - target_semi, dim=-1),
                                frames_semi * target_semi.shape[2], processes)
                if config.projection:
                    loss = loss + loss_2d
                if config.bone_length:
                    lengths = losses.bone_lengths(predicted, parents)
                    mean_lab = processes.sum(lengths[:split].sum(dim=0)) / n_lab if processes.parallel \
                        else torch.mean(lengths[:split], dim=0)
                    mean_semi = processes.sum(lengths[split:].sum(dim=0)) / n_semi if processes.parallel \
                        else torch.mean(lengths[split:], dim=0)
                    loss = loss + torch.mean(torch.abs(mean_lab - mean_semi))
        loss.backward()
        optimizer.step()
        values = [frames_3d * _item(loss_3d, processes), frames_3d * _item(loss_traj, processes),
                  (n_semi * predicted.shape[1]) * _item(loss_2d, processes)]
        sums["3d"] += values[0]
        sums["traj"] += values[1]
        sums["2d"] += values[2]
        sums["frames"] += frames_3d
        sums["frames_2d"] += n_semi * predicted.shape[1] if n_semi else (1 if semi else 0)
    if drop is not None:
        drop.rows = None
    return sums


def _mean(values: torch.Tensor, count: int, processes: Processes) -> torch.Tensor:
    """The mean of `values` over the global batch (`count` values in all). One process: torch.mean, as upstream;
    several: this process's sum / count, scaled by the process count, since DDP averages the gradients."""
    if not processes.parallel:
        return torch.mean(values)
    return values.sum() * (processes.world / count)


def _item(loss: torch.Tensor | None, processes: Processes) -> float:
    """A loss as upstream's loss.item(): the global batch's mean (summed over processes)."""
    if loss is None:
        return 0.0
    value = loss.item()
    if processes.parallel:
        value = processes.total([value / processes.world], loss.device)[0]
    return value


def _resume(start: Start, config: TrainConfig, model, traj, optimizer, labeled, unlabeled, drop, say):
    """Load a checkpoint's weights and training state as run.py's --resume does; (epoch, lr, best, history)."""
    _load_weights(model, start.model_pos, start.path, "model_pos")
    if traj is not None:
        if start.model_traj is not None:
            _load_weights(traj, start.model_traj, start.path, "model_traj")
        else:
            say(f"WARNING: {start.path} holds no trajectory model; semi-supervised training starts a fresh one.")
    say(f"This model was trained for {start.epoch} epochs")
    if start.optimizer is not None:
        kind = "semi-supervised" if traj is not None else "supervised"
        try:
            optimizer.load_state_dict(start.optimizer)
        except (ValueError, KeyError, TypeError) as e:
            raise Vp3dError(f"{start.path}: its optimizer state does not fit this {kind} training "
                            f"({first_line(e)})") from None
        for p in optimizer.param_groups[0]["params"]:
            moment = optimizer.state.get(p, {}).get("exp_avg")
            if moment is not None and moment.shape != p.shape:
                raise Vp3dError(f"{start.path}: its optimizer state does not fit this {kind} training (moments of "
                                f"shape {tuple(moment.shape)} for a parameter of shape {tuple(p.shape)})")
        if start.random_state is not None:
            labeled.restore(start.random_state)
    else:
        say("WARNING: this checkpoint does not contain an optimizer state. The optimizer will be reinitialized.")
    if unlabeled is not None and start.random_state_semi is not None:
        unlabeled.restore(start.random_state_semi, start.extra.get("semi_position"))
    if drop is not None and start.extra.get("dropout_state") is not None:
        drop.rng.bit_generator.state = start.extra["dropout_state"]
    history = [EpochLog(h["epoch"], h["lr"], h["bn_momentum"], h["seconds"], dict(h["losses"]), dict(h["curves"]))
               for h in start.extra.get("history", [])]
    lr = start.lr if start.lr is not None else config.learning_rate
    return start.epoch, lr, start.extra.get("best_valid"), history


def _save(outputs: Outputs, epoch: int, improved: bool, model, traj, optimizer, lr, labeled, unlabeled, drop,
          best_valid, history, say) -> None:
    """Write the checkpoints due after `epoch` (1-based, finished): upstream's keys, and RESUME_KEY."""
    targets = [outputs.last] if outputs.last else []
    if outputs.folder is not None and epoch % outputs.frequency == 0:
        targets.append(Path(outputs.folder) / f"epoch_{epoch}.bin")
    if outputs.best is not None and improved:
        targets.append(outputs.best)
    if not targets:
        return
    extra = {"semi_position": unlabeled.position() if unlabeled is not None else None,
             "dropout_state": drop.rng.bit_generator.state if drop is not None else None,
             "best_valid": best_valid, "history": [h.to_json() for h in history]}
    for path in targets:
        if path != outputs.last:
            say(f"Saving checkpoint to {path}")
        checkpoint.save(path, model, outputs.weight_layout, outputs.module_prefix, epoch=epoch, lr=lr,
                        optimizer=optimizer.state_dict(), random_state=labeled.random,
                        trajectory=traj, random_state_semi=unlabeled.random if unlabeled is not None else None,
                        extra={RESUME_KEY: extra})
