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


def test_prefetched_keeps_order_raises_the_producers_error_and_stops_when_closed():
    from vp3d.io.video import prefetched
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise Vp3dError("clip.mp4: cannot read the video (frame 2)")
    got = []
    with pytest.raises(Vp3dError, match="frame 2"):
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1]
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)
    stream = prefetched(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()                                   # the producer stops and closes its source
    assert closed == [True]


def test_frames_and_the_estimated_count(tmp_path):
    from vp3d.io.video import video_frames
    write_video(tmp_path / "v.mp4", 64, 48, frames=6)
    info = video_info(tmp_path / "v.mp4")
    assert (info.size, info.fps, info.frames) == ((64, 48), 25.0, 6)
    frames = list(video_frames(tmp_path / "v.mp4"))
    assert len(frames) == 6 and frames[3].shape == (48, 64, 3)
    assert abs(int(frames[3].mean()) - 120) <= 2


def test_cameras_are_ffmpegs_v4l2_or_avfoundation_devices():
    from vp3d.io.video import camera_input
    assert camera_input(2, "linux") == ("/dev/video2", ["-f", "v4l2"])
    assert camera_input(0, "darwin")[0] == "0" and "avfoundation" in camera_input(0, "darwin")[1]
    with pytest.raises(Vp3dError, match="--camera 1: cameras are read on Linux"):
        camera_input(1, "win32")
