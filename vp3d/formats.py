"""Pose writers by output suffix: one table, so that adding a format touches one place.

Every writer takes the same poses value and signature:
    write_X(path, poses: dict[str, np.ndarray], fps=50.0, name=None, **format_options)
poses: name -> float32 (T, 17, 3), metres, camera frame (vp3d.poses); name picks one sequence (formats that
hold one motion, such as BVH, need it when there are several).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import Vp3dError
from .bvh import write_bvh
from .poses import select, write_poses_csv, write_poses_json, write_poses_npz


@dataclass(frozen=True)
class Writer:
    write: Callable
    options: frozenset[str] = frozenset()   # the format's own keyword options (e.g. BVH's units)
    what: str = ""


def _every_sequence(write: Callable) -> Callable:
    """A writer of all sequences in one file, in the shared signature: `name` keeps just that one."""
    def writer(path, poses, fps: float = 50.0, name: str | None = None):
        write(path, dict([select(poses, name, path)]) if name else poses)
    return writer


WRITERS: dict[str, Writer] = {
    ".npz": Writer(_every_sequence(write_poses_npz), what="one float32 (T, 17, 3) array per sequence, metres"),
    ".json": Writer(_every_sequence(write_poses_json), what='{"joints", "units", "frame", "videos": {name: {"poses"}}}'),
    ".csv": Writer(_every_sequence(write_poses_csv), what="video,frame,joint,x,y,z rows"),
    ".bvh": Writer(write_bvh, frozenset({"units", "origin"}), "Biovision hierarchy (one motion)"),
}


def writer_for(path: str | Path) -> Writer:
    """The writer for `path`'s suffix; Vp3dError naming the file and the known suffixes otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise Vp3dError(f"{path}: unknown output format {suffix or '(no suffix)'!r} (expected {', '.join(WRITERS)})")
    return WRITERS[suffix]


def write_poses(path: str | Path, poses: dict, fps: float = 50.0, name: str | None = None, **options) -> None:
    """Write poses in the format `path`'s suffix names. Options that are None are left at the format's
    defaults; an option the format does not take is a Vp3dError."""
    writer = writer_for(path)
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - writer.options)
    if extra:
        raise Vp3dError(f"{path}: {Path(path).suffix} output takes no option {', '.join(extra)}")
    writer.write(path, poses, fps=fps, name=name, **given)
