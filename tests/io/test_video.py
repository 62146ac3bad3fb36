"""A video's frame size, read through imageio-ffmpeg from a small video written here."""
import numpy as np
import pytest

from vp3d.errors import Vp3dError
from vp3d.io.video import video_info

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def write_video(path, w, h, frames=3):
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=25, macro_block_size=1)
    writer.send(None)
    for i in range(frames):
        writer.send(np.full((h, w, 3), 40 * i, np.uint8).tobytes())
    writer.close()


@pytest.mark.parametrize("w, h", [(64, 48), (48, 64), (90, 30)])
def test_size_is_width_then_height(tmp_path, w, h):
    write_video(tmp_path / "v.mp4", w, h)
    assert video_info(tmp_path / "v.mp4").size == (w, h)


def test_missing_and_unreadable_videos_are_one_line_naming_the_file(tmp_path):
    with pytest.raises(Vp3dError, match=r"none\.mp4: no such video file"):
        video_info(tmp_path / "none.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 100)
    with pytest.raises(Vp3dError, match=r"bad\.mp4: cannot read the video \(reading its size") as e:
        video_info(tmp_path / "bad.mp4")
    assert "\n" not in str(e.value)
