"""Detector weights: OpenMMLab's published ONNX files, fetched once into the user's cache, and the files a
user gives (--detector-weights), read the same way.

OpenMMLab publishes each model exported by MMDeploy as an `onnx_sdk` zip (the URLs rtmlib fetches):
`<name>/end2end.onnx` beside `pipeline.json` (the SDK's preprocessing: resize, pad, normalisation and
channel order, the box threshold; for RTMPose the crop padding and SimCC split ratio) and deploy/detail
JSON. No checksum of the zips is published (the 8 hex digits in the names are of the PyTorch
checkpoints), so a fetch is checked by what can be known: the zip's own CRC-32s, its one end2end.onnx,
and that file's input and output signature (the caller's check); the sha256 of the zip is recorded
beside it on first fetch and checked on every later use, so a cached file that changed is refused.

A fetch goes to a temporary name in the cache folder and is renamed only once complete and checked: a
half-fetched or corrupt zip is never used, and never left behind.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vp3d.errors import Vp3dError, first_line
from vp3d.io.files import atomic_path, current_umask, file_sha256

_SDK = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"
# --detector-size -> (person detector zip, RTMPose zip): YOLOX trained on Human-Art + COCO (person boxes,
# 640x640), RTMPose trained on 7 public body datasets (COCO-17 keypoints, 256x192)
PUBLISHED = {
    "s": (_SDK + "yolox_s_8xb8-300e_humanart-3ef259a7.zip",
          _SDK + "rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504.zip"),
    "m": (_SDK + "yolox_m_8xb8-300e_humanart-c2c7a14a.zip",
          _SDK + "rtmpose-m_simcc-body7_pt-body7_420e-256x192-e48f03d0_20230504.zip"),
    "l": (_SDK + "yolox_l_8xb8-300e_humanart-ce1d7a62.zip",
          _SDK + "rtmpose-l_simcc-body7_pt-body7_420e-256x192-4dba18fc_20230504.zip"),
}
DEFAULT_SIZE = "m"
ONNX_NAME = "end2end.onnx"
PIPELINE_NAME = "pipeline.json"
TIMEOUT = 30            # seconds without an answer before a fetch gives up


@dataclass(frozen=True)
class ModelFile:
    """One ONNX model as given or fetched: where it came from (a path or a zip), its bytes, the SDK
    pipeline.json beside it (None where there is none), and the sha256 of the file given (the .onnx or
    the .zip): what identifies the weights in a 2D file's record."""

    where: str
    onnx: bytes
    pipeline: dict | None
    sha256: str


