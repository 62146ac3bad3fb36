"""Saved 3D poses: one float32 (T, J, 3) array per sequence or video, keyed by its name; metres, camera frame.

The same value is written by vp3d_postprocess.py --save-predictions (root-relative, as evaluated) and by
lifting, and read by every tool that renders or converts poses. Writers, one per format, all
write(path, poses: {name: (T, J, 3)}), chosen by suffix from WRITERS:

    .npz   one float32 (T, J, 3) array per name (np.load gives them back)
    .json  {"joints": [J names], "units": "m", "frame": "camera", "videos": {name: {"poses": T x J x 3}}}
    .csv   header video,frame,joint,x,y,z; one row per name, frame and joint (by name)

What later tools need travels in the file, where every format has room for it and no reader of the plain
arrays sees it:
- the frame rate of the poses (Poses.fps, frames per second): .json "fps"; .csv a trailing "time" column
  (seconds, frame / fps); .npz the zip archive's comment {"fps": F} (JSON), which np.load ignores;
- the first frame F of a sequence that starts later in its video (Poses.first_frames): .json "first_frame";
  .csv the frame numbers F, F + 1, ...; .npz the archive comment's {"first_frame": {name: F}};
- the frames filled by interpolation, without a detection (Poses.filled, (T,) bool per sequence): .json
  "filled" [[first, last], ...] (inclusive indices into "poses"); .csv a trailing "filled" column (0/1);
  .npz the same ranges in the comment of the sequence's zip member ({"filled": [[first, last], ...]}, or where
  those would not fit a zip comment, the mask's bits: {"filled_bits": base64 of zlib of np.packbits(mask)}).
A plain dict (no rate, no first frames, no filled frames) is written exactly as before, and the readers give
each fact back where the file has it (fps None, first frame 0, no filled frames where it says nothing).

JSON and CSV numbers are written with 9 significant digits: float32 values come back exactly. Each format
has its reader (read_poses_npz, read_poses_json, read_poses_csv); io.formats keeps both tables.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import atomic_path, loads_json, read_json
from vp3d.io.npz import check_inflate
from vp3d.facts.datasets import datasets, skeleton_of

UNITS = "m"          # poses are stored in metres
FRAME = "camera"     # in the camera's frame: x right, y down, z forward (away from the camera)


class Poses(dict):
    """name -> float32 (T, J, 3) poses, metres, camera frame; first_frames: name -> the video frame number
    of the sequence's first pose (0 where absent); fps: the poses' frame rate (None: not known); filled:
    name -> (T,) bool, the frames filled by interpolation (no detection), or None where not known."""

    def __init__(self, *args, first_frames: dict[str, int] | None = None, fps: float | None = None,
                 filled: dict[str, np.ndarray] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_frames = {k: int(v) for k, v in (first_frames or {}).items() if int(v)}
        self.fps = None if fps is None else float(fps)
        self.filled = None if filled is None else {k: np.asarray(v, bool) for k, v in filled.items()}

    def only(self, name: str) -> "Poses":
        """The one sequence `name`, with its facts."""
        return Poses({name: self[name]}, first_frames={name: self.first_frames.get(name, 0)}, fps=self.fps,
                     filled=None if self.filled is None else {k: v for k, v in self.filled.items() if k == name})


def as_poses(poses: dict) -> Poses:
    """`poses` as a Poses (a plain dict: no facts recorded)."""
    return poses if isinstance(poses, Poses) else Poses(poses)


def first_frames_of(poses: dict) -> dict[str, int]:
    """name -> first frame of each sequence in `poses` (a Poses, or a plain dict: all 0)."""
    recorded = getattr(poses, "first_frames", {})
    return {name: int(recorded.get(name, 0)) for name in poses}


def check_fps(fps, where: str) -> float:
    """`fps` as a positive finite float; Vp3dError naming `where` otherwise."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise Vp3dError(f"{where}: frame rate {fps!r}, expected a positive number of frames per second")
    return value


