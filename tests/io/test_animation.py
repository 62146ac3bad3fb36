"""Animation files by suffix: GIF through Pillow, MP4 through imageio-ffmpeg's ffmpeg; written atomically."""
import numpy as np
import pytest
from PIL import Image

from vp3d.errors import Vp3dError
from vp3d.io.animation import check_output, write_animation


def frames(n, size=(48, 32)):
    """n palette frames: a white square moving right on black, one step a frame."""
    for i in range(n):
        rgb = np.zeros((size[1], size[0], 3), np.uint8)
        rgb[8:16, 2 + 3 * i:10 + 3 * i] = 255
        yield Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)


def test_gif_holds_every_frame_at_the_frame_rate(tmp_path):
    write_animation(tmp_path / "a.gif", frames(7), fps=25)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 7 and im.size == (48, 32)
        got = []
        for i in range(7):
            im.seek(i)
            got.append(np.asarray(im.convert("L")))
            assert im.info["duration"] == 40                        # 25 fps: 4 centiseconds
    for i, g in enumerate(got):                                     # the square where frame i put it
        cols = np.nonzero(g[12] > 128)[0]
        assert (cols.min(), cols.max()) == (2 + 3 * i, 9 + 3 * i)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


def test_mp4_holds_every_frame(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    write_animation(tmp_path / "a.mp4", frames(9), fps=10)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "a.mp4"))
    meta = next(reader)
    assert tuple(meta["size"]) == (48, 32) and meta["fps"] == 10
    assert sum(1 for _ in reader) == 9


@pytest.mark.parametrize("name", ["a.avi", "a.png", "a"])
def test_unknown_suffix_is_refused_and_nothing_written(tmp_path, name):
    with pytest.raises(Vp3dError, match=r"unknown animation format \(expected .gif or .mp4\)"):
        write_animation(tmp_path / name, frames(2), fps=10)
    with pytest.raises(Vp3dError):
        check_output(tmp_path / name)
    assert not list(tmp_path.iterdir())
    assert check_output(tmp_path / "A.GIF") == tmp_path / "A.GIF"
