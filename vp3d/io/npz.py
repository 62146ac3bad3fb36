"""Reading .npz files safely: plain arrays without pickle, object arrays (the dicts upstream's files hold)
by a restricted unpickler that builds only containers, strings, numbers and numpy arrays: a file asking
for any other global is refused before anything in it runs."""
from __future__ import annotations

import io
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.limits import NPZ_INFLATE, NPZ_INFLATE_FLOOR
from vp3d.io.files import npy_header

_SAFE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"), ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def check_inflate(path, info: zipfile.ZipInfo) -> int:
    """The size member `info` of zip file `path` unpacks to; Vp3dError (a zip bomb) where that is more than
    NPZ_INFLATE x its compressed size and NPZ_INFLATE_FLOOR bytes."""
    if info.file_size > max(NPZ_INFLATE * info.compress_size, NPZ_INFLATE_FLOOR):
        raise Vp3dError(f"{path}: '{info.filename.removesuffix('.npy')}' would unpack {info.compress_size} bytes to "
                        f"{info.file_size}, more than {NPZ_INFLATE}x; refused (not data vp3d wrote or reads)")
    return info.file_size


def load_npz_key(path: str | Path, key: str):
    """The object stored under `key` in an .npz file: a plain array, or the dict inside an object array.

    Object arrays are unpickled with only containers, numbers, strings and arrays allowed.
    """
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as z:
            names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
            if key not in names:
                raise Vp3dError(f"{path}: no '{key}' array (has: {', '.join(sorted(names)) or 'nothing'})")
            info = z.getinfo(key + ".npy")
            size = check_inflate(path, info)
            with z.open(key + ".npy") as f:
                shape, dtype = npy_header(f, size, f"{path}: '{key}'")
                if not dtype.hasobject:
                    f.seek(0)
                    try:
                        return np.lib.format.read_array(f, allow_pickle=False)
                    except (ValueError, OSError, EOFError) as e:
                        raise Vp3dError(f"{path}: '{key}' is corrupt ({e})") from None
                raw = io.BytesIO(f.read())
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise Vp3dError(f"{path}: not a readable .npz (zip) file ({e})") from None
    try:
        obj = _RestrictedUnpickler(raw, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise Vp3dError(f"{path}: refused to load '{key}' ({e}); only dicts, lists, numbers, "
                        f"strings and numpy arrays are allowed") from None
    except Exception as e:
        raise Vp3dError(f"{path}: '{key}' is corrupt ({type(e).__name__}: {e})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        return obj.item()
    return obj


def npz_names(path: str | Path) -> list[str]:
    """The array names in an .npz file; Vp3dError when it is not a readable one."""
    try:
        with zipfile.ZipFile(path) as z:
            return [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise Vp3dError(f"{path}: not a readable .npz (zip) file ({e})") from None
