"""Atomic file writing and the raw .bin/.npy/.txt tensor files the stages exchange."""
from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path

import numpy as np
import orjson

from vp3d.errors import Vp3dError, first_line
from vp3d.facts.limits import MAX_JSON_BYTES


def safe_stem(text: str) -> str:
    """A file stem made from data (an action or video name): letters, digits, '-' and '_' kept, every
    other character (path separators, dots, spaces, control characters) replaced by '_'; never empty.
    The one rule for every name that becomes a path."""
    return re.sub(r"[^\w-]", "_", str(text)) or "_"


def unique_stems(names: list[str]) -> list[str]:
    """safe_stem of each name, made unique in order ('a', 'a_2', 'a_3', ...): two inputs never share a file."""
    seen: set[str] = set()
    out = []
    for name in names:
        stem, n = safe_stem(name), 1
        while (candidate := stem if n == 1 else f"{stem}_{n}") in seen:
            n += 1
        seen.add(candidate)
        out.append(candidate)
    return out


def current_umask() -> int:
    """The process's umask (read without changing it where Linux reports it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)          # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """The permission bits open(path, "w") would leave: an existing file's own, else 0666 & ~umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it.

    A reader never sees a half-written file under the final name, even if the process is killed.
    The file ends with the permissions open() would give it (0666 & ~umask for a new file, an
    existing file's own otherwise), not mkstemp's private 0600; folders made are 0777 & ~umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _final_mode(path))      # after writing: some writers replace the temp file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temporaries(folder: str | Path, names: set[str]) -> None:
    """Delete the temporary files atomic_path left in `folder` for files named `names` (a process killed
    while writing one, where its own clean-up never ran: a Ray worker ended with its cluster)."""
    with contextlib.suppress(FileNotFoundError):
        for p in Path(folder).iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp") and p.name[1:].rsplit(".", 2)[0] in names:
                with contextlib.suppress(OSError):
                    p.unlink()


