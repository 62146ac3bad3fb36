"""What vp3d reads of a video file itself, through imageio-ffmpeg: its frame size and rate (metadata), and
its frames one at a time (renders over the video)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError, needs_extra

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class VideoInfo:
    """A video's frame size (w, h) pixels and frame rate, frames per second."""

    size: tuple[int, int]
    fps: float


def _reader(path: Path, what: str):
    """imageio-ffmpeg's frame generator for `path`, its metadata already read: (generator, metadata)."""
    if not path.is_file():
        raise Vp3dError(f"{path}: no such video file")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise needs_extra(f"{path}: {what}", "video", "imageio-ffmpeg") from None
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        return reader, next(reader)
    except Exception as e:
        raise _unreadable(path, what, e) from None


def _unreadable(path: Path, what: str, e: Exception) -> Vp3dError:
    last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
    return Vp3dError(f"{path}: cannot read the video ({what}; {type(e).__name__}: {last})")


def video_info(path: str | Path) -> VideoInfo:
    """The size and frame rate a video file's metadata give (needs imageio-ffmpeg)."""
    path = Path(path)
    reader, meta = _reader(path, "reading its size and frame rate")
    reader.close()
    try:
        w, h = (int(v) for v in meta["size"])
        fps = float(meta["fps"])
    except (KeyError, TypeError, ValueError):
        raise Vp3dError(f"{path}: the video's metadata give no frame size and rate") from None
    if not (np.isfinite(fps) and fps > 0) or w < 1 or h < 1:
        raise Vp3dError(f"{path}: the video's metadata give a {w}x{h} frame at {fps} fps")
    return VideoInfo((w, h), fps)


def video_frames(path: str | Path, start: int = 0):
    """The video's frames from frame `start` on, one (h, w, 3) uint8 RGB array at a time (streamed: one
    frame in memory); frames before `start` are decoded and dropped (exact, where seeking is not)."""
    path = Path(path)
    reader, meta = _reader(path, "reading its frames")
    w, h = (int(v) for v in meta["size"])
    try:
        for i, raw in enumerate(reader):
            if i >= start:
                yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    except Exception as e:
        raise _unreadable(path, "reading its frames", e) from None
    finally:
        reader.close()
