"""Upstream VideoPose3D's dataset files, for every dataset in facts.datasets (Human3.6M, HumanEva-I), and their
sequences prepared as upstream's run.py prepares them.

data_3d_<dataset>.npz:      positions_3d: subject -> action -> (T, M, 3) float32, world frame, metres; M the mocap
                            layout's joints (32 for 'h36m', 15 for 'humaneva15').
data_2d_<dataset>_<kp>.npz: positions_2d: subject -> action -> [C x (T'_c, J, 2)] float32, pixels, with T'_c >= T,
                            one array per camera; metadata: {'layout_name', 'num_joints',
                            'keypoints_symmetry': [left, right]}. HumanEva's files (upstream's
                            prepare_data_humaneva.py) name subjects 'Train/S1', 'Validate/S1', actions
                            'Walking 1 chunk0' (the valid stretches of a take), and hold 2D-only entries
                            under 'Unlabeled/...' subjects.
Both hold pickled dicts inside object arrays, read by io.npz's restricted unpickler.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, intrinsic_vector, normalize_screen_coordinates, world_to_camera
from vp3d.facts.datasets import DEFAULT_DATASET, DatasetFacts, dataset, datasets
from vp3d.facts.skeleton import Symmetry, keypoint_layouts
from vp3d.io.npz import load_npz_key, npz_names

LAYOUT_KEYPOINTS = max(len(layout.names) for layout in keypoint_layouts().values())   # the most of a known layout: 17
DEFAULT_KEYPOINTS = dataset(DEFAULT_DATASET).keypoints   # -k where no dataset is named: Human3.6M's CPN detections


def _nested_dict(obj, path, key) -> dict:
    if not isinstance(obj, dict) or not all(isinstance(v, dict) for v in obj.values()):
        raise Vp3dError(f"{path}: '{key}' must hold a dict subject -> action -> arrays")
    return obj


def _other_dataset_hint(what: str, count: int, facts: DatasetFacts) -> str:
    """' (a HumanEva-I file? --dataset humaneva15)' where another dataset's files have `count` joints of `what`."""
    for other in datasets().values():
        if other.name != facts.name and count == (other.mocap_joints if what == "mocap" else other.num_joints):
            return f" — {other.title}'s {count} joints: give --dataset {other.name}"
    return ""


def load_positions_3d(path: str | Path, facts: DatasetFacts | None = None) -> dict[str, dict[str, np.ndarray]]:
    """data_3d_<dataset>.npz -> subject -> action -> (T, M, 3) float32 world positions, metres (M: the dataset's
    mocap joints, or the J it evaluates, as a dataset of your own may store them; default dataset Human3.6M)."""
    facts = facts or dataset(DEFAULT_DATASET)
    data = _nested_dict(load_npz_key(path, "positions_3d"), path, "positions_3d")
    joints = tuple(dict.fromkeys((facts.mocap_joints, facts.num_joints)))
    for subject, actions in data.items():
        for action, pos in actions.items():
            if not isinstance(pos, np.ndarray) or pos.ndim != 3 or pos.shape[1] not in joints or pos.shape[2] != 3:
                shape = getattr(pos, "shape", type(pos).__name__)
                hint = _other_dataset_hint("mocap", pos.shape[1], facts) if getattr(pos, "ndim", 0) == 3 else ""
                raise Vp3dError(f"{path}: {subject} '{action}' has shape {shape}, expected "
                                f"{' or '.join(f'(T, {j}, 3)' for j in joints)} of {facts.title}{hint}")
            if not np.isfinite(pos).all():
                frame = int(np.argwhere(~np.isfinite(pos))[0, 0])
                raise Vp3dError(f"{path}: {subject} '{action}' has non-finite 3D positions, first at frame {frame}")
    return data


CAMERA_FIELDS = {"res_w": (), "res_h": (), "focal_length": (2,), "center": (2,), "orientation": (4,),
                 "translation": (3,)}                  # required in a file's own cameras
DISTORTION_FIELDS = {"radial_distortion": (3,), "tangential_distortion": (2,)}   # optional: 0 where absent