def write_array(path: str | Path, array: np.ndarray, fmt: str = "BIN") -> None:
    """Write an array atomically as raw little-endian float32 (BIN), .npy (NPY) or text (TXT)."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    with atomic_path(path) as tmp:
        if fmt == "BIN":
            array.tofile(tmp)
        elif fmt == "NPY":
            with open(tmp, "wb") as f:
                np.save(f, array)
        elif fmt == "TXT":
            np.savetxt(tmp, array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array[None], fmt="%.8g")
        else:
            raise ValueError(f"unknown output format {fmt!r}")


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")


def loads_json(data: bytes | str):
    """The JSON value in `data` (orjson: nesting at most facts.limits.JSON_DEPTH deep; a UTF-8 byte order mark
    skipped); ValueError saying what is wrong otherwise (for NaN and Infinity, which Python's json writes, so)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    data = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        reason = first_line(e)
        if data[e.pos:e.pos + 4].lstrip(b"-")[:3] in (b"NaN", b"Inf"):
            reason = f"a non-finite number (NaN or Infinity is not JSON) at {reason.rpartition(': ')[2]}"
        raise ValueError(reason) from None


def refuse_overwrite(outputs, inputs) -> None:
    """Vp3dError, before anything is written, where an output would replace a file the same command reads
    (the user's video, keypoints, model). outputs, inputs: (what, path) pairs, e.g. [("-o", "clip.mp4")],
    [("--video", "clip.mp4")] (a dict of them too); None paths skipped. The error names both."""
    pairs = lambda x: x.items() if isinstance(x, dict) else x
    for out_what, out in pairs(outputs):
        for in_what, source in pairs(inputs):
            if out is not None and source is not None and _same_file(out, source):
                raise Vp3dError(f"{out}: {out_what} would write over {in_what} {source}, which this command reads; "
                                f"give another output")


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:                       # either is missing: nothing there to lose
        return False


def refuse_empty(path: str | Path, what: str) -> None:
    """Vp3dError where `path` is a file of 0 bytes: it is called empty, with what was expected."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise Vp3dError(f"{path}: the file is empty (0 bytes); expected {what}")


def read_json(path: str | Path, what: str, max_bytes: int = MAX_JSON_BYTES):
    """The JSON value in file `path` (loads_json); Vp3dError naming the file and `what` was expected where it
    is missing, longer than max_bytes, or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such file (expected {what})")
    refuse_empty(path, what)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Vp3dError(f"{path}: more than {max_bytes} bytes of JSON, the most read (--max-json-bytes); "
                        f"expected {what}")
    try:
        return loads_json(data)
    except ValueError as e:
        raise Vp3dError(f"{path}: not valid JSON ({e}); expected {what}") from None


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks (bounded memory for any size)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
    except OSError as e:
        raise Vp3dError(f"{path}: cannot read it ({first_line(e)})") from None
    return digest.hexdigest()


def npy_header(f, size: int, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read an .npy header from file object `f` (positioned at its start) holding `size` bytes in all, and
    check that the data it announces fits in what is left: (shape, dtype). A header that claims more
    than the file holds (say 10**10 frames) is refused here, before anything is allocated."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    except (ValueError, OSError) as e:
        raise Vp3dError(f"{where}: not a valid .npy array ({e})") from None
    if not dtype.hasobject:
        needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        left = size - f.tell()
        if needed > left:
            raise Vp3dError(f"{where}: header announces an array of shape {shape} ({needed} bytes), "
                            f"but only {left} bytes follow: truncated or corrupt")
    return shape, dtype


def read_array(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """Read a float32 array of `shape` from .bin (raw), .npy or .txt; one-line error on a size mismatch."""
    path = Path(path)
    expected = int(np.prod(shape))
    if path.suffix == ".npy":
        with open(path, "rb") as f:
            npy_header(f, path.stat().st_size, str(path))
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise Vp3dError(f"{path}: not a readable .npy file ({e})") from None
    elif path.suffix == ".txt":
        try:
            a = np.loadtxt(path, dtype=np.float32, ndmin=1)
        except ValueError as e:
            raise Vp3dError(f"{path}: not a numeric text file ({e})") from None
    else:
        size = path.stat().st_size
        if size != expected * 4:
            raise Vp3dError(f"{path}: {size} bytes, expected {expected * 4} "
                            f"(float32 array of shape {'x'.join(map(str, shape))})")
        a = np.fromfile(path, dtype=np.float32)
    if a.size != expected:
        raise Vp3dError(f"{path}: {a.size} values, expected {expected} "
                        f"(array of shape {'x'.join(map(str, shape))})")
    return a.astype(np.float32, copy=False).reshape(shape)


def list_inputs(input_dir: str | Path) -> list[Path]:
    """The .bin/.npy tensor files of an input directory (ais_bench's --input), sorted; Vp3dError if none."""
    d = Path(input_dir)
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such input directory")
    files = sorted(p for p in d.iterdir() if p.suffix in (".bin", ".npy") and p.is_file())
    if not files:
        raise Vp3dError(f"{d}: no .bin or .npy input files")
    return files


def file_shape(path: str | Path, shape: tuple) -> tuple[int, ...]:
    """`shape` with its one unknown (None) axis, the length L, read off the file's size; a fully known
    shape is checked against the size (Vp3dError naming the file either way), so that a run can refuse a
    wrong file before it writes anything."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            count = int(np.load(path, mmap_mode="r", allow_pickle=False).size)
        except (ValueError, OSError) as e:
            raise Vp3dError(f"{path}: not a readable .npy file ({e})") from None
    else:
        size = path.stat().st_size
        count = size // 4 if size % 4 == 0 else -1
    known = int(np.prod([d for d in shape if d is not None]))
    pattern = "x".join("L" if d is None else str(d) for d in shape)
    if None not in shape:
        if count != known:
            raise Vp3dError(f"{path}: {path.stat().st_size} bytes, expected {known * 4} (float32 array of shape "
                            f"{pattern})")
        return tuple(shape)
    if count <= 0 or count % known:
        raise Vp3dError(f"{path}: {path.stat().st_size} bytes, expected a float32 array of shape {pattern} "
                        f"(a multiple of {known * 4} bytes)")
    return tuple(count // known if d is None else d for d in shape)
