"""Saved 3D poses: one float32 (T, J, 3) array per sequence or video, keyed by its name; metres, camera frame.

The same value is written by vp3d_postprocess.py --save-predictions (root-relative, as evaluated) and by
lifting, and read by every tool that renders or converts poses. Writers, one per format, all
write(path, poses: {name: (T, J, 3)}), chosen by suffix from WRITERS:

    .npz   one float32 (T, J, 3) array per name (np.load gives them back)
    .json  {"joints": [J names], "units": "m", "frame": "camera", "videos": {name: {"poses": T x J x 3}}}
    .csv   header video,frame,joint,x,y,z; one row per name, frame (0-based) and joint (by name)

JSON and CSV numbers are written with 9 significant digits: float32 values come back exactly.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import atomic_path
from .skeleton import h36m_skeleton17

UNITS = "m"          # poses are stored in metres
FRAME = "camera"     # in the camera's frame: x right, y down, z forward (away from the camera)


def check_poses(poses: np.ndarray, where: str) -> np.ndarray:
    """`poses` as float32 (T, J, 3), finite; Vp3dError naming `where` (file and key) otherwise."""
    if not isinstance(poses, np.ndarray) or poses.ndim != 3 or poses.shape[2] != 3 or poses.shape[0] < 1 \
            or not np.issubdtype(poses.dtype, np.floating):
        shape = getattr(poses, "shape", type(poses).__name__)
        raise Vp3dError(f"{where}: shape {shape}, expected float (T, J, 3) poses in metres")
    bad = ~np.isfinite(poses)
    if bad.any():
        raise Vp3dError(f"{where}: non-finite pose values, first at frame {int(np.argwhere(bad)[0, 0])}")
    return poses.astype(np.float32, copy=False)


def write_poses_npz(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """One float32 (T, J, 3) array per name, in an uncompressed .npz; written atomically."""
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, array in arrays.items():       # as np.savez does, without its keyword-argument names
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def read_poses_npz(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .npz; Vp3dError naming the file and key otherwise."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such poses file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: check_poses(z[name], f"{path}: '{name}'") for name in z.files}
    except Vp3dError:
        raise
    except Exception as e:
        raise Vp3dError(f"{path}: not a poses .npz of float (T, J, 3) arrays ({type(e).__name__}: {e})") from None


def select(poses: dict[str, np.ndarray], name: str | None, path: str | Path) -> tuple[str, np.ndarray]:
    """(name, array) of the one sequence a tool acts on: `name`, or the only one when name is None;
    Vp3dError naming `path` (the poses file) otherwise."""
    if name is None:
        if len(poses) != 1:
            listed = ", ".join(list(poses)[:8]) + (", ..." if len(poses) > 8 else "")
            raise Vp3dError(f"{path}: holds {len(poses)} sequences ({listed}); pick one by name (--name)")
        name = next(iter(poses))
    if name not in poses:
        listed = ", ".join(list(poses)[:8]) + (", ..." if len(poses) > 8 else "")
        raise Vp3dError(f"{path}: no sequence named {name!r} (it holds {listed})")
    return name, poses[name]


def joint_names(num_joints: int, where: str = "poses") -> tuple[str, ...]:
    """The project's joint names for (T, J, 3) poses: Human3.6M's 17 (h36m_skeleton17().names)."""
    names = h36m_skeleton17().names
    if num_joints != len(names):
        raise Vp3dError(f"{where}: {num_joints} joints, expected the {len(names)} of the Human3.6M skeleton")
    return names


BLOCK_FRAMES = 2048   # frames formatted at a time by the text writers: bounded memory for any length


def _number_text(array: np.ndarray) -> np.ndarray:
    """float32 array -> same-shape array of decimal strings that read back to the same float32 values."""
    return np.char.mod("%.9g", array.astype(np.float64))


def _join(*parts) -> np.ndarray:
    """Element-wise concatenation of string arrays / strings."""
    out = parts[0]
    for part in parts[1:]:
        out = np.char.add(out, part)
    return out


def write_poses_json(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """{"joints", "units": "m", "frame": "camera", "videos": {name: {"poses": T x J x 3}}}; written atomically,
    BLOCK_FRAMES frames at a time."""
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    for name, array in arrays.items():
        joint_names(array.shape[1], f"{path}: '{name}'")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write('{"joints": %s, "units": "%s", "frame": "%s", "videos": {'
                % (json.dumps(list(h36m_skeleton17().names)), UNITS, FRAME))
        for n, (name, array) in enumerate(arrays.items()):
            f.write('%s\n %s: {"poses": [' % ("," if n else "", json.dumps(name)))
            for start in range(0, len(array), BLOCK_FRAMES):
                text = _number_text(array[start:start + BLOCK_FRAMES])
                joints = _join("[", text[..., 0], ",", text[..., 1], ",", text[..., 2], "]")    # (B, J) "[x,y,z]"
                f.write(("," if start else "") + "\n  " + ",\n  ".join("[" + ",".join(row) + "]" for row in joints.tolist()))
            f.write("]}")
        f.write("\n}}\n")


def write_poses_csv(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """Header video,frame,joint,x,y,z; one row per video, frame (0-based) and joint (by name); written
    atomically, BLOCK_FRAMES frames at a time."""
    import csv
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write("video,frame,joint,x,y,z\n")
        for name, array in arrays.items():
            names = np.asarray(joint_names(array.shape[1], f"{path}: '{name}'"))
            quoted = io.StringIO()
            csv.writer(quoted, lineterminator="").writerow([name])     # a name with commas or quotes, quoted
            for start in range(0, len(array), BLOCK_FRAMES):
                block = array[start:start + BLOCK_FRAMES]
                t, j = block.shape[:2]
                text = _number_text(block.reshape(-1, 3))
                frames = np.repeat(np.arange(start, start + t), j).astype(str)
                lines = _join(quoted.getvalue() + ",", frames, ",", np.tile(names, t), ",",
                              text[:, 0], ",", text[:, 1], ",", text[:, 2], "\n")
                f.write("".join(lines.tolist()))
