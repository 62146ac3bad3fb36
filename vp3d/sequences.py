"""Fixed-length model inputs: edge padding, flip augmentation, file naming, manifest and delta files.

A sequence of T frames becomes one input of exactly L = --max-length frames:
  [pad + shift copies of frame 0] [T frames] [pad - shift + delta copies of frame T-1]
where pad = (RF - 1) / 2, shift the causal shift (pad for causal models, else 0), and
delta = L - T - 2 pad the extra padding that makes every input the same shape. The model then
returns T + delta frames, of which the first T are the sequence's predictions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import read_json
from .skeleton import Symmetry, mirror

MANIFEST = "manifest.json"
DELTA_FILE = "delta_dict_padding.json"
INPUTS_DIR = "inputs"
GROUND_TRUTHS_DIR = "ground_truths"


def file_stem(index: int, group: str) -> str:
    """'001_Directions' for the first file: NNN counts from 1 in output order, as the seed names them."""
    return f"{index + 1:03d}_{group}"


def pad_to_length(poses_2d: np.ndarray, pad: int, shift: int, length: int) -> tuple[np.ndarray, int]:
    """Edge-pad (T, J, 2) to (length, J, 2) as described above; returns (padded, delta)."""
    t = poses_2d.shape[0]
    delta = length - t - 2 * pad
    if delta < 0:
        raise ValueError(f"{t} frames need a length of at least {t + 2 * pad}, got {length}")
    return np.pad(poses_2d, ((pad + shift, pad - shift + delta), (0, 0), (0, 0)), mode="edge"), delta


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
    action: str     # full action name, e.g. 'Directions 1'
    group: str      # what results are grouped by, e.g. 'Directions'
    camera: int
    frames: int     # T, frames of ground truth (and of predictions after cropping)


@dataclass
class Manifest:
    """What preprocess wrote, so that later stages never parse file names."""

    length: int                  # L, frames per input
    receptive_field: int
    causal: bool
    num_joints: int
    keypoint_symmetry: Symmetry  # of the 2D keypoints (from the keypoints file's metadata)
    joint_symmetry: Symmetry     # of the 3D joints (the 17-joint skeleton)
    keypoints: str               # the 2D detections' name, e.g. 'cpn_ft_h36m_dbb'
    subjects: list[str]
    downsample: int
    entries: list[Entry]

    FORMAT = "vp3d-manifest-2"

    @property
    def pad(self) -> int:
        return (self.receptive_field - 1) // 2

    @property
    def output_length(self) -> int:
        return self.length - self.receptive_field + 1

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
            if obj.pop("format") != cls.FORMAT:
                raise KeyError("format")
            obj["entries"] = [Entry(**e) for e in obj["entries"]]
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
        expected = manifest.length - e.frames - 2 * manifest.pad
        if deltas[e.name] != expected:
            raise Vp3dError(f"{path}: delta of '{e.name}' is {deltas[e.name]}, but {e.frames} frames "
                            f"padded to {manifest.length} leave {expected}")
    return deltas