def cache_dir() -> Path:
    """Where fetched weights go: $VP3D_CACHE, else $XDG_CACHE_HOME/vp3d, else ~/.cache/vp3d."""
    if os.environ.get("VP3D_CACHE"):
        return Path(os.environ["VP3D_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "vp3d"


def _zip_members(path: Path, where: str) -> tuple[bytes, dict | None]:
    """(end2end.onnx's bytes, pipeline.json beside it or None) of an onnx_sdk zip; Vp3dError where the zip is
    unreadable, fails its CRC-32s, or holds no single end2end.onnx."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise Vp3dError(f"{where}: {bad} in the zip fails its CRC check (a damaged file)")
            onnx = [n for n in z.namelist() if Path(n).name == ONNX_NAME]
            if len(onnx) != 1:
                raise Vp3dError(f"{where}: holds {len(onnx)} {ONNX_NAME} files, expected one (an OpenMMLab "
                                f"onnx_sdk zip)")
            pipeline = str(Path(onnx[0]).with_name(PIPELINE_NAME))
            return z.read(onnx[0]), (_pipeline(z.read(pipeline), where) if pipeline in z.namelist() else None)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise Vp3dError(f"{where}: not a readable zip ({first_line(e)})") from None


def _pipeline(data: bytes, where: str) -> dict:
    try:
        pipeline = json.loads(data)
        if not isinstance(pipeline.get("pipeline", {}).get("tasks"), list):
            raise ValueError("no pipeline.tasks list")
        return pipeline
    except (ValueError, AttributeError) as e:
        raise Vp3dError(f"{where}: unreadable {PIPELINE_NAME} ({first_line(e)})") from None


def read_model(path: str | Path) -> ModelFile:
    """A model file a user gives: an .onnx (with the pipeline.json in its folder, where there is one: an
    unpacked onnx_sdk zip) or an onnx_sdk .zip as published."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such detector weights file (expected an .onnx or an OpenMMLab onnx_sdk .zip)")
    if path.suffix.lower() == ".zip":
        onnx, pipeline = _zip_members(path, str(path))
    elif path.suffix.lower() == ".onnx":
        onnx = path.read_bytes()
        beside = path.with_name(PIPELINE_NAME)
        pipeline = _pipeline(beside.read_bytes(), str(beside)) if beside.is_file() else None
    else:
        raise Vp3dError(f"{path}: detector weights must be an .onnx file or an OpenMMLab onnx_sdk .zip")
    return ModelFile(str(path), onnx, pipeline, file_sha256(path))


def cached_model(url: str, check: Callable[[ModelFile], None], progress: bool | None = None,
                 folder: Path | None = None) -> ModelFile:
    """The published zip at `url` from the cache (folder, default cache_dir()/'detectors'), fetched first
    where it is not there: checked (_zip_members, then check(model): its signature) before it is kept, its
    sha256 recorded beside it (<zip>.sha256) and compared on every later use."""
    folder = Path(folder) if folder is not None else cache_dir() / "detectors"
    path = folder / url.rsplit("/", 1)[-1]
    record = path.with_name(path.name + ".sha256")
    if not path.is_file():
        fetch(url, path, check, progress)
    digest = file_sha256(path)
    if record.is_file() and record.read_text().split()[:1] != [digest]:
        raise Vp3dError(f"{path}: its sha256 {digest[:12]}... differs from the one recorded when it was fetched "
                        f"({record}); delete both to fetch it again")
    onnx, pipeline = _zip_members(path, str(path))
    model = ModelFile(str(path), onnx, pipeline, digest)
    if not record.is_file():
        with atomic_path(record) as tmp:
            tmp.write_text(f"{digest}  {path.name}\n")
    return model


def fetch(url: str, path: Path, check: Callable[[ModelFile], None], progress: bool | None = None) -> None:
    """Fetch `url` to `path`: into a temporary file beside it (a tqdm bar of bytes), checked (the zip's CRCs
    and one end2end.onnx, then check(model)), renamed to `path` only then; Vp3dError naming the URL and
    --detector-weights where it cannot be fetched, or naming what is wrong with what came."""
    from tqdm import tqdm
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]     # removed again on failure
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "vp3d"})
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                    size = answer.headers.get("Content-Length")
                    with tqdm(total=int(size) if size else None, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=f"fetch {path.name}", disable=None if progress is None else not progress,
                              leave=False) as bar:
                        while block := answer.read(1 << 16):
                            out.write(block)
                            bar.update(len(block))
                    if size and out.tell() != int(size):
                        raise Vp3dError(f"{url}: the transfer ended after {out.tell()} of {size} bytes (nothing "
                                        f"kept); run again, or give --detector-weights DET POSE")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                reason = getattr(e, "reason", None) or e
                raise Vp3dError(f"cannot fetch {url} ({first_line(reason) if isinstance(reason, BaseException) else reason}); "
                                f"without internet, fetch it on another machine and give the files with "
                                f"--detector-weights DET POSE") from None
        onnx, pipeline = _zip_members(Path(tmp), url)
        check(ModelFile(url, onnx, pipeline, file_sha256(tmp)))
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
        done = True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        for folder in made if not done else ():
            with contextlib.suppress(OSError):
                folder.rmdir()
