"""Upstream VideoPose3D's Human3.6M .npz files, the test set's lengths, and its test sequences.

data_3d_h36m.npz:      positions_3d: subject -> action -> (T, 32, 3) float32, world frame, metres.
data_2d_h36m_<kp>.npz: positions_2d: subject -> action -> [4 x (T'_c, 17, 2)] float32, pixels,
                       with T'_c >= T; metadata: {'keypoints_symmetry': [left, right], ...}.
Both hold pickled dicts inside object arrays, read by io.npz's restricted unpickler.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, h36m_cameras, normalize_screen_coordinates, world_to_camera
from vp3d.facts.skeleton import DATA_DIR, Symmetry, kept_joints
from vp3d.io.npz import load_npz_key

NUM_KEYPOINTS = 17   # Human3.6M's 17-joint layout, which the model and the evaluation use
DEFAULT_KEYPOINTS = "cpn_ft_h36m_dbb"   # upstream's CPN detections fine-tuned on Human3.6M: the table's input
TEST_LENGTHS_FILE = DATA_DIR / "h36m_test_lengths.tsv"


@functools.lru_cache(maxsize=None)
def h36m_test_lengths() -> dict[str, dict[str, int]]:
    """The real Human3.6M test sequences: subject -> take name -> frames (50 fps), from the packaged tsv."""
    out: dict[str, dict[str, int]] = {}
    with open(TEST_LENGTHS_FILE, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["subject"], {})[row["action"]] = int(row["frames"])
    return out


def _nested_dict(obj, path, key) -> dict:
    if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
        raise Vp3dError(f"{path}: '{key}' must hold a dict subject -> action -> arrays")
    return obj


def load_positions_3d(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """data_3d_h36m.npz -> subject -> action -> (T, 32, 3) float32 world positions, metres."""
    data = _nested_dict(load_npz_key(path, "positions_3d"), path, "positions_3d")
    for subject, actions in data.items():
        for action, pos in actions.items():
            if not isinstance(pos, np.ndarray) or pos.ndim != 3 or pos.shape[1:] != (32, 3):
                shape = getattr(pos, "shape", type(pos).__name__)
                raise Vp3dError(f"{path}: {subject} '{action}' has shape {shape}, expected (T, 32, 3)")
            if not np.isfinite(pos).all():
                frame = int(np.argwhere(~np.isfinite(pos))[0, 0])
                raise Vp3dError(f"{path}: {subject} '{action}' has non-finite 3D positions, first at frame {frame}")
    return data


def load_keypoints(path: str | Path) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """data_2d_h36m_<kp>.npz -> (subject -> action -> list of (T'_c, J, 2) pixel arrays, metadata)."""
    metadata = load_npz_key(path, "metadata")
    if not isinstance(metadata, dict) or "keypoints_symmetry" not in metadata:
        raise Vp3dError(f"{path}: 'metadata' must be a dict with 'keypoints_symmetry'")
    keypoint_symmetry(metadata, path)
    data = _nested_dict(load_npz_key(path, "positions_2d"), path, "positions_2d")
    for subject, actions in data.items():
        for action, cams in actions.items():
            for c, kps in enumerate(cams):
                if not isinstance(kps, np.ndarray) or kps.ndim != 3 or kps.shape[1:] != (NUM_KEYPOINTS, 2):
                    shape = getattr(kps, "shape", type(kps).__name__)
                    raise Vp3dError(f"{path}: {subject} '{action}' camera {c} has shape {shape}, "
                                    f"expected (T, {NUM_KEYPOINTS}, 2)")
    return data, metadata


def keypoint_symmetry(metadata: dict, path: str | Path) -> Symmetry:
    """The Symmetry in a keypoints file's metadata['keypoints_symmetry'] ([left, right]), checked."""
    try:
        left, right = (list(map(int, s)) for s in metadata["keypoints_symmetry"])
    except (TypeError, ValueError):
        raise Vp3dError(f"{path}: 'keypoints_symmetry' must be two lists of joint indices") from None
    if len(left) != len(right) or len(set(left + right)) != len(left + right) \
            or not all(0 <= j < NUM_KEYPOINTS for j in left + right):
        raise Vp3dError(f"{path}: 'keypoints_symmetry' must pair distinct left and right joints among "
                        f"0..{NUM_KEYPOINTS - 1}, got {left} and {right}")
    return Symmetry(left, right)


@dataclass
class Sequence:
    """One (subject, action, camera) sequence, prepared exactly as upstream run.py prepares it."""

    subject: str
    action: str          # full name, e.g. 'Directions 1'
    group: str           # action name's first word, e.g. 'Directions': what results are grouped by
    camera: int          # index 0..3 in calibration order
    poses_2d: np.ndarray  # (T, J, 2) float32, normalised screen coordinates
    poses_3d: np.ndarray  # (T, J, 3) float32, camera frame, metres; root keeps the trajectory,
                          #  other joints relative to the root


def prepare_sequences(positions_3d: dict, positions_2d: dict, subjects: list[str],
                           downsample: int = 1, path_2d: str | Path = "2D keypoints",
                           cameras: dict[str, tuple[Camera, ...]] | None = None) -> list[Sequence]:
    """Sequences of `subjects` in upstream's evaluation order: actions grouped by first word, groups in order of
    first appearance, then (subject, action) pairs in order, then cameras.

    3D: 32 -> 17 joints, world -> camera, root-relative with the root keeping the trajectory.
    2D: trimmed to the mocap length, normalised to screen coordinates. Then every `downsample`-th frame.
    """
    cameras = cameras or h36m_cameras()
    kept = kept_joints()
    groups: dict[str, list[tuple[str, str]]] = {}
    for subject in subjects:
        if subject not in positions_3d:
            raise Vp3dError(f"subject {subject} is not in the 3D data (has {', '.join(positions_3d)})")
        if subject not in cameras:
            raise Vp3dError(f"subject {subject} has no camera calibration")
        for action in positions_3d[subject]:
            groups.setdefault(action.split(" ")[0], []).append((subject, action))

    out = []
    for group, pairs in groups.items():
        for subject, action in pairs:
            if subject not in positions_2d or action not in positions_2d[subject]:
                raise Vp3dError(f"{path_2d}: {subject} '{action}' is in the 3D data but not in the 2D keypoints")
            world = positions_3d[subject][action][:, kept]
            kps_cams = positions_2d[subject][action]
            if len(kps_cams) != len(cameras[subject]):
                raise Vp3dError(f"{path_2d}: {subject} '{action}' has {len(kps_cams)} cameras, "
                                f"expected {len(cameras[subject])}")
            for c, (cam, kps) in enumerate(zip(cameras[subject], kps_cams)):
                t = world.shape[0]
                if kps.shape[0] < t:
                    raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has {kps.shape[0]} "
                                    f"frames, fewer than the mocap's {t}")
                kps = kps[:t]
                if not np.isfinite(kps).all():
                    frame = int(np.argwhere(~np.isfinite(kps))[0, 0])
                    raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has non-finite "
                                    f"keypoints, first at frame {frame}")
                pos = world_to_camera(world, cam.orientation, cam.translation).astype(np.float32)
                pos[:, 1:] -= pos[:, :1]
                kps2d = normalize_screen_coordinates(kps, cam.res_w, cam.res_h).astype(np.float32)
                out.append(Sequence(subject, action, group, c, kps2d[::downsample], pos[::downsample]))
    return out


