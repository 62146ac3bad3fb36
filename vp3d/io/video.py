"""What vp3d reads of a video file itself: its frame size (and nothing of its pixels), through imageio-ffmpeg."""
from __future__ import annotations

from pathlib import Path

from vp3d.errors import Vp3dError, needs_extra

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


def image_size_from_video(path: str | Path) -> tuple[int, int]:
    """(w, h) pixels of a video file, from its metadata (needs imageio-ffmpeg: pip install imageio-ffmpeg)."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such video file")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise needs_extra(f"{path}: reading a video's size (or give --image-size W H)", "video", "imageio-ffmpeg") from None
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        w, h = meta["size"]
    except Exception as e:
        raise Vp3dError(f"{path}: cannot read the video's size ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''})") from None
    return int(w), int(h)
