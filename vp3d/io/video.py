"""What vp3d reads of a video file or a camera itself, through imageio-ffmpeg: the frame size and rate
(metadata), and the frames one at a time (detection, renders over the video); `prefetched` decodes them on
a background thread, a few frames ahead of the consumer."""
from __future__ import annotations

import queue
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from vp3d.errors import Vp3dError, needs_extra

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
PREFETCH = 4          # decoded frames held ahead of the consumer (bounded memory: 4 x 6 MB at 1080p)


def is_video(path: str | Path) -> bool:
    """Whether `path` names a video (by its suffix, VIDEO_SUFFIXES), not a keypoint file."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoInfo:
    """A video's frame size (w, h) pixels, frame rate (frames per second), and its frame count as the
    metadata estimate it (duration x rate; None where unknown, e.g. a camera)."""

    size: tuple[int, int]
    fps: float
    frames: int | None = None


def _reader(source: str, what: str, input_params: list[str] | None = None):
    """imageio-ffmpeg's frame generator for `source` (a file, or a camera device with its input_params), its
    metadata already read: (generator, metadata)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise needs_extra(f"{source}: {what}", "video", "imageio-ffmpeg") from None
    try:
        reader = imageio_ffmpeg.read_frames(source, input_params=input_params)
        return reader, next(reader)
    except Exception as e:
        raise _unreadable(source, what, e) from None


def _unreadable(source, what: str, e: Exception) -> Vp3dError:
    last = str(e).strip().splitlines()[-1] if str(e).strip() else ""
    return Vp3dError(f"{source}: cannot read the video ({what}; {type(e).__name__}: {last})")


def _info(source, meta: dict) -> VideoInfo:
    """The VideoInfo of imageio-ffmpeg's metadata; Vp3dError naming `source` where it gives no size or rate."""
    try:
        w, h = (int(v) for v in meta["size"])
        fps = float(meta["fps"])
    except (KeyError, TypeError, ValueError):
        raise Vp3dError(f"{source}: the video's metadata give no frame size and rate") from None
    if not (np.isfinite(fps) and fps > 0) or w < 1 or h < 1:
        raise Vp3dError(f"{source}: the video's metadata give a {w}x{h} frame at {fps} fps")
    duration = meta.get("duration")
    frames = int(round(float(duration) * fps)) if isinstance(duration, (int, float)) and duration > 0 else None
    return VideoInfo((w, h), fps, frames)


def _file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such video file")
    return path


def video_info(path: str | Path) -> VideoInfo:
    """The size and frame rate a video file's metadata give (needs imageio-ffmpeg)."""
    path = _file(path)
    reader, meta = _reader(str(path), "reading its size and frame rate")
    reader.close()
    return _info(path, meta)


def _frames(source, reader, meta: dict, start: int = 0) -> Iterator[np.ndarray]:
    w, h = (int(v) for v in meta["size"])
    try:
        for i, raw in enumerate(reader):
            if i >= start:
                yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    except Exception as e:
        raise _unreadable(source, "reading its frames", e) from None
    finally:
        reader.close()


def video_frames(path: str | Path, start: int = 0) -> Iterator[np.ndarray]:
    """The video's frames from frame `start` on, one (h, w, 3) uint8 RGB array at a time (streamed: one
    frame in memory); frames before `start` are decoded and dropped (exact, where seeking is not)."""
    path = _file(path)
    reader, meta = _reader(str(path), "reading its frames")
    return _frames(path, reader, meta, start)


def camera_input(index: int, platform: str = sys.platform) -> tuple[str, list[str]]:
    """ffmpeg's input and input options for camera `index` on this platform: Video4Linux2's /dev/video<N> on
    Linux, AVFoundation's device N on macOS; Vp3dError elsewhere (DirectShow names devices, not numbers)."""
    if platform.startswith("linux"):
        return f"/dev/video{index}", ["-f", "v4l2"]
    if platform == "darwin":
        return str(index), ["-f", "avfoundation", "-framerate", "30"]
    raise Vp3dError(f"--camera {index}: cameras are read on Linux (v4l2) and macOS (avfoundation); on "
                    f"{platform}, record to a file and lift that")


def camera_frames(index: int) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """(the camera's size and rate, its frames as video_frames gives a file's: endless until closed)."""
    source, params = camera_input(index)
    reader, meta = _reader(source, f"opening camera {index}", params)
    try:
        info = _info(source, meta)
    except Vp3dError:
        reader.close()
        raise
    return VideoInfo(info.size, info.fps), _frames(source, reader, meta)


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def prefetched(items: Iterator, depth: int = PREFETCH) -> Iterator:
    """`items` (e.g. video_frames), produced on a background thread at most `depth` ahead of the consumer,
    so decoding overlaps the consumer's work; an error in the producer is raised in the consumer. Closing
    this generator early stops the producer and closes `items` (in the producer's thread, where it runs)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as e:          # raised again in the consumer
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            put(_END)

    thread = threading.Thread(target=produce, name="vp3d-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()