def filled_ranges(mask: np.ndarray) -> list[list[int]]:
    """(T,) bool -> [[first, last], ...]: the runs of True frames, inclusive."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return [[int(a), int(b) - 1] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def filled_mask(ranges, frames: int, where: str) -> np.ndarray:
    """[[first, last], ...] (inclusive, within 0..frames-1) -> (frames,) bool; Vp3dError naming `where`."""
    mask = np.zeros(frames, bool)
    try:
        for first, last in ranges:
            if isinstance(first, bool) or isinstance(last, bool) or int(first) != first or int(last) != last \
                    or not 0 <= first <= last < frames:
                raise ValueError
            mask[int(first):int(last) + 1] = True
    except (TypeError, ValueError):
        raise Vp3dError(f"{where}: \"filled\" must be [[first, last], ...] frame ranges within its "
                        f"{frames} frames") from None
    return mask


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


ZIP_COMMENT_MAX = 65535            # bytes: the zip format's limit for a comment (archive or member)


def _npz_member(name: str, comment: bytes = b"") -> zipfile.ZipInfo:
    """The zip entry of one array: a fixed timestamp (np.savez stamps the clock), read/write for the owner."""
    info = zipfile.ZipInfo(f"{name}.npy", date_time=NPZ_DATE)
    info.external_attr = 0o600 << 16
    info.comment = comment
    return info


def _comment(obj: dict, where: str) -> bytes:
    text = json.dumps(obj).encode() if obj else b""
    if len(text) > ZIP_COMMENT_MAX:
        raise Vp3dError(f"{where}: {len(text)} bytes of frame facts do not fit a zip comment "
                        f"({ZIP_COMMENT_MAX}); write .json or .csv")
    return text


def _filled_comment(mask: np.ndarray | None, where: str) -> bytes:
    """A member's comment for its filled frames: the runs, or (a mask of thousands of runs) its packed bits."""
    runs = filled_ranges(mask) if mask is not None else []
    text = json.dumps({"filled": runs}).encode() if runs else b""
    if len(text) > ZIP_COMMENT_MAX:
        bits = base64.b64encode(zlib.compress(np.packbits(mask).tobytes(), 9)).decode()
        return _comment({"filled_bits": bits}, where)
    return text


def _filled_of_bits(text, frames: int, where: str) -> np.ndarray:
    """_filled_comment's packed bits -> (frames,) bool; Vp3dError naming `where` where they are not frames' bits."""
    size = (frames + 7) // 8
    try:
        unzip = zlib.decompressobj()
        packed = unzip.decompress(base64.b64decode(text, validate=True), size + 1)   # bounded: no bomb
        if len(packed) != size or not unzip.eof:
            raise ValueError
    except (TypeError, ValueError, zlib.error):
        raise Vp3dError(f"{where}: \"filled_bits\" is not the packed mask of its {frames} frames") from None
    return np.unpackbits(np.frombuffer(packed, np.uint8), count=frames).astype(bool)


