"""Upstream VideoPose3D's Human3.6M .npz files, the test set's lengths, and its test sequences.

data_3d_h36m.npz:      positions_3d: subject -> action -> (T, 32, 3) float32, world frame, metres.
data_2d_h36m_<kp>.npz: positions_2d: subject -> action -> [4 x (T'_c, 17, 2)] float32, pixels,
                       with T'_c >= T; metadata: {'keypoints_symmetry': [left, right], ...}.
Both hold pickled dicts inside object arrays, read by io.npz's restricted unpickler.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, intrinsic_vector, normalize_screen_coordinates, world_to_camera
from vp3d.facts.datasets import DatasetFacts, dataset_facts
from vp3d.facts.skeleton import DATA_DIR, Symmetry
from vp3d.io.npz import load_npz_key, npz_names

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


def load_positions_3d(path: str | Path, joints: tuple[int, ...] = (32, 17)) -> dict[str, dict[str, np.ndarray]]:
    """data_3d_h36m.npz -> subject -> action -> (T, J, 3) float32 world positions, metres; J one of `joints`
    (Human3.6M: its 32 mocap joints, or the 17 the model predicts)."""
    data = _nested_dict(load_npz_key(path, "positions_3d"), path, "positions_3d")
    expected = " or ".join(f"(T, {j}, 3)" for j in joints)
    for subject, actions in data.items():
        for action, pos in actions.items():
            if not isinstance(pos, np.ndarray) or pos.ndim != 3 or pos.shape[1] not in joints or pos.shape[2] != 3:
                shape = getattr(pos, "shape", type(pos).__name__)
                raise Vp3dError(f"{path}: {subject} '{action}' has shape {shape}, expected {expected}")
            if not np.isfinite(pos).all():
                frame = int(np.argwhere(~np.isfinite(pos))[0, 0])
                raise Vp3dError(f"{path}: {subject} '{action}' has non-finite 3D positions, first at frame {frame}")
    return data


CAMERA_FIELDS = {"res_w": (), "res_h": (), "focal_length": (2,), "center": (2,), "orientation": (4,),
                 "translation": (3,)}                  # required in a file's own cameras
DISTORTION_FIELDS = {"radial_distortion": (3,), "tangential_distortion": (2,)}   # optional: 0 where absent


def load_cameras(path: str | Path) -> dict[str, tuple[Camera, ...]] | None:
    """The optional 'cameras' of a data_3d file: subject -> list of dicts, one per camera in the 2D files' order,
    with res_w, res_h (pixels), focal_length, center (pixels), orientation (unit quaternion w, x, y, z: camera
    axes to world axes), translation (camera centre, world frame, metres) and optionally radial_distortion
    (k1, k2, k3) and tangential_distortion (p1, p2). None where the file has none."""
    if "cameras" not in npz_names(path):
        return None
    data = load_npz_key(path, "cameras")
    if not isinstance(data, dict) or not all(isinstance(v, (list, tuple)) and v for v in data.values()):
        raise Vp3dError(f"{path}: 'cameras' must be a dict subject -> list of camera dicts")
    out = {}
    for subject, cams in data.items():
        parsed = []
        for c, cam in enumerate(cams):
            where = f"{path}: 'cameras' {subject} camera {c}"
            if not isinstance(cam, dict) or set(CAMERA_FIELDS) - set(cam):
                have = sorted(cam) if isinstance(cam, dict) else type(cam).__name__
                raise Vp3dError(f"{where}: expected a dict with {', '.join(CAMERA_FIELDS)} (has {have})")
            values = {}
            for key, shape in {**CAMERA_FIELDS, **DISTORTION_FIELDS}.items():
                try:
                    v = np.asarray(cam.get(key, np.zeros(shape)), dtype=np.float64)
                except (TypeError, ValueError):
                    v = None
                if v is None or v.shape != shape or not np.isfinite(v).all():
                    raise Vp3dError(f"{where}: '{key}' must be {len(shape) and shape[0] or 1} finite number(s), "
                                    f"got {cam.get(key)!r}")
                values[key] = v
            if values["res_w"] < 1 or values["res_h"] < 1 or values["res_w"] != int(values["res_w"]) \
                    or values["res_h"] != int(values["res_h"]):
                raise Vp3dError(f"{where}: res_w and res_h must be positive whole pixels")
            if abs(np.linalg.norm(values["orientation"]) - 1) > 1e-3:
                raise Vp3dError(f"{where}: 'orientation' must be a unit quaternion (w, x, y, z), its norm is "
                                f"{np.linalg.norm(values['orientation']):.4g}")
            f32 = {k: values[k].astype(np.float32) for k in values if k not in ("res_w", "res_h")}
            parsed.append(Camera(id=str(cam.get("id", c)), res_w=int(values["res_w"]), res_h=int(values["res_h"]),
                                 **f32))
        out[str(subject)] = tuple(parsed)
    return out


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
    poses_3d: np.ndarray | None  # (T, J, 3) float32, camera frame, metres; root keeps the trajectory,
                                 #  other joints relative to the root; None for unlabeled video
    intrinsics: np.ndarray | None = None  # (9,) float32: the camera's cameras.intrinsic_vector


def prepare_take(subject: str, action: str, world: np.ndarray | None, kps_cams: list[np.ndarray],
                 cameras: tuple[Camera, ...], kept: list[int], path_2d: str | Path = "2D keypoints") -> list[Sequence]:
    """One take's sequences, a camera each: 2D trimmed to the mocap's length (where there is 3D) and normalised to
    screen coordinates; 3D (T, J_mocap or J, 3) world metres -> the kept joints, camera frame, root-relative with
    the root keeping the trajectory. Checks the camera count, lengths and finiteness."""
    if len(kps_cams) != len(cameras):
        raise Vp3dError(f"{path_2d}: {subject} '{action}' has {len(kps_cams)} cameras, expected {len(cameras)}")
    if world is not None and world.shape[1] != len(kept):
        world = world[:, kept]
    out = []
    for c, (cam, kps) in enumerate(zip(cameras, kps_cams)):
        if world is not None:
            t = world.shape[0]
            if kps.shape[0] < t:
                raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has {kps.shape[0]} "
                                f"frames, fewer than the mocap's {t}")
            kps = kps[:t]
        if not np.isfinite(kps).all():
            frame = int(np.argwhere(~np.isfinite(kps))[0, 0])
            raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has non-finite "
                            f"keypoints, first at frame {frame}")
        pos = None
        if world is not None:
            pos = world_to_camera(world, cam.orientation, cam.translation).astype(np.float32)
            pos[:, 1:] -= pos[:, :1]
        kps2d = normalize_screen_coordinates(kps, cam.res_w, cam.res_h).astype(np.float32)
        out.append(Sequence(subject, action, action.split(" ")[0], c, kps2d, pos, intrinsic_vector(cam)))
    return out


def downsampled(seq: Sequence, step: int, start: int = 0, stop: int | None = None) -> Sequence:
    """`seq` with frames start, start + step, ... before `stop` (2D and 3D alike)."""
    window = slice(start, stop, step)
    return replace(seq, poses_2d=seq.poses_2d[window],
                   poses_3d=None if seq.poses_3d is None else seq.poses_3d[window])


def prepare_sequences(positions_3d: dict, positions_2d: dict, subjects: list[str],
                      downsample: int = 1, path_2d: str | Path = "2D keypoints",
                      cameras: dict[str, tuple[Camera, ...]] | None = None,
                      facts: DatasetFacts | None = None) -> list[Sequence]:
    """Sequences of `subjects` in upstream's evaluation order: actions grouped by first word, groups in order of
    first appearance, then (subject, action) pairs in order, then cameras (prepare_take); every `downsample`-th
    frame. `facts` (default Human3.6M's) give the kept joints and, without `cameras`, the calibration."""
    facts = facts or dataset_facts("h36m")
    cameras = cameras or facts.calibration()
    kept = list(facts.kept_joints)
    groups: dict[str, list[tuple[str, str]]] = {}
    for subject in subjects:
        check_subject(subject, positions_3d, cameras)
        for action in positions_3d[subject]:
            groups.setdefault(action.split(" ")[0], []).append((subject, action))

    out = []
    for group, pairs in groups.items():
        for subject, action in pairs:
            if subject not in positions_2d or action not in positions_2d[subject]:
                raise Vp3dError(f"{path_2d}: {subject} '{action}' is in the 3D data but not in the 2D keypoints")
            takes = prepare_take(subject, action, positions_3d[subject][action], positions_2d[subject][action],
                                 cameras[subject], kept, path_2d)
            out.extend(downsampled(seq, downsample) for seq in takes)
    return out


def check_subject(subject: str, positions_3d: dict | None, cameras: dict) -> None:
    """Vp3dError unless `subject` has 3D data (where positions_3d is given) and cameras."""
    if positions_3d is not None and subject not in positions_3d:
        raise Vp3dError(f"subject {subject} is not in the 3D data (has {', '.join(positions_3d)})")
    if subject not in cameras:
        raise Vp3dError(f"subject {subject} has no camera calibration")


@dataclass
class Dataset:
    """Both .npz files of a dataset, loaded and checked."""

    facts: DatasetFacts
    path_3d: Path
    path_2d: Path
    positions_3d: dict   # subject -> action -> (T, J_mocap or J, 3) world metres
    positions_2d: dict   # subject -> action -> [(T'_c, 17, 2) pixels per camera]
    keypoint_symmetry: Symmetry  # of the 2D keypoints, from the keypoints file's metadata
    cameras: dict        # subject -> its cameras: the 3D file's own 'cameras', else the dataset's calibration

    def sequences(self, subjects: list[str], downsample: int = 1) -> list[Sequence]:
        return prepare_sequences(self.positions_3d, self.positions_2d, list(subjects), downsample, self.path_2d,
                                 self.cameras, self.facts)


def load_dataset(dataset_dir: str | Path, keypoints: str = DEFAULT_KEYPOINTS,
                 facts: DatasetFacts | None = None) -> Dataset:
    """Load data_3d_<name>.npz (with its own cameras, where it has them) and data_2d_<name>_<keypoints>.npz
    from `dataset_dir`; `facts` say which dataset (default Human3.6M)."""
    facts = facts or dataset_facts("h36m")
    d = Path(dataset_dir)
    path_3d, path_2d = facts.path_3d(d), facts.path_2d(d, keypoints)
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such dataset directory (expected {path_3d.name} and {path_2d.name} in it)")
    positions_3d = load_positions_3d(path_3d, (facts.mocap_joints, facts.num_joints))
    positions_2d, metadata = load_keypoints(path_2d)
    return Dataset(facts, path_3d, path_2d, positions_3d, positions_2d, keypoint_symmetry(metadata, path_2d),
                   load_cameras(path_3d) or facts.calibration())
