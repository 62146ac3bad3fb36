"""Model inputs: edge padding, flip augmentation, file naming, manifest and delta files.

A sequence of T frames becomes one input of L frames:
  [pad + shift copies of frame 0] [T frames] [pad - shift + delta copies of frame T-1]
where pad = (RF - 1) / 2, shift the causal shift (pad for causal models, else 0), and
delta = L - T - 2 pad the extra padding. The model returns T + delta frames, of which the first T
are the sequence's predictions. L is chosen per sequence by one of three rules (`--max-length`):
  fixed    one L for all (default: the dataset's longest sequence + 242: the Ascend recipe's 6115 for
           Human3.6M, 855 for HumanEva-I), for one static model;
  own      L = T + RF - 1, delta 0: no padding computed, for models with a dynamic time axis;
  buckets  the smallest of a few lengths that fits, for static-shape compilers (one model per bucket).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig, pad_frames
from vp3d.facts.datasets import DEFAULT_DATASET, dataset
from vp3d.io.files import read_json, safe_stem
from vp3d.facts.skeleton import Symmetry, mirror

MANIFEST = "manifest.json"
DELTA_FILE = "delta_dict_padding.json"
INPUTS_DIR = "inputs"
GROUND_TRUTHS_DIR = "ground_truths"


def default_length(name: str = DEFAULT_DATASET) -> int:
    """The fixed input length of dataset `name`: its longest sequence plus the default model's receptive field
    (243) - 1. Human3.6M: 5873 + 242 = 6115, the Ascend recipe's; HumanEva-I: 613 + 242 = 855."""
    return dataset(name).longest_sequence + ModelConfig().receptive_field - 1


DEFAULT_LENGTH = default_length()     # Human3.6M's: 6115
OWN_LENGTH = 0    # --max-length 0: every sequence at its own length


def file_stem(index: int, group: str) -> str:
    """'001_Directions' for the first file: NNN counts from 1 in output order, as the Ascend recipe
    names them; the group (from the data file) reduced to a safe alphabet, so it never makes a path."""
    return f"{index + 1:03d}_{safe_stem(group)}"


def best_buckets(needed: list[int], count: int) -> list[int]:
    """`count` bucket lengths for inputs needing `needed` frames each (T + RF - 1) that minimise the
    frames computed in all (each input padded to the smallest bucket that fits): an exact dynamic
    programme over the sorted distinct lengths; the largest bucket is the longest input."""
    values = np.sort(np.asarray(needed, dtype=np.int64))
    cuts = np.unique(values)                                     # candidate bucket lengths
    k = min(count, len(cuts))
    counts = np.searchsorted(values, cuts, side="right")        # inputs that fit each candidate
    inf = np.iinfo(np.int64).max // 4
    # cost[j][i]: least frames for the inputs up to cuts[i] with j + 1 buckets, the largest cuts[i]
    cost = np.full((k, len(cuts)), inf, dtype=np.int64)
    back = np.zeros((k, len(cuts)), dtype=np.int64)
    cost[0] = cuts * counts
    for j in range(1, k):
        for i in range(j, len(cuts)):
            prev = cost[j - 1, :i] + cuts[i] * (counts[i] - counts[:i])
            back[j, i] = int(np.argmin(prev))
            cost[j, i] = prev[back[j, i]]
    out, i = [], len(cuts) - 1
    for j in range(k - 1, -1, -1):
        out.append(int(cuts[i]))
        i = back[j, i]
    return sorted(out)


def input_length(frames: int, receptive_field: int, lengths: list[int]) -> int:
    """L for a sequence of `frames`: its own (lengths == []), else the smallest of `lengths` that fits
    frames + RF - 1. ValueError when none does."""
    needed = frames + receptive_field - 1
    if not lengths:
        return needed
    fitting = [n for n in lengths if n >= needed]
    if not fitting:
        raise ValueError(f"{frames} frames need a length of at least {needed}, got {max(lengths)}")
    return min(fitting)


def edge_padded(poses_2d: np.ndarray, pad: int, shift: int, after: int = 0) -> np.ndarray:
    """(T, J, 2) -> (T + 2 pad + after, J, 2): pad + shift copies of the first frame before, pad - shift + after of
    the last after (shift: a causal model's, pad; else 0), as upstream pads a sequence for its model."""
    return np.pad(poses_2d, ((pad + shift, pad - shift + after), (0, 0), (0, 0)), mode="edge")


def pad_to_length(poses_2d: np.ndarray, pad: int, shift: int, length: int) -> tuple[np.ndarray, int]:
    """Edge-pad (T, J, 2) to (length, J, 2) as described above; returns (padded, delta)."""
    t = poses_2d.shape[0]
    delta = length - t - 2 * pad
    if delta < 0:
        raise ValueError(f"{t} frames need a length of at least {t + 2 * pad}, got {length}")
    return edge_padded(poses_2d, pad, shift, delta), delta