def write_poses_npz(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """One float32 (T, J, 3) array per name, in an uncompressed .npz, the facts in zip comments (module
    docstring); written atomically."""
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    poses = as_poses(poses)
    head = {"fps": poses.fps} if poses.fps is not None else {}
    starts = {k: v for k, v in first_frames_of(poses).items() if v}
    if starts:
        head["first_frame"] = starts
    filled = poses.filled or {}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.comment = _comment(head, str(path))
        for name, array in arrays.items():       # as np.savez does, without its keyword-argument names
            member = _npz_member(name, _filled_comment(filled.get(name), f"{path}: '{name}'"))
            with z.open(member, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def read_poses_npz(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .npz; Vp3dError naming the file and key otherwise."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such poses file")
    try:
        with zipfile.ZipFile(path) as z:                  # a member that would unpack to gigabytes: refused first
            for info in z.infolist():
                check_inflate(path, info)
            comment = z.comment                           # the facts (module docstring)
            members = {info.filename[:-4]: info.comment for info in z.infolist() if info.filename.endswith(".npy")}
        with np.load(path, allow_pickle=False) as z:
            poses = {name: check_poses(z[name], f"{path}: '{name}'") for name in z.files}
    except Vp3dError:
        raise
    except Exception as e:
        raise Vp3dError(f"{path}: not a poses .npz of float (T, J, 3) arrays ({type(e).__name__}: {e})") from None
    head = _read_comment(comment, f"{path}: the archive comment", '{"fps": F, "first_frame": {name: F}}')
    try:
        starts = {k: int(v) for k, v in head.get("first_frame", {}).items() if k in poses}
    except (ValueError, AttributeError, TypeError):
        raise Vp3dError(f"{path}: the archive comment's \"first_frame\" is not {{name: F}}") from None
    out = Poses(poses, first_frames=starts, fps=check_fps(head["fps"], str(path)) if "fps" in head else None)
    for name, text in members.items():
        if name in poses and text:
            where = f"{path}: '{name}'"
            facts = _read_comment(text, f"{where}: the member comment", '{"filled": [[first, last], ...]}')
            out.filled = out.filled or {}
            out.filled[name] = _filled_of_bits(facts["filled_bits"], len(poses[name]), where) \
                if "filled_bits" in facts else filled_mask(facts.get("filled", []), len(poses[name]), where)
    return out


def _read_comment(text: bytes, where: str, expected: str) -> dict:
    """A zip comment vp3d wrote: a JSON object, or nothing."""
    if not text:
        return {}
    try:
        obj = loads_json(text)                         # orjson: nesting 65,000 deep is a ValueError, not a crash
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise Vp3dError(f"{where} is not vp3d's {expected}")
    return obj


def read_poses_json(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .json that write_poses_json wrote."""
    obj = read_json(path, "a poses .json ({\"videos\": {name: {\"poses\": T x J x 3}}})")
    videos = obj.get("videos") if isinstance(obj, dict) else None
    if not isinstance(videos, dict) or not videos or (obj.get("units", UNITS) != UNITS):
        raise Vp3dError(f"{path}: not a poses .json: expected {{\"units\": \"m\", \"videos\": {{name: {{\"poses\": "
                        f"T x J x 3}}}}}} as vp3d_lift.py writes")
    out = Poses(fps=check_fps(obj["fps"], str(path)) if obj.get("fps") is not None else None)
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
        if "filled" in video:
            out.filled = out.filled or {}
            out.filled[name] = filled_mask(video["filled"], len(array), f"{path}: '{name}'")
    return out


CSV_COLUMNS = ["video", "frame", "joint", "x", "y", "z"]       # then, where known: time, filled


def read_poses_csv(path: str | Path) -> dict[str, np.ndarray]:
    """name -> float32 (T, J, 3) metres, from a poses .csv (video,frame,joint,x,y,z[,time][,filled]) that
    write_poses_csv wrote: every video's frames F..F+T-1 (F its first frame, 0 unless it starts later) with
    all its joints, in order; the frame rate from the time column, filled frames from the filled column."""
    import csv
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such poses file")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            extra = header[len(CSV_COLUMNS):] if header and header[:len(CSV_COLUMNS)] == CSV_COLUMNS else None
            if extra not in ([], ["time"], ["filled"], ["time", "filled"]):
                raise Vp3dError(f"{path}: header {header}, expected {','.join(CSV_COLUMNS)}[,time][,filled] (a poses "
                                f".csv as vp3d_lift.py writes)")
            rows = list(reader)
    except UnicodeDecodeError:
        raise Vp3dError(f"{path}: not a text (UTF-8) poses .csv") from None
    width = len(header)
    if not rows or any(len(r) != width for r in rows):
        raise Vp3dError(f"{path}: expected rows of {width} fields {','.join(header)}")
    table = np.asarray(rows, dtype=object)
    try:
        frames = table[:, 1].astype(np.int64)
        xyz = table[:, 3:6].astype(np.float64)
        times = table[:, 6].astype(np.float64) if "time" in extra else None
        filled = table[:, -1].astype(np.int64) if "filled" in extra else None
    except (ValueError, OverflowError) as e:
        raise Vp3dError(f"{path}: a frame, coordinate, time or filled flag is not a number ({e})") from None
    out = Poses(fps=None if times is None else _rate_of(path, frames, times))
    for name in dict.fromkeys(table[:, 0].tolist()):
        rows_of = table[:, 0] == name
        names = _skeleton_names(table[rows_of, 2])
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
        if filled is not None:
            flags = filled[rows_of].reshape(t, len(names))
            if not np.isin(flags, (0, 1)).all() or (flags != flags[:, :1]).any():
                raise Vp3dError(f"{path}: video {name!r}: \"filled\" must be 0 or 1, the same for every joint "
                                f"of a frame")
            out.filled = out.filled or {}
            out.filled[name] = flags[:, 0].astype(bool)
    return out


def _rate_of(path: Path, frames: np.ndarray, times: np.ndarray) -> float | None:
    """The frame rate that the time column (seconds = frame / fps) gives, to 9 significant digits; None where
    every frame is 0; Vp3dError where the times do not follow the frames at one rate."""
    last = int(np.argmax(frames))
    if frames[last] <= 0:
        return None
    if not times[last] > 0:
        raise Vp3dError(f"{path}: time {times[last]} at frame {frames[last]}; expected frame / fps seconds")
    fps = float(f"{frames[last] / times[last]:.9g}")
    if not np.allclose(times * fps, frames, rtol=1e-6, atol=1e-6):
        raise Vp3dError(f"{path}: the time column is not frame / fps at one frame rate")
    return check_fps(fps, str(path))


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
    """The project's joint names for (T, J, 3) poses: those of the skeleton with J joints (facts.datasets: Human3.6M's
    17, HumanEva-I's 15)."""
    return skeleton_of(num_joints, where).names


def _skeleton_names(joint_column: np.ndarray) -> tuple[str, ...]:
    """The joint names of the skeleton a CSV video's rows list first (Human3.6M's unless they are another's)."""
    for facts in datasets().values():
        names = facts.skeleton.names
        if list(joint_column[:len(names)]) == list(names):
            return names
    return datasets()["h36m"].skeleton.names


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
    """{"joints", "units": "m", "frame": "camera"[, "fps"], "videos": {name: {["first_frame",] ["filled",]
    "poses": T x J x 3}}}; written atomically, BLOCK_FRAMES frames at a time."""
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    names = {joint_names(array.shape[1], f"{path}: '{name}'") for name, array in arrays.items()}
    if len(names) > 1:
        raise Vp3dError(f"{path}: poses of {' and '.join(str(len(n)) for n in names)} joints; a .json holds one "
                        f"skeleton's (write the others to another file)")
    poses = as_poses(poses)
    starts, filled = first_frames_of(poses), poses.filled or {}
    fps = "" if poses.fps is None else f'"fps": {json.dumps(poses.fps)}, '
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write('{"joints": %s, "units": "%s", "frame": "%s", %s"videos": {'
                % (json.dumps(list(next(iter(names), ()))), UNITS, FRAME, fps))
        for n, (name, array) in enumerate(arrays.items()):
            first = f'"first_frame": {starts[name]}, ' if starts[name] else ""
            runs = filled_ranges(filled[name]) if name in filled else []
            first += f'"filled": {json.dumps(runs)}, ' if runs else ""
            f.write('%s\n %s: {%s"poses": [' % ("," if n else "", json.dumps(name), first))
            for start in range(0, len(array), BLOCK_FRAMES):
                text = _number_text(array[start:start + BLOCK_FRAMES])
                joints = _join("[", text[..., 0], ",", text[..., 1], ",", text[..., 2], "]")    # (B, J) "[x,y,z]"
                f.write(("," if start else "") + "\n  " + ",\n  ".join("[" + ",".join(row) + "]" for row in joints.tolist()))
            f.write("]}")
        f.write("\n}}\n")


def write_poses_csv(path: str | Path, poses: dict[str, np.ndarray]) -> None:
    """Header video,frame,joint,x,y,z (then time where the rate is known, filled where filled frames are);
    one row per video, frame (its video's: first frame F, F + 1, ...; 0-based) and joint (by name); written
    atomically, BLOCK_FRAMES frames at a time."""
    import csv
    arrays = {name: check_poses(np.asarray(p), f"{path}: '{name}'") for name, p in poses.items()}
    poses = as_poses(poses)
    starts = first_frames_of(poses)
    columns = CSV_COLUMNS + ["time"] * (poses.fps is not None) + ["filled"] * (poses.filled is not None)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(",".join(columns) + "\n")
        for name, array in arrays.items():
            names = np.asarray(joint_names(array.shape[1], f"{path}: '{name}'"))
            quoted = io.StringIO()
            csv.writer(quoted, lineterminator="").writerow([name])     # a name with commas or quotes, quoted
            flags = poses.filled.get(name, np.zeros(len(array), bool)) if poses.filled is not None else None
            for start in range(0, len(array), BLOCK_FRAMES):
                block = array[start:start + BLOCK_FRAMES]
                t, j = block.shape[:2]
                text = _number_text(block.reshape(-1, 3))
                frame = np.arange(start, start + t) + starts[name]
                extra = []
                if poses.fps is not None:
                    extra += [",", np.repeat(np.char.mod("%.12g", frame / poses.fps), j)]
                if flags is not None:
                    extra += [",", np.repeat(flags[start:start + t].astype(np.int8).astype(str), j)]
                lines = _join(quoted.getvalue() + ",", np.repeat(frame, j).astype(str), ",", np.tile(names, t), ",",
                              text[:, 0], ",", text[:, 1], ",", text[:, 2], *extra, "\n")
                f.write("".join(lines.tolist()))