@dataclass
class Dataset:
    """Both .npz files of a Human3.6M-format dataset, loaded and checked."""

    path_3d: Path
    path_2d: Path
    positions_3d: dict   # subject -> action -> (T, 32, 3) world metres
    positions_2d: dict   # subject -> action -> [(T'_c, 17, 2) pixels per camera]
    keypoint_symmetry: Symmetry  # of the 2D keypoints, from the keypoints file's metadata

    def sequences(self, subjects: list[str], downsample: int = 1) -> list[Sequence]:
        return prepare_sequences(self.positions_3d, self.positions_2d, list(subjects), downsample, self.path_2d)


def load_dataset(dataset_dir: str | Path, keypoints: str = DEFAULT_KEYPOINTS) -> Dataset:
    """Load data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz from `dataset_dir`."""
    d = Path(dataset_dir)
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such dataset directory (expected data_3d_h36m.npz and "
                        f"data_2d_h36m_{keypoints}.npz in it)")
    path_3d, path_2d = d / "data_3d_h36m.npz", d / f"data_2d_h36m_{keypoints}.npz"
    positions_3d = load_positions_3d(path_3d)
    positions_2d, metadata = load_keypoints(path_2d)
    return Dataset(path_3d, path_2d, positions_3d, positions_2d, keypoint_symmetry(metadata, path_2d))