def flip_augment(poses: np.ndarray, symmetry: Symmetry) -> np.ndarray:
    """(T, J, C) -> (2, T, J, C): the input and its mirror (x negated, left/right joints swapped)."""
    return np.stack([poses, mirror(poses, symmetry)])


def unflip_average(predicted: np.ndarray, symmetry: Symmetry) -> np.ndarray:
    """(2, T, J, 3) predictions for an input and its mirror -> (T, J, 3): the mirror's prediction
    mirrored back, averaged with the direct one (upstream's test-time augmentation)."""
    return (predicted[0] + mirror(predicted[1], symmetry)) / 2


@dataclass
class Entry:
    """One input file: which sequence it holds."""

    name: str       # file stem, e.g. '001_Directions'
    subject: str
    action: str     # full action name, e.g. 'Directions 1', 'Walking 1 chunk0'
    group: str      # what results are grouped by, e.g. 'Directions'
    camera: int
    frames: int     # T, frames of ground truth (and of predictions after cropping)
    length: int     # L, frames of its input file


@dataclass
class Manifest:
    """What preprocess wrote, so that later stages never parse file names."""

    lengths: list[int]           # --max-length: [L] fixed, [L1, L2, ...] buckets, [] own length
    receptive_field: int
    causal: bool
    num_keypoints: int           # J_in: 2D keypoints per frame of the inputs
    keypoint_symmetry: Symmetry  # of the 2D keypoints (from the keypoints file's metadata)
    joint_symmetry: Symmetry     # of the 3D joints (the dataset's skeleton)
    keypoints: str               # the 2D detections' name, e.g. 'cpn_ft_h36m_dbb'
    subjects: list[str]
    downsample: int
    entries: list[Entry]
    dataset: str = DEFAULT_DATASET   # facts.datasets name: 'h36m', 'humaneva15'
    num_joints: int = 17         # J: 3D joints per frame of the ground truths (the dataset's skeleton)
    actions: list[str] | None = None  # -a: prefixes of the actions kept (None: all)

    FORMAT = "vp3d-manifest-3"
    OLDER = ("vp3d-manifest-2",)     # Human3.6M only: read with num_keypoints = num_joints
    @property
    def pad(self) -> int:
        return pad_frames(self.receptive_field)

    @property
    def fps(self) -> float:
        """The sequences' frame rate: the dataset's, over --downsample."""
        return dataset(self.dataset).fps / self.downsample

    @property
    def length_rule(self) -> str:
        """--max-length as given: '6115', '2048,6115' or '0' (own length)."""
        return ",".join(map(str, self.lengths)) or str(OWN_LENGTH)

    def output_length(self, entry: Entry) -> int:
        """Frames of the model's output for `entry`'s input: L - RF + 1."""
        return entry.length - self.receptive_field + 1

    def input_shape(self, entry: Entry) -> tuple[int, int, int, int]:
        """(2, L, J_in, 2): the input file of `entry`, with its mirrored copy."""
        return (2, entry.length, self.num_keypoints, 2)

    def to_json(self) -> dict:
        obj = asdict(self)
        obj["keypoint_symmetry"] = self.keypoint_symmetry.to_json()
        obj["joint_symmetry"] = self.joint_symmetry.to_json()
        return {"format": self.FORMAT, **obj}

    @classmethod
    def read(cls, prep_dir: str | Path) -> "Manifest":
        path = Path(prep_dir) / MANIFEST
        obj = read_json(path, "the manifest vp3d_preprocess.py writes")
        try:
            fmt = obj.pop("format")
            if fmt in cls.OLDER:
                obj["num_keypoints"] = obj["num_joints"]
            elif fmt != cls.FORMAT:
                raise KeyError("format")
            obj["entries"] = [Entry(**e) for e in obj["entries"]]
            for e in obj["entries"]:
                if safe_stem(e.name) != e.name:
                    raise ValueError(f"entry name {e.name!r} is not a plain file stem")
            obj["keypoint_symmetry"] = Symmetry(*obj["keypoint_symmetry"])
            obj["joint_symmetry"] = Symmetry(*obj["joint_symmetry"])
            return cls(**obj)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise Vp3dError(f"{path}: not a {cls.FORMAT} manifest ({type(e).__name__}: {e}); "
                            f"re-run vp3d_preprocess.py") from None


def read_deltas(prep_dir: str | Path, manifest: Manifest) -> dict[str, int]:
    """delta_dict_padding.json, checked against the manifest: {'001_Directions': delta, ...}."""
    path = Path(prep_dir) / DELTA_FILE
    deltas = read_json(path, "the delta JSON vp3d_preprocess.py writes")
    for e in manifest.entries:
        if e.name not in deltas:
            raise Vp3dError(f"{path}: no delta for '{e.name}'")
        expected = e.length - e.frames - 2 * manifest.pad
        if deltas[e.name] != expected:
            raise Vp3dError(f"{path}: delta of '{e.name}' is {deltas[e.name]}, but {e.frames} frames "
                            f"padded to {e.length} leave {expected}")
    return deltas