def load_cameras(path: str | Path) -> dict[str, tuple[Camera, ...]] | None:
    """The optional 'cameras' of a data_3d file (a dataset of your own): subject -> list of dicts, one per camera in
    the 2D file's order, with res_w, res_h (pixels), focal_length, center (pixels), orientation (unit quaternion
    w, x, y, z turning camera axes into world axes), translation (the camera centre, world frame, metres) and
    optionally radial_distortion (k1, k2, k3) and tangential_distortion (p1, p2). None where the file has none."""
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
            if min(values["res_w"], values["res_h"]) < 1 or values["res_w"] % 1 or values["res_h"] % 1:
                raise Vp3dError(f"{where}: res_w and res_h must be positive whole pixels")
            if abs(np.linalg.norm(values["orientation"]) - 1) > 1e-3:
                raise Vp3dError(f"{where}: 'orientation' must be a unit quaternion (w, x, y, z), its norm is "
                                f"{np.linalg.norm(values['orientation']):.4g}")
            parsed.append(Camera(id=str(cam.get("id", c)), res_w=int(values["res_w"]), res_h=int(values["res_h"]),
                                 **{k: v.astype(np.float32) for k, v in values.items() if k not in ("res_w", "res_h")}))
        out[str(subject)] = tuple(parsed)
    return out


def load_keypoints(path: str | Path) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """data_2d_<dataset>_<kp>.npz -> (subject -> action -> list of (T'_c, J, 2) pixel arrays, metadata). Every array
    has the same J: the metadata's 'num_joints' where it gives one, else the first array's."""
    metadata = load_npz_key(path, "metadata")
    if not isinstance(metadata, dict) or "keypoints_symmetry" not in metadata:
        raise Vp3dError(f"{path}: 'metadata' must be a dict with 'keypoints_symmetry'")
    data = _nested_dict(load_npz_key(path, "positions_2d"), path, "positions_2d")
    joints = metadata.get("num_joints")
    for subject, actions in data.items():
        for action, cams in actions.items():
            for c, kps in enumerate(cams):
                if joints is None and isinstance(kps, np.ndarray) and kps.ndim == 3:
                    joints = kps.shape[1]
                if not isinstance(kps, np.ndarray) or kps.ndim != 3 or kps.shape[1:] != (joints, 2):
                    shape = getattr(kps, "shape", type(kps).__name__)
                    raise Vp3dError(f"{path}: {subject} '{action}' camera {c} has shape {shape}, "
                                    f"expected (T, {joints}, 2)")
    keypoint_symmetry(metadata, path, joints or LAYOUT_KEYPOINTS)
    return data, metadata


def num_keypoints(positions_2d: dict, metadata: dict) -> int:
    """J of a 2D file that load_keypoints read."""
    if metadata.get("num_joints") is not None:
        return int(metadata["num_joints"])
    return next(kps.shape[1] for actions in positions_2d.values() for cams in actions.values() for kps in cams)


def keypoint_symmetry(metadata: dict, path: str | Path, num_keypoints: int = LAYOUT_KEYPOINTS) -> Symmetry:
    """The Symmetry in a keypoints file's metadata['keypoints_symmetry'] ([left, right]) among `num_keypoints`
    keypoints, checked."""
    try:
        left, right = (list(map(int, s)) for s in metadata["keypoints_symmetry"])
    except (TypeError, ValueError):
        raise Vp3dError(f"{path}: 'keypoints_symmetry' must be two lists of joint indices") from None
    if len(left) != len(right) or len(set(left + right)) != len(left + right) \
            or not all(0 <= j < num_keypoints for j in left + right):
        raise Vp3dError(f"{path}: 'keypoints_symmetry' must pair distinct left and right joints among "
                        f"0..{num_keypoints - 1}, got {left} and {right}")
    return Symmetry(left, right)


@dataclass
class Sequence:
    """One (subject, action, camera) sequence, prepared exactly as upstream run.py prepares it."""

    subject: str
    action: str          # full name, e.g. 'Directions 1', 'Walking 1 chunk0'
    group: str           # action name's first word, e.g. 'Directions', 'Walking': what results are grouped by
    camera: int          # index in the dataset's camera order
    poses_2d: np.ndarray  # (T, J_in, 2) float32, normalised screen coordinates
    poses_3d: np.ndarray | None  # (T, J, 3) float32, camera frame, metres; root keeps the trajectory,
                                 #  other joints relative to the root; None for unlabeled video
    intrinsics: np.ndarray | None = None  # (9,) float32: the camera's facts.cameras.intrinsic_vector


def group_of(action: str) -> str:
    """'Walking 1 chunk0' -> 'Walking': what upstream groups results by (the action's first word)."""
    return action.split(" ")[0]


