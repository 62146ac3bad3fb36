"""Saved 3D poses: one float32 (T, J, 3) array per sequence or video, keyed by its name; metres, camera frame.

The same value is written by vp3d_postprocess.py --save-predictions (root-relative, as evaluated) and by
lifting, and read by every tool that renders or converts poses.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import atomic_path

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
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


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
