"""Training batches as upstream's ChunkedGenerator makes them, in the same order, gathered vectorised.

Every sequence is cut into ceil(T / chunk) chunks of `chunk` output frames, centred (the first may start before
frame 0 and the last end after T - 1: those frames repeat the edge frame); with augmentation each sequence's
chunks are followed by their mirrored copies (x negated, left/right swapped; in the cameras, the centre's x and
the first tangential coefficient negated). The list of these examples is shuffled by a numpy RandomState at the
start of every pass (upstream's seeds: 1234 labeled, 4321 unlabeled), and batches are its consecutive slices.
An endless generator (the unlabeled one) runs across epochs: a pass goes on where the last epoch left it.
A 2D example holds chunk + 2 pad input frames, shifted `causal_shift` frames into the past.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vp3d.facts.skeleton import Symmetry, mirror

LABELED_SEED, UNLABELED_SEED = 1234, 4321     # upstream's ChunkedGenerator seeds
FLIPPED_INTRINSICS = [2, 7]                    # centre x and the first tangential coefficient change sign


@dataclass
class Batch:
    """One batch, float32: 2D inputs (B, chunk + 2 pad, J_in, 2), 3D targets (B, chunk, J, 3) with the root
    keeping the trajectory, or None (unlabeled), and camera intrinsics (B, 9) or None."""

    inputs_2d: np.ndarray
    targets_3d: np.ndarray | None
    cameras: np.ndarray | None

    def __len__(self) -> int:
        return self.inputs_2d.shape[0]

    def part(self, rank: int, world: int) -> "Batch":
        """This process's share of the batch for data-parallel training (share())."""
        s = share(len(self), rank, world)
        return Batch(self.inputs_2d[s], None if self.targets_3d is None else self.targets_3d[s],
                     None if self.cameras is None else self.cameras[s])


