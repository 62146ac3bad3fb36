"""Supervised training of the temporal model on Human3.6M-format data, upstream run.py's recipe.

Batches are random chunks of `chunk` output frames with their receptive-field context
(upstream's ChunkedGenerator): every sequence is cut into consecutive chunks, each chunk appears
once as is and once mirrored (x negated, left/right swapped, in 2D input and 3D target alike), and
all chunks are shuffled every epoch. Context before the first and after the last frame is the edge
frame repeated. The loss is MPJPE on root-relative 3D (the target's root zeroed). Optimiser: Adam
with amsgrad, lr decayed by `lr_decay` per epoch; batch-norm momentum decayed exponentially from
0.1 to 0.001 over the epochs; dropout 0.25. With chunk = 1 (the default, as upstream) the model
runs in upstream's optimised single-frame form: strided instead of dilated convolutions, the same
weights, only the frames the output needs; longer chunks run the ordinary dense model. The model
trains in the Conv1d layout; checkpoints are written in any layout. Training times: docs/benchmarks.md.

Everything here is in metres; millimetres appear only in the reported errors (`*_mm`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vp3d.errors import Vp3dError
from vp3d.model import checkpoint
from vp3d.io.datasets import DEFAULT_KEYPOINTS, Sequence, find_dataset, load_dataset
from vp3d.pipeline.evaluation import Results, evaluate_model
from vp3d.facts.architecture import H36M_FPS, ModelConfig
from vp3d.model.temporal import TemporalModel
from vp3d.engines.backends import TorchSession
from vp3d.facts.skeleton import Symmetry, h36m_skeleton17, mirror


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. Defaults are upstream run.py's for Human3.6M (its 27-frame model)."""

    filter_widths: tuple[int, ...] = (3, 3, 3)  # -arc; receptive field = product (27 here)
    channels: int = 1024            # width of every hidden layer
    causal: bool = False            # causal model: sees only past frames
    dropout: float = 0.25
    epochs: int = 60
    batch_size: int = 1024          # output frames per batch; chunks per batch = batch_size // chunk
    chunk: int = 1                  # output frames per training chunk (upstream --stride)
    learning_rate: float = 0.001
    lr_decay: float = 0.95          # lr multiplied by this after every epoch
    bn_momentum: tuple[float, float] = (0.1, 0.001)  # initial, final; exponential decay over epochs
    augment: bool = True            # mirrored copy of every chunk (upstream: on unless -no-da)
    validate: bool = True           # evaluate on the test subjects after every epoch
    seed: int = 1234                # shuffling (numpy RandomState, as upstream) and torch init/dropout
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
            (self.fps > 0, f"fps must be positive, got {self.fps}"),
            (self.max_minutes is None or self.max_minutes > 0,
             f"max minutes must be positive, got {self.max_minutes}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def model_config(self, num_joints_in: int = 17, num_joints_out: int = 17,
                     keypoint_symmetry: Symmetry | None = None) -> ModelConfig:
        """The architecture trained: always the Conv1d layout (checkpoint.save converts)."""
        return ModelConfig(filter_widths=tuple(self.filter_widths), channels=self.channels,
                           num_joints_in=num_joints_in, num_joints_out=num_joints_out,
                           causal=self.causal, dropout=self.dropout, layout="conv1d",
                           keypoint_symmetry=keypoint_symmetry and keypoint_symmetry.to_json(), fps=self.fps)


# ----------------------------------------------------------------------------------------- data

@dataclass
class TrainingData:
    """Prepared sequences (2D normalised screen coordinates, 3D camera frame metres) and symmetry."""

    train: list[Sequence]
    test: list[Sequence]
    keypoint_symmetry: Symmetry   # of the 2D inputs
    joint_symmetry: Symmetry      # of the 3D targets

    @property
    def symmetry(self) -> tuple[Symmetry, Symmetry]:
        return self.keypoint_symmetry, self.joint_symmetry