def select_groups(groups: list[str], actions: list[str] | None, where: str) -> list[str]:
    """The groups upstream's -a keeps: those starting with one of the `actions` prefixes (None: all). A prefix
    that matches none is refused, naming the groups there are (`where`: what holds them)."""
    if actions is None:
        return list(groups)
    for prefix in actions:
        if not any(g.startswith(prefix) for g in groups):
            raise Vp3dError(f"{where}: no action starts with '{prefix}' (-a takes prefixes of the actions: "
                            f"{', '.join(groups)})")
    return [g for g in groups if any(g.startswith(prefix) for prefix in actions)]


def prepare_take(subject: str, action: str, world: np.ndarray | None, kps_cams: list[np.ndarray],
                 cameras: tuple[Camera, ...], kept: list[int], path_2d: str | Path = "2D keypoints") -> list[Sequence]:
    """One take's sequences, a camera each, as upstream run.py prepares them: 3D (T, M or J, 3) world metres -> the
    kept joints, camera frame, root-relative with the root keeping the trajectory; 2D trimmed to the mocap's
    length (where there is 3D: None for unlabeled video) and normalised to screen coordinates. Checks the camera
    count, the lengths and finiteness."""
    if len(kps_cams) != len(cameras):
        raise Vp3dError(f"{path_2d}: {subject} '{action}' has {len(kps_cams)} cameras, expected {len(cameras)}")
    if world is not None and world.shape[1] != len(kept):
        world = world[:, kept]
    out = []
    for c, (cam, kps) in enumerate(zip(cameras, kps_cams)):
        pos = None
        if world is not None:
            t = world.shape[0]
            if kps.shape[0] < t:
                raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has {kps.shape[0]} "
                                f"frames, fewer than the mocap's {t}")
            kps = kps[:t]
            pos = world_to_camera(world, cam.orientation, cam.translation).astype(np.float32)
            pos[:, 1:] -= pos[:, :1]
        if not np.isfinite(kps).all():
            frame = int(np.argwhere(~np.isfinite(kps))[0, 0])
            raise Vp3dError(f"{path_2d}: {subject} '{action}' camera {c} has non-finite "
                            f"keypoints, first at frame {frame}")
        kps2d = normalize_screen_coordinates(kps, cam.res_w, cam.res_h).astype(np.float32)
        out.append(Sequence(subject, action, group_of(action), c, kps2d, pos, intrinsic_vector(cam)))
    return out


def downsampled(seq: Sequence, step: int, start: int = 0, stop: int | None = None) -> Sequence:
    """`seq` with frames start, start + step, ... before `stop` (2D and 3D alike)."""
    window = slice(start, stop, step)
    return replace(seq, poses_2d=seq.poses_2d[window], poses_3d=None if seq.poses_3d is None else seq.poses_3d[window])


def check_subject(subject: str, positions_3d: dict | None, cameras: dict, facts: DatasetFacts,
                  path_3d: str | Path = "positions_3d") -> None:
    """Vp3dError unless `subject` has 3D data (where positions_3d is given) and cameras."""
    if positions_3d is not None and subject not in positions_3d:
        raise Vp3dError(f"subject {subject} is not in the 3D data ({path_3d} has {', '.join(positions_3d)})")
    if subject not in cameras:
        raise Vp3dError(f"subject {subject} has no cameras among {facts.title}'s ({', '.join(cameras)})")


def prepare_sequences(positions_3d: dict, positions_2d: dict, subjects: list[str], downsample: int = 1,
                      path_2d: str | Path = "2D keypoints", facts: DatasetFacts | None = None,
                      actions: list[str] | None = None, path_3d: str | Path = "positions_3d",
                      cameras: dict[str, tuple[Camera, ...]] | None = None) -> list[Sequence]:
    """Sequences of `subjects` in upstream's evaluation order: actions grouped by first word, groups in order of
    first appearance, then (subject, action) pairs in order, then cameras (prepare_take). `actions`: upstream's
    -a, prefixes of the groups to keep (None: all); `cameras`: the data's own (default the dataset's). Then
    every `downsample`-th frame.
    """
    facts = facts or dataset(DEFAULT_DATASET)
    cameras = cameras or facts.cameras
    kept = list(facts.kept_joints)
    groups: dict[str, list[tuple[str, str]]] = {}
    for subject in subjects:
        check_subject(subject, positions_3d, cameras, facts, path_3d)
        for action in positions_3d[subject]:
            groups.setdefault(group_of(action), []).append((subject, action))
    kept_groups = select_groups(list(groups), actions, f"{path_3d} ({', '.join(subjects)})")

    out = []
    for group in kept_groups:
        for subject, action in groups[group]:
            if subject not in positions_2d or action not in positions_2d[subject]:
                raise Vp3dError(f"{path_2d}: {subject} '{action}' is in the 3D data but not in the 2D keypoints")
            takes = prepare_take(subject, action, positions_3d[subject][action], positions_2d[subject][action],
                                 cameras[subject], kept, path_2d)
            out.extend(downsampled(seq, downsample) if downsample > 1 else seq for seq in takes)
    return out


