"""Saved 3D poses: one float32 (T, J, 3) array per sequence or video, keyed by its name; metres, camera frame.

The same value is written by vp3d_postprocess.py --save-predictions (root-relative, as evaluated) and by
lifting, and read by every tool that renders or converts poses. Writers, one per format, all
write(path, poses: {name: (T, J, 3)}), chosen by suffix from WRITERS:

    .npz   one float32 (T, J, 3) array per name (np.load gives them back)
    .json  {"joints": [J names], "units": "m", "frame": "camera", "videos": {name: {"poses": T x J x 3}}}
    .csv   header video,frame,joint,x,y,z; one row per name, frame and joint (by name)

A sequence that starts later in its video than frame 0 (a person tracked from frame F: Poses.first_frames)
records F: in .json as the video's "first_frame"; in .csv as its frame numbers F, F + 1, ...; in .npz in
the zip archive's comment, {"first_frame": {name: F}} as JSON, which np.load ignores. Sequences from
frame 0 are written as before, and the readers give first_frames back (0 where a file says nothing).

JSON and CSV numbers are written with 9 significant digits: float32 values come back exactly. Each format
has its reader (read_poses_npz, read_poses_json, read_poses_csv); io.formats keeps both tables.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import atomic_path, read_json
from vp3d.facts.skeleton import h36m_skeleton17

UNITS = "m"          # poses are stored in metres
FRAME = "camera"     # in the camera's frame: x right, y down, z forward (away from the camera)


class Poses(dict):
    """name -> float32 (T, J, 3) poses, metres, camera frame; first_frames: name -> the video frame number
    of the sequence's first pose (0 where absent)."""

    def __init__(self, *args, first_frames: dict[str, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_frames = {k: int(v) for k, v in (first_frames or {}).items() if int(v)}


def first_frames_of(poses: dict) -> dict[str, int]:
    """name -> first frame of each sequence in `poses` (a Poses, or a plain dict: all 0)."""
    recorded = getattr(poses, "first_frames", {})
    return {name: int(recorded.get(name, 0)) for name in poses}


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


NPZ_DATE = (1980, 1, 1, 0, 0, 0)    # every member's zip timestamp: the same poses give the same bytes


def _npz_member(name: str) -> zipfile.ZipInfo:
    """The zip entry of one array: a fixed timestamp (np.savez stamps the clock), read/write for the owner."""
    info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE)
    info.external_attr = 0o600 << 16
    return info


def write_poses_npz(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """One float32 (T, J, 3) array per name, in an uncompressed .npz; written atomically."""
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    starts = {k: v for k, v in first_frames_of(poses).items() if v}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        if starts:
            z.comment = json.dumps({"first_frame": starts}).encode()
        for name, array in arrays.items():       # as np.savez does, without its keyword-argument names
            with z.open(_npz_member(name), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def read_poses_npz(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .npz; Vp3dError naming the file and key otherwise."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such poses file")
    try:
        with np.load(path, allow_pickle=False) as z:
            poses = {name: check_poses(z[name], f"{path}: '{name}'") for name in z.files}
        with zipfile.ZipFile(path) as z:
            comment = z.comment
    except Vp3dError:
        raise
    except Exception as e:
        raise Vp3dError(f"{path}: not a poses .npz of float (T, J, 3) arrays ({type(e).__name__}: {e})") from None
    starts = {}
    if comment:
        try:
            starts = json.loads(comment.decode()).get("first_frame", {})
            starts = {k: int(v) for k, v in starts.items() if k in poses}
        except (ValueError, AttributeError, TypeError):
            raise Vp3dError(f"{path}: the archive comment is not vp3d's {{\"first_frame\": {{name: F}}}}") from None
    return Poses(poses, first_frames=starts)


def read_poses_json(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .json that write_poses_json wrote."""
    obj = read_json(path, "a poses .json ({\"videos\": {name: {\"poses\": T x J x 3}}})")
    videos = obj.get("videos") if isinstance(obj, dict) else None
    if not isinstance(videos, dict) or not videos or (obj.get("units", UNITS) != UNITS):
        raise Vp3dError(f"{path}: not a poses .json: expected {{\"units\": \"m\", \"videos\": {{name: {{\"poses\": "
                        f"T x J x 3}}}}}} as vp3d_lift.py writes")
    out = Poses()
    for name, video in videos.items():
        try:
            array = np.asarray(video["poses"], dtype=np.float64)
            start = int(video.get("first_frame", 0))
        except (TypeError, KeyError, ValueError, AttributeError):
            raise Vp3dError(f"{path}: '{name}' has no \"poses\" list of T x J x 3 numbers (and an integer "
                            f"\"first_frame\", where given)") from None
        out[name] = check_poses(array, f"{path}: '{name}'")
        if start:
            out.first_frames[name] = start
    return out


def read_poses_csv(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .csv (video,frame,joint,x,y,z) that write_poses_csv wrote:
    every video's frames F..F+T-1 (F its first frame, 0 unless it starts later) with all its joints, in order."""
    import csv
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such poses file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != ["video", "frame", "joint", "x", "y", "z"]:
                raise Vp3dError(f"{path}: header {header}, expected video,frame,joint,x,y,z (a poses .csv "
                                f"as vp3d_lift.py writes)")
            rows = list(reader)
    except UnicodeDecodeError:
        raise Vp3dError(f"{path}: not a text (UTF-8) poses .csv") from None
    if not rows or any(len(r) != 6 for r in rows):
        raise Vp3dError(f"{path}: expected rows of 6 fields video,frame,joint,x,y,z")
    table = np.asarray(rows, dtype=object)
    try:
        frames = table[:, 1].astype(np.int64)
        xyz = table[:, 3:].astype(np.float64)
    except ValueError as e:
        raise Vp3dError(f"{path}: a frame or coordinate is not a number ({e})") from None
    names = h36m_skeleton17().names
    out = Poses()
    for name in dict.fromkeys(table[:, 0].tolist()):
        rows_of = table[:, 0] == name
        t = int(rows_of.sum()) // len(names)
        start = int(frames[rows_of][0])
        expected_frames = np.repeat(np.arange(start, start + t), len(names))
        if t * len(names) != rows_of.sum() or not np.array_equal(frames[rows_of], expected_frames) \
                or list(table[rows_of, 2][:len(names)]) != list(names):
            raise Vp3dError(f"{path}: video {name!r} does not list consecutive frames with the {len(names)} joints "
                            f"({', '.join(names[:3])}, ...) of each in order")
        out[name] = check_poses(xyz[rows_of].reshape(t, len(names), 3), f"{path}: '{name}'")
        if start:
            out.first_frames[name] = start
    return out


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
    starts = first_frames_of(poses)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write('{"joints": %s, "units": "%s", "frame": "%s", "videos": {'
                % (json.dumps(list(h36m_skeleton17().names)), UNITS, FRAME))
        for n, (name, array) in enumerate(arrays.items()):
            first = f'"first_frame": {starts[name]}, ' if starts[name] else ""
            f.write('%s\n %s: {%s"poses": [' % ("," if n else "", json.dumps(name), first))
            for start in range(0, len(array), BLOCK_FRAMES):
                text = _number_text(array[start:start + BLOCK_FRAMES])
                joints = _join("[", text[..., 0], ",", text[..., 1], ",", text[..., 2], "]")    # (B, J) "[x,y,z]"
                f.write(("," if start else "") + "\n  " + ",\n  ".join("[" + ",".join(row) + "]" for row in joints.tolist()))
            f.write("]}")
        f.write("\n}}\n")


def write_poses_csv(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """Header video,frame,joint,x,y,z; one row per video, frame (its video's: first frame F, F + 1, ...; 0-based)
    and joint (by name); written atomically, BLOCK_FRAMES frames at a time."""
    import csv
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    starts = first_frames_of(poses)
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
                frames = np.repeat(np.arange(start, start + t) + starts[name], j).astype(str)
                lines = _join(quoted.getvalue() + ",", frames, ",", np.tile(names, t), ",",
                              text[:, 0], ",", text[:, 1], ",", text[:, 2], "\n")
                f.write("".join(lines.tolist()))