def load_training_data(dataset_dir: str | Path, keypoints: str = DEFAULT_KEYPOINTS,
                       subjects_train: list[str] = ("S1", "S5", "S6", "S7", "S8"),
                       subjects_test: list[str] = ("S9", "S11"), downsample: int = 1) -> TrainingData:
    """Read data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz from `dataset_dir` and prepare every
    (subject, action, camera) sequence of the train and test subjects as evaluation does."""
    facts = find_dataset(dataset_dir)
    if facts.name != "h36m":          # one line: the recipe below is Human3.6M's (its skeleton, subjects)
        raise Vp3dError(f"{dataset_dir}: holds {facts.title} ({facts.file_3d}); vp3d_train.py trains on Human3.6M's files only")
    data = load_dataset(dataset_dir, keypoints)
    train = data.sequences(subjects_train, downsample)
    test = data.sequences(subjects_test, downsample) if subjects_test else []
    if not train:
        raise Vp3dError(f"{data.path_3d}: no sequences for the training subjects {','.join(subjects_train)}")
    return TrainingData(train, test, data.keypoint_symmetry, h36m_skeleton17().symmetry)


class ChunkedBatches:
    """Upstream's ChunkedGenerator, vectorised: batches are gathered with one fancy index each.

    All sequences are edge-padded by `margin` frames on both sides and concatenated into one 2D
    array (F, J_in, 2) and one 3D array (F, J_out, 3) with the same frame indexing, so a chunk is
    a start index g: target frames g .. g+chunk-1, input frames g-pad-shift .. g+chunk+pad-shift-1.
    Chunks per sequence and their centring follow upstream (the last may hang over the end and
    then repeats the edge frame in both input and target).
    """

    def __init__(self, poses_2d: list[np.ndarray], poses_3d: list[np.ndarray], chunk: int, pad: int,
                 causal_shift: int = 0, augment: bool = True,
                 symmetry: tuple[Symmetry, Symmetry] | None = None,
                 random_state: np.random.RandomState | None = None):
        if len(poses_2d) != len(poses_3d) or not poses_2d:
            raise ValueError(f"need as many 2D as 3D sequences, at least one: {len(poses_2d)} vs {len(poses_3d)}")
        if augment and symmetry is None:
            raise ValueError("flip augmentation needs the left/right symmetry")
        self.chunk, self.pad, self.causal_shift = chunk, pad, causal_shift
        self.augment, self.symmetry = augment, symmetry
        self.random = random_state if random_state is not None else np.random.RandomState(1234)
        margin = 2 * pad + chunk                       # covers every overhang (see the class doc)
        starts, parts_2d, parts_3d, base = [], [], [], 0
        for p2, p3 in zip(poses_2d, poses_3d):
            t = p3.shape[0]
            assert p2.shape[0] == t, f"2D has {p2.shape[0]} frames but 3D has {t}"
            n_chunks = (t + chunk - 1) // chunk
            offset = (n_chunks * chunk - t) // 2
            starts.append(base + margin + np.arange(n_chunks) * chunk - offset)
            parts_2d.append(np.pad(p2, ((margin, margin), (0, 0), (0, 0)), mode="edge"))
            parts_3d.append(np.pad(p3, ((margin, margin), (0, 0), (0, 0)), mode="edge"))
            base += t + 2 * margin
        self.poses_2d = np.concatenate(parts_2d).astype(np.float32)   # (F, J_in, 2)
        self.poses_3d = np.concatenate(parts_3d).astype(np.float32)   # (F, J_out, 3)
        starts = np.concatenate(starts)
        flips = np.zeros(len(starts), dtype=bool)
        if augment:
            starts, flips = np.concatenate([starts, starts]), np.concatenate([flips, ~flips])
        self.starts, self.flips = starts, flips         # (N_chunks,), one row per training example
        self._in_offsets = np.arange(chunk + 2 * pad) - pad - causal_shift
        self._out_offsets = np.arange(chunk)

    def __len__(self) -> int:
        """Training examples (chunks) per epoch, mirrored copies included."""
        return len(self.starts)

    def num_batches(self, chunks_per_batch: int) -> int:
        return (len(self) + chunks_per_batch - 1) // chunks_per_batch

    def gather(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Examples `index` -> (2D inputs (B, chunk + 2 pad, J_in, 2), 3D targets (B, chunk, J_out, 3)),
        float32, mirrored where the example is a flipped copy; the 3D root is left as stored."""
        g = self.starts[index]
        x = self.poses_2d[g[:, None] + self._in_offsets]
        y = self.poses_3d[g[:, None] + self._out_offsets]
        flip = self.flips[index]
        if flip.any():
            x[flip] = mirror(x[flip], self.symmetry[0])
            y[flip] = mirror(y[flip], self.symmetry[1])
        return x, y

    def epoch(self, chunks_per_batch: int):
        """Yield (2D, 3D) numpy batches covering every example once, in a fresh random order."""
        order = self.random.permutation(len(self))
        for b in range(0, len(order), chunks_per_batch):
            yield self.gather(order[b:b + chunks_per_batch])


# ------------------------------------------------------------------------------------ schedules

def learning_rate(epoch: int, initial: float = 0.001, decay: float = 0.95) -> float:
    """Learning rate during epoch `epoch` (0-based): initial * decay ** epoch."""
    return initial * decay ** epoch


def bn_momentum(epoch: int, epochs: int, initial: float = 0.1, final: float = 0.001) -> float:
    """Batch-norm momentum during epoch `epoch` (0-based) of `epochs`, as upstream run.py:
    initial * exp(-epoch / epochs * log(initial / final)), reaching `final` after the last epoch."""
    return initial * math.exp(-epoch / epochs * math.log(initial / final))


def set_bn_momentum(model: torch.nn.Module, momentum: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


# ---------------------------------------------------------------------------------------- model

def _dropout_mask(shape: torch.Size, p: float, rng: np.random.Generator) -> torch.Tensor:
    """A float32 CPU tensor of `shape`: 0 with probability p (to 1/65536), else 1 / (1 - p)."""
    keep_from = -32768 + round(p * 65536)          # int16 draws >= keep_from are kept
    draws = np.frombuffer(rng.bytes(2 * math.prod(shape)), dtype=np.int16).reshape(tuple(shape))
    mask = (draws >= keep_from).astype(np.float32)
    mask *= np.float32(65536 / (65536 - round(p * 65536)))
    return torch.from_numpy(mask)


def mpjpe_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE (protocol #1), torch: mean Euclidean distance over all leading dims, same unit as inputs."""
    assert predicted.shape == target.shape, f"shapes differ: {tuple(predicted.shape)} vs {tuple(target.shape)}"
    return torch.linalg.vector_norm(predicted - target, dim=-1).mean()


def evaluate(model: TemporalModel, data: TrainingData, device: str | torch.device = "cpu") -> Results:
    """MPJPE (protocol #1) of `model` on the test sequences, exactly as the four stages compute it
    (flip test-time augmentation, action-wise average): evaluation.evaluate_model."""
    was_training = model.training
    model.eval()
    try:
        c = model.config
        return evaluate_model(TorchSession.of_model(model, str(device)).run, data.test, c.receptive_field, c.causal,
                              data.keypoint_symmetry, data.joint_symmetry, metrics=("mpjpe",))
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------------- training

@dataclass
class EpochLog:
    """One epoch's record; errors in millimetres."""

    epoch: int                # 1-based
    lr: float                 # used during this epoch
    bn_momentum: float        # used during this epoch
    train_mpjpe_mm: float     # frame-weighted mean training loss (dropout on, augmented)
    val_mpjpe_mm: float | None  # action-wise MPJPE on the test subjects, flip TTA; None if not validated
    seconds: float            # wall time of the epoch, validation included

    def line(self) -> str:
        val = f"  val MPJPE {self.val_mpjpe_mm:8.2f} mm" if self.val_mpjpe_mm is not None else ""
        return (f"epoch {self.epoch:3d}  lr {self.lr:.6f}  train MPJPE {self.train_mpjpe_mm:8.2f} mm"
                f"{val}  time {self.seconds:6.1f} s")


def train(config: TrainConfig, data: TrainingData, device: str = "cpu",
          output: str | Path | None = None, layout: str = "conv1d", module_prefix: bool = False,
          progress=None, log=None, best: str | Path | None = None) -> tuple[TemporalModel, list[EpochLog]]:
    """Train a TemporalModel on `data.train` as upstream run.py does; returns (model, history).

    output: checkpoint path, written (atomically, upstream's format, in `layout`, with 'module.'
      prefixes if `module_prefix`) after every epoch, so a stopped run leaves the last finished epoch.
    best: checkpoint path for the epoch with the lowest validation MPJPE so far (the first of equals),
      written the same way whenever an epoch improves on it; needs validation (config.validate and
      test sequences), else nothing is written there.
    progress: wraps the batch iterator, e.g. lambda it, total, desc: tqdm(it, total=total, desc=desc).
    log: called with each EpochLog once its epoch ends.
    The returned model is in the conv1d layout, in eval mode, on `device`.
    """
    torch.manual_seed(config.seed)
    random_state = np.random.RandomState(config.seed)
    j_in, j_out = data.train[0].poses_2d.shape[1], data.train[0].poses_3d.shape[1]
    mc = config.model_config(j_in, j_out, data.keypoint_symmetry)
    model = TemporalModel(mc).to(device)
    batches = ChunkedBatches([s.poses_2d for s in data.train], [s.poses_3d for s in data.train],
                             config.chunk, mc.pad, mc.causal_shift, config.augment, data.symmetry,
                             random_state)
    chunks_per_batch = max(1, config.batch_size // config.chunk)
    dropout_rng = np.random.default_rng(config.seed)
    drop = None    # on the CPU, dropout masks from numpy (torch's CPU Bernoulli sampling takes a third of a step)
    if config.dropout > 0 and torch.device(device).type == "cpu":
        drop = lambda h: h * _dropout_mask(h.shape, config.dropout, dropout_rng) if model.training else h
    forward = (lambda x: model.forward_single_frame(x, drop)) if config.chunk == 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, amsgrad=True)
    history: list[EpochLog] = []
    best_val: float | None = None                 # lowest validation MPJPE so far (mm)
    started = time.monotonic()
    for epoch in range(config.epochs):
        t0 = time.monotonic()
        lr = learning_rate(epoch, config.learning_rate, config.lr_decay)
        momentum = bn_momentum(epoch, config.epochs, *config.bn_momentum)
        for group in optimizer.param_groups:
            group["lr"] = lr
        set_bn_momentum(model, momentum)
        model.train()
        loss_sum, frames = 0.0, 0
        it = batches.epoch(chunks_per_batch)
        if progress:
            it = progress(it, batches.num_batches(chunks_per_batch), f"epoch {epoch + 1}/{config.epochs}")
        for x, y in it:
            y[:, :, 0] = 0                                        # root-relative target
            x = torch.from_numpy(x).to(device, non_blocking=True)  # (B, chunk + 2 pad, J_in, 2)
            y = torch.from_numpy(y).to(device, non_blocking=True)  # (B, chunk, J_out, 3)
            optimizer.zero_grad(set_to_none=True)
            loss = mpjpe_loss(forward(x), y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * y.shape[0] * y.shape[1]
            frames += y.shape[0] * y.shape[1]
        val = evaluate(model, data, device).average["mpjpe"] \
            if config.validate and data.test else None
        record = EpochLog(epoch + 1, lr, momentum, 1000 * loss_sum / frames, val, time.monotonic() - t0)
        history.append(record)
        improved = val is not None and math.isfinite(val) and (best_val is None or val < best_val)
        best_val = val if improved else best_val
        targets = [p for p, due in ((output, True), (best, improved)) if p is not None and due]
        if targets:
            model.eval()
        for path in targets:
            checkpoint.save(path, model, layout, module_prefix, epoch=epoch + 1,
                            lr=learning_rate(epoch + 1, config.learning_rate, config.lr_decay),
                            optimizer=optimizer.state_dict(), random_state=random_state)
        if log:
            log(record)
        if config.max_minutes is not None and time.monotonic() - started >= 60 * config.max_minutes:
            break
    return model.eval(), history

