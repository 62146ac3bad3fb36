"""The 2D file a detector run writes (upstream's infer_video_d2.py format + vp3d's metadata): read back by
vp3d's reader and, where VP3D_UPSTREAM names a checkout, by upstream's own prepare_data_2d_custom.py."""
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from vp3d.io.detections import Detections, detections_record, write_detections
from vp3d.io.keypoints import read_keypoints

RECORD = {"video": {"name": "walk.mp4", "bytes": 123, "sha256": "ab" * 32},
          "detector": {"name": "rtmpose", "version": 1, "weights": ["cd" * 32, "ef" * 32], "box_threshold": 0.3}}


def three_frames() -> list[Detections]:
    """Frame 0: two people (the second scored higher), frame 1: none, frame 2: one."""
    rng = np.random.default_rng(0)
    kps = rng.uniform(0, 100, (3, 17, 2)).astype(np.float32)
    scores = rng.uniform(0.5, 1, (3, 17)).astype(np.float32)
    return [Detections(np.array([[0, 0, 50, 90, 0.6], [10, 0, 60, 90, 0.8]], np.float32), kps[:2], scores[:2]),
            Detections.none(),
            Detections(np.array([[5, 0, 55, 90, 0.7]], np.float32), kps[2:], scores[2:])]


def test_written_detections_read_back_with_the_rate_and_the_videos_name(tmp_path):
    frames = three_frames()
    write_detections(tmp_path / "walk.mp4.npz", frames, (160, 120), 29.97, RECORD)
    (best,) = read_keypoints(tmp_path / "walk.mp4.npz")
    assert (best.name, best.image_size, best.fps, best.layout, best.filled) == ("walk", (160, 120), 29.97, "coco", 1)
    np.testing.assert_array_equal(best.keypoints[0], frames[0].keypoints[1])        # the higher-scored person
    np.testing.assert_array_equal(best.keypoints[2], frames[2].keypoints[0])
    np.testing.assert_allclose(best.keypoints[1], (frames[0].keypoints[1] + frames[2].keypoints[0]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(best.scores[2], frames[2].scores[0])
    assert detections_record(tmp_path / "walk.mp4.npz") == RECORD
    assert detections_record(tmp_path / "none.npz") is None
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    assert detections_record(tmp_path / "other.npz") is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert detections_record(tmp_path / "broken.npz") is None


@pytest.mark.skipif(not os.environ.get("VP3D_UPSTREAM"), reason="set VP3D_UPSTREAM to an upstream checkout at 1afb1ca")
def test_upstreams_prepare_data_2d_custom_reads_it_as_its_own(tmp_path, monkeypatch):
    data = Path(os.environ["VP3D_UPSTREAM"]) / "data"
    monkeypatch.syspath_prepend(str(data))
    spec = importlib.util.spec_from_file_location("prepare_data_2d_custom", data / "prepare_data_2d_custom.py")
    upstream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(upstream)
    write_detections(tmp_path / "walk.mp4.npz", three_frames(), (160, 120), 25.0, RECORD)
    [video], metadata = upstream.decode(str(tmp_path / "walk.mp4.npz"))
    assert (metadata["w"], metadata["h"]) == (160, 120)
    np.testing.assert_allclose(video["keypoints"], read_keypoints(tmp_path / "walk.mp4.npz")[0].keypoints, rtol=1e-6)
    sys.modules.pop("data_utils", None)