@dataclass
class Dataset:
    """Both .npz files of a dataset, loaded and checked."""

    facts: DatasetFacts
    keypoints: str       # the 2D detections' name (-k), e.g. 'cpn_ft_h36m_dbb', 'gt'
    path_3d: Path
    path_2d: Path
    positions_3d: dict   # subject -> action -> (T, M, 3) world metres
    positions_2d: dict   # subject -> action -> [(T'_c, J, 2) pixels per camera]
    keypoint_symmetry: Symmetry  # of the 2D keypoints, from the keypoints file's metadata
    num_keypoints: int   # J: keypoints per frame of the 2D file
    cameras: dict        # subject -> its cameras: the 3D file's own (load_cameras), else the dataset's

    def sequences(self, subjects: list[str], downsample: int = 1, actions: list[str] | None = None) -> list[Sequence]:
        """prepare_sequences of `subjects` (actions: upstream's -a prefixes, None: all)."""
        return prepare_sequences(self.positions_3d, self.positions_2d, list(subjects), downsample, self.path_2d,
                                 self.facts, actions, self.path_3d, self.cameras)


def find_dataset(dataset_dir: str | Path, name: str | None = None) -> DatasetFacts:
    """The dataset whose files `dataset_dir` holds: `name`'s, checked to be there, or (name None) the one dataset
    whose 3D file is there. Vp3dError naming the folder, what it holds and what was expected."""
    d = Path(dataset_dir)
    expected = ", ".join(f.file_3d for f in datasets().values())
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such dataset directory (expected one holding {expected} and its 2D detections)")
    present = [f for f in datasets().values() if (d / f.file_3d).is_file()]
    if name is not None:
        facts = dataset(name)
        if facts not in present and present:
            raise Vp3dError(f"{d}: no {facts.file_3d} for --dataset {name}; it holds "
                            f"{', '.join(f.file_3d for f in present)} (--dataset {present[0].name})")
        return facts
    if len(present) > 1:
        raise Vp3dError(f"{d}: holds {' and '.join(f.file_3d for f in present)}; say which with "
                        f"--dataset {'|'.join(f.name for f in present)}")
    return present[0] if present else dataset(DEFAULT_DATASET)


def resolve_dataset(source: str | Path | None, name: str | None) -> tuple[Path, DatasetFacts]:
    """(folder, facts) from -d and --dataset, as vp3d's scripts and upstream's run.py take them: -d FOLDER (the
    dataset named by --dataset, else the one whose data_3d_<name>.npz is in the folder: io.datasets.find_dataset),
    or -d NAME / --dataset NAME alone (upstream: the files in data/). --dataset FOLDER is vp3d's old spelling of -d."""
    if name is not None and name not in datasets() and (Path(name).is_dir() or "/" in name) and source is None:
        source, name = name, None                      # the old --dataset FOLDER (a path: said missing as -d is)
    if source is not None and str(source) in datasets() and not Path(source).is_dir():
        source, name = None, name or str(source)        # upstream's -d NAME
    folder = Path(source) if source is not None else Path("data")
    return folder, find_dataset(folder, name) if folder.is_dir() else dataset(name or DEFAULT_DATASET)


def load_dataset(dataset_dir: str | Path, keypoints: str | None = None, name: str | None = None) -> Dataset:
    """Load data_3d_<dataset>.npz (with its own cameras, where it has them) and data_2d_<dataset>_<keypoints>.npz
    from `dataset_dir`: the dataset `name` ('h36m', 'humaneva15'; None: the one whose files are there), the 2D
    detections `keypoints` (None: the dataset's default, facts.keypoints)."""
    facts = find_dataset(dataset_dir, name)
    d, keypoints = Path(dataset_dir), keypoints or facts.keypoints
    path_3d, path_2d = d / facts.file_3d, d / facts.file_2d(keypoints)
    positions_3d = load_positions_3d(path_3d, facts)
    positions_2d, metadata = load_keypoints(path_2d)
    joints = num_keypoints(positions_2d, metadata)
    return Dataset(facts, keypoints, path_3d, path_2d, positions_3d, positions_2d,
                   keypoint_symmetry(metadata, path_2d, joints), joints, load_cameras(path_3d) or facts.cameras)
