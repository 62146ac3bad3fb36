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


def flip_augment(poses: np.ndarray, left: list[int], right: list[int]) -> np.ndarray:
    """(T, J, C) -> (2, T, J, C): the input and its mirror (x negated, left/right joints swapped)."""
    flipped = poses.copy()
    flipped[..., 0] *= -1
    flipped[:, left + right] = flipped[:, right + left]
    return np.stack([poses, flipped])


def unflip_average(predicted: np.ndarray, left: list[int], right: list[int]) -> np.ndarray:
    """(2, T, J, 3) predictions for an input and its mirror -> (T, J, 3): the mirror's prediction
    mirrored back, averaged with the direct one (upstream's test-time augmentation)."""
    back = predicted[1].copy()
    back[..., 0] *= -1
    back[:, left + right] = back[:, right + left]
    return (predicted[0] + back) / 2


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
    kps_left: list[int]          # 2D keypoint symmetry (from the keypoints file's metadata)
    kps_right: list[int]
    joints_left: list[int]       # 3D joint symmetry (of the 17-joint skeleton)
    joints_right: list[int]
    keypoints: str
    subjects: list[str]
    downsample: int
    entries: list[Entry]

    @property
    def pad(self) -> int:
        return (self.receptive_field - 1) // 2

    @property
    def output_length(self) -> int:
        return self.length - self.receptive_field + 1

    def to_json(self) -> dict:
        return {"format": "vp3d-manifest-1", **asdict(self)}

    @classmethod
    def read(cls, prep_dir: str | Path) -> "Manifest":
        path = Path(prep_dir) / MANIFEST
        obj = read_json(path, "the manifest vp3d_preprocess.py writes")
        try:
            if obj.pop("format") != "vp3d-manifest-1":
                raise KeyError("format")
            obj["entries"] = [Entry(**e) for e in obj["entries"]]
            return cls(**obj)
        except (KeyError, TypeError, AttributeError) as e:
            raise Vp3dError(f"{path}: not a vp3d manifest ({type(e).__name__}: {e})") from None


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
