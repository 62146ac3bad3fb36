"""Pose files by suffix: one table of writers and one of readers, so that adding a format touches one place;
and where lifted poses go (one file, or one file per video in a folder).

Every writer takes the same poses value and signature:
    write_X(path, poses: io.poses.Poses, name=None, **format_options)
poses: name -> float32 (T, 17, 3), metres, camera frame, with its frame rate, first frames and filled frames
(io.poses.Poses); name picks one sequence (formats that hold one motion, such as BVH, need it when there are
several). Every reader returns that value.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import H36M_FPS
from vp3d.io.bvh import write_bvh
from vp3d.io.files import refuse_empty, unique_stems
from vp3d.io.poses import (Poses, as_poses, check_fps, read_poses_csv, read_poses_json, read_poses_npz, select,
                           write_poses_csv, write_poses_json, write_poses_npz)

ASSUMED_FPS = H36M_FPS      # the rate taken for poses whose file records none (Human3.6M's, the models')


@dataclass(frozen=True)
class Writer:
    write: Callable
    options: frozenset[str] = frozenset()   # the format's own keyword options (e.g. BVH's units)
    what: str = ""


def _every_sequence(write: Callable) -> Callable:
    """A writer of all sequences in one file, in the shared signature: `name` keeps just that one."""
    def writer(path, poses: Poses, name: str | None = None):
        write(path, poses.only(select(poses, name, path)[0]) if name else poses)
    return writer


def _bvh(path, poses: Poses, name: str | None = None, **options):
    """BVH's frame time is the poses' rate (ASSUMED_FPS where they record none)."""
    write_bvh(path, poses, poses.fps or ASSUMED_FPS, name, **options)


WRITERS: dict[str, Writer] = {
    ".npz": Writer(_every_sequence(write_poses_npz), what="one float32 (T, 17, 3) array per sequence, metres"),
    ".json": Writer(_every_sequence(write_poses_json), what='{"joints", "units", "frame", "fps", "videos": {name: {"poses"}}}'),
    ".csv": Writer(_every_sequence(write_poses_csv), what="video,frame,joint,x,y,z,time,filled rows"),
    ".bvh": Writer(_bvh, frozenset({"units", "origin"}), "Biovision hierarchy (one motion)"),
}
READERS: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    ".npz": read_poses_npz, ".json": read_poses_json, ".csv": read_poses_csv,
}
OUTPUT_FORMATS = tuple(s[1:] for s in WRITERS)    # npz, json, csv, bvh


def writer_for(path: str | Path) -> Writer:
    """The writer for `path`'s suffix; Vp3dError naming the file and the known suffixes otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise Vp3dError(f"{path}: unknown output format {suffix or '(no suffix)'!r} (expected {', '.join(WRITERS)})")
    return WRITERS[suffix]


def write_poses(path: str | Path, poses: dict, fps: float | None = None, name: str | None = None,
                **options) -> None:
    """Write poses in the format `path`'s suffix names, with their facts (io.poses.Poses). fps: their frame
    rate, recorded in the file (None: the one `poses` carries). Options that are None are left at the
    format's defaults; an option the format does not take is a Vp3dError."""
    writer = writer_for(path)
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - writer.options)
    if extra:
        raise Vp3dError(f"{path}: {Path(path).suffix} output takes no option {', '.join(extra)}")
    poses = as_poses(poses)
    if fps is not None:
        poses = Poses(poses, first_frames=poses.first_frames, fps=check_fps(fps, "fps"), filled=poses.filled)
    writer.write(path, poses, name=name, **given)


def read_poses(path: str | Path) -> Poses:
    """name -> float32 (T, 17, 3) metres, camera frame, with the facts the file records (io.poses.Poses), from
    any pose file vp3d writes but BVH (.npz, .json, .csv); Vp3dError naming the file otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix == ".bvh":
        raise Vp3dError(f"{path}: a BVH file holds joint rotations, not the lifted positions; read the .npz, "
                        f".json or .csv that vp3d_lift.py writes (-o poses.npz)")
    if suffix not in READERS:
        raise Vp3dError(f"{path}: unknown poses file type {suffix or '(no suffix)'!r} (expected {', '.join(READERS)})")
    refuse_empty(path, f"a poses {suffix} as vp3d_lift.py writes")
    return READERS[suffix](path)


def output_suffix(out: str | Path) -> str | None:
    """Where poses go: the suffix of one output file ('.npz', '.json', '.csv', '.bvh'), or None for a folder
    (a path without a suffix, or ending in '/'); Vp3dError for any other suffix, before any work is done."""
    text = str(out)
    if text.endswith("/"):
        return None
    suffix = Path(text).suffix.lower()
    if not suffix:
        return None
    if suffix not in WRITERS:
        raise Vp3dError(f"{out}: unknown output format {suffix!r}: expected a file ending in {', '.join(WRITERS)}, "
                        f"or a folder (a path without a suffix, or ending in /)")
    return suffix


def per_video_paths(out_dir: str | Path, names: list[str], suffix: str) -> dict[str, Path]:
    """{name: out_dir/<stem><suffix>}: stems from files.unique_stems (safe alphabet, unique), so every
    file is inside out_dir and no two videos share one."""
    out_dir = Path(out_dir)
    return {name: out_dir / f"{stem}{suffix}" for name, stem in zip(names, unique_stems(names))}


def write_outputs(out: str | Path, poses: dict[str, np.ndarray], fmt: str | None = None, fps: float | None = None,
                  **options) -> list[Path]:
    """Write lifted poses: to one file when `out` names one (output_suffix: all videos in it; BVH holds one),
    else into the folder `out`, one <video>.<fmt> per video (names made safe and unique, every file inside
    `out`). `fps` and `options` (BVH's units, origin) go to the writer (write_poses)."""
    suffix = output_suffix(out)
    out = Path(out)
    if suffix is not None:
        if fmt is not None and "." + fmt != suffix:
            raise Vp3dError(f"{out}: the suffix says {suffix[1:]}, the format asked for is {fmt}")
        write_poses(out, poses, fps=fps, **options)
        return [out]
    if out.exists() and not out.is_dir():
        raise Vp3dError(f"{out}: exists and is not a folder")
    paths = per_video_paths(out, list(poses), "." + (fmt or "npz"))
    poses = as_poses(poses)
    for name, path in paths.items():
        write_poses(path, poses.only(name), fps=fps, **options)
    return list(paths.values())
