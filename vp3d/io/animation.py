"""Animation files: frames (PIL palette images) streamed into a GIF (Pillow) or an MP4 (the ffmpeg binary the
imageio-ffmpeg wheel carries), chosen by the output's suffix; written atomically."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError, needs_extra
from vp3d.facts.limits import ANIMATION_FPS
from vp3d.io.files import atomic_path



def write_gif(path: Path, frames, fps: float) -> None:
    """Stream palette frames into a looping GIF through Pillow's GIF encoder, one frame at a time (memory
    stays flat however long the clip): each frame stores only the box that changed since the last one."""
    from PIL import GifImagePlugin
    first = next(frames)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        header, _ = GifImagePlugin.getheader(first, info={"loop": 0})
        f.write(b"".join(header))
        previous = None
        for im, delay in zip(itertools.chain([first], frames), gif_delays(fps)):
            pixels = np.asarray(im)
            if previous is None:
                box = (0, 0, *im.size)
            else:
                changed = pixels != previous
                rows, cols = np.nonzero(changed.any(axis=1))[0], np.nonzero(changed.any(axis=0))[0]
                box = (0, 0, 1, 1) if not len(rows) else \
                    (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            f.write(b"".join(GifImagePlugin.getdata(im.crop(box), offset=box[:2], duration=delay, disposal=1)))
            previous = pixels
        f.write(b";")


def gif_delays(fps: float):
    """Each frame's GIF delay in ms, whole centiseconds (what GIF stores) that keep the clock: frame i ends at
    round(100 (i + 1) / fps) cs, so 30 fps alternates 30 and 40 ms (33.3 ms a frame on average) and a clip plays
    in its own time; at least 20 ms (viewers slow down shorter delays: above 50 fps a GIF plays slower)."""
    shown = 0
    for i in itertools.count(1):
        end = max(round(100 * i / fps), shown + 2)
        yield 10 * (end - shown)
        shown = end


def write_mp4(path: Path, frames, fps: float) -> None:
    """Pipe RGB frames to the ffmpeg binary of the imageio-ffmpeg wheel: H.264, yuv420p (plays anywhere)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise needs_extra(f"{path}: writing MP4", "render", "imageio-ffmpeg") from None
    first = next(frames)
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), first.size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=None, bitrate=None,
            macro_block_size=16, output_params=["-f", "mp4", "-crf", "20", "-preset", "veryfast"])
        writer.send(None)
        try:
            writer.send(np.asarray(first.convert("RGB")).tobytes())
            for im in frames:
                writer.send(np.asarray(im.convert("RGB")).tobytes())
        finally:
            writer.close()


ANIMATION_WRITERS = {".gif": write_gif, ".mp4": write_mp4}


def check_output(path: str | Path) -> Path:
    """The output path, if its suffix names a known animation format; Vp3dError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in ANIMATION_WRITERS:
        raise Vp3dError(f"{path}: unknown animation format (expected {' or '.join(ANIMATION_WRITERS)})")
    return path


def write_animation(path: str | Path, frames, fps: float) -> None:
    """Write the frames (an iterator of PIL images) to `path` in the format its suffix names, at `fps` frames
    per second (ANIMATION_FPS: a GIF frame shows for at most 655 s; --fps 1e-300 overflowed its delay)."""
    path = check_output(path)
    low, high = ANIMATION_FPS
    if not low <= fps <= high:
        raise Vp3dError(f"{path}: an animation at {fps:g} fps; expected {low:g} to {high:g} frames per second (--fps)")
    ANIMATION_WRITERS[path.suffix.lower()](path, frames, fps)