def share(n: int, rank: int, world: int) -> slice:
    """Process `rank`'s consecutive share of n items split over `world` processes, the first n % world one longer."""
    lo = rank * (n // world) + min(rank, n % world)
    return slice(lo, lo + n // world + (rank < n % world))


class ChunkedBatches:
    """Upstream's ChunkedGenerator (common/generators.py at 1afb1ca), the same examples in the same order."""

    def __init__(self, batch_size: int, poses_2d: list[np.ndarray], poses_3d: list[np.ndarray] | None = None,
                 cameras: list[np.ndarray] | None = None, chunk: int = 1, pad: int = 0, causal_shift: int = 0,
                 augment: bool = False, symmetry: tuple[Symmetry, Symmetry] | None = None,
                 seed: int = LABELED_SEED, endless: bool = False):
        if not poses_2d or (poses_3d is not None and len(poses_3d) != len(poses_2d)) \
                or (cameras is not None and len(cameras) != len(poses_2d)):
            raise ValueError("need one 2D sequence at least, and as many 3D sequences and cameras as 2D ones")
        if augment and symmetry is None:
            raise ValueError("flip augmentation needs the left/right symmetry of the keypoints and joints")
        self.batch_size, self.chunk, self.pad, self.causal_shift = batch_size, chunk, pad, causal_shift
        self.augment, self.symmetry, self.endless = augment, symmetry, endless
        self.random = np.random.RandomState(seed)
        margin = 2 * pad + chunk                       # covers every overhang: a chunk starts >= -chunk / 2
        starts, flips, parts_2d, parts_3d, seq_of, base = [], [], [], [], [], 0
        for i, p2 in enumerate(poses_2d):
            t = p2.shape[0]
            n = (t + chunk - 1) // chunk
            first = base + margin + np.arange(n) * chunk - (n * chunk - t) // 2
            for flip in ([False, True] if augment else [False]):      # a sequence's chunks, then their mirrors
                starts.append(first)
                flips.append(np.full(n, flip))
                seq_of.append(np.full(n, i))
            parts_2d.append(np.pad(p2, ((margin, margin), (0, 0), (0, 0)), mode="edge"))
            if poses_3d is not None:
                assert poses_3d[i].shape[0] == t, f"sequence {i}: 2D has {t} frames but 3D {poses_3d[i].shape[0]}"
                parts_3d.append(np.pad(poses_3d[i], ((margin, margin), (0, 0), (0, 0)), mode="edge"))
            base += t + 2 * margin
        self.poses_2d = np.concatenate(parts_2d).astype(np.float32)           # (F, J_in, 2)
        self.poses_3d = np.concatenate(parts_3d).astype(np.float32) if poses_3d is not None else None
        self.cameras = np.stack(cameras).astype(np.float32) if cameras is not None else None   # (S, 9)
        self.starts, self.flips, self.sequence = np.concatenate(starts), np.concatenate(flips), np.concatenate(seq_of)
        self._in_offsets = np.arange(chunk + 2 * pad) - pad - causal_shift
        self._out_offsets = np.arange(chunk)
        self._order: np.ndarray | None = None         # the current pass's example order
        self._next = 0                                # its next batch
        self._pass_state = None                       # the RandomState's state before the pass was drawn

    def __len__(self) -> int:
        """Examples (chunks) per pass, mirrored copies included."""
        return len(self.starts)

    @property
    def num_batches(self) -> int:
        return (len(self) + self.batch_size - 1) // self.batch_size

    def gather(self, index: np.ndarray) -> Batch:
        """Examples `index` as a Batch, mirrored where the example is a flipped copy."""
        g = self.starts[index]
        x = self.poses_2d[g[:, None] + self._in_offsets]
        y = self.poses_3d[g[:, None] + self._out_offsets] if self.poses_3d is not None else None
        cams = self.cameras[self.sequence[index]] if self.cameras is not None else None
        flip = self.flips[index]
        if flip.any():
            x[flip] = mirror(x[flip], self.symmetry[0])
            if y is not None:
                y[flip] = mirror(y[flip], self.symmetry[1])
            if cams is not None:
                cams[np.ix_(flip, FLIPPED_INTRINSICS)] *= -1
        return Batch(x, y, cams)

    def _new_pass(self) -> None:
        self._pass_state = self.random.get_state()
        self._order = self.random.permutation(len(self))     # = upstream's permutation of its list of pairs
        self._next = 0

    def next_batch(self) -> Batch:
        """The next batch of an endless generator, drawing a new order when a pass is done."""
        if self._order is None or self._next == self.num_batches:
            self._new_pass()
        b = self._next
        self._next += 1
        return self.gather(self._order[b * self.batch_size:(b + 1) * self.batch_size])

    def epoch(self):
        """Yield the batches of one pass in a fresh order (an endless generator: of the pass under way)."""
        if not self.endless:
            self._new_pass()
            self._order, order = None, self._order
            for b in range(self.num_batches):
                yield self.gather(order[b * self.batch_size:(b + 1) * self.batch_size])
        else:
            while True:
                yield self.next_batch()

    # --------------------------------------------------------------------------------- checkpoints

    def position(self) -> dict | None:
        """Where an endless generator stands within its pass (None between passes): what upstream's checkpoints
        leave out, so that a resumed run continues the pass instead of drawing a new one."""
        if self._order is None:
            return None
        return {"pass_state": _state_to_list(self._pass_state), "next_batch": self._next}

    def restore(self, random_state: np.random.RandomState, position: dict | None = None) -> None:
        """Continue from a checkpoint: its RandomState (upstream's 'random_state' or 'random_state_semi') and,
        where vp3d saved it, the position within the pass; the pass is drawn again from its saved state."""
        self.random = random_state
        self._order = None
        if position is not None:
            saved = random_state.get_state()
            self.random.set_state(_state_from_list(position["pass_state"]))
            self._new_pass()
            self._next = int(position["next_batch"])
            if not _same_state(self.random.get_state(), saved):
                raise ValueError("the checkpoint's generator position does not fit its RandomState")


def _state_to_list(state: tuple) -> list:
    """A RandomState's get_state() as plain values (what a weights-only checkpoint may hold)."""
    name, keys, pos, has_gauss, cached = state
    return [name, keys.astype(np.int64).tolist(), int(pos), int(has_gauss), float(cached)]


def _state_from_list(values: list) -> tuple:
    name, keys, pos, has_gauss, cached = values
    return name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)


def _same_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
