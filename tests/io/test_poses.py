"""The saved-poses .npz: round trip and refusals."""
import numpy as np
import pytest

from vp3d.errors import Vp3dError
from vp3d.io.poses import read_poses_npz, write_poses_npz


def test_round_trip_keeps_names_and_float32(tmp_path):
    poses = {"001_Directions": np.random.default_rng(0).normal(size=(5, 17, 3)), "clip": np.zeros((1, 17, 3))}
    write_poses_npz(tmp_path / "p.npz", poses)
    back = read_poses_npz(tmp_path / "p.npz")
    assert list(back) == list(poses) and all(v.dtype == np.float32 for v in back.values())
    np.testing.assert_allclose(back["001_Directions"], poses["001_Directions"], rtol=1e-6)


@pytest.mark.parametrize("bad,fragment", [(np.zeros((5, 17, 2)), "shape"), (np.full((3, 17, 3), np.nan), "frame 0")])
def test_bad_arrays_are_refused_naming_file_and_key(tmp_path, bad, fragment):
    np.savez(tmp_path / "p.npz", clip=bad)
    with pytest.raises(Vp3dError, match=fragment) as e:
        read_poses_npz(tmp_path / "p.npz")
    assert "p.npz" in str(e.value) and "'clip'" in str(e.value)
    with pytest.raises(Vp3dError):
        write_poses_npz(tmp_path / "q.npz", {"clip": bad})
    assert not (tmp_path / "q.npz").exists()


@pytest.mark.parametrize("block", [2048, 3])      # text writers format a block of frames at a time
def test_each_writer_keeps_every_value_and_name(tmp_path, monkeypatch, block):
    import csv
    import json

    from vp3d.io import poses as poses_module
    from vp3d.io.formats import WRITERS, write_poses
    monkeypatch.setattr(poses_module, "BLOCK_FRAMES", block)
    rng = np.random.default_rng(1)
    poses = {"file": rng.normal(size=(7, 17, 3)).astype(np.float32),          # np.savez's own argument names
             "allow_pickle": rng.normal(size=(2, 17, 3)).astype(np.float32) * 1e-6,
             'a "quoted",/name': rng.normal(size=(1, 17, 3)).astype(np.float32) * 1e3}
    names = ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax", "Neck/Nose", "Head",
             "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist"]
    assert sorted(WRITERS) == [".bvh", ".csv", ".json", ".npz"]
    for suffix in (".npz", ".json", ".csv"):
        write_poses(tmp_path / f"p{suffix}", poses)
    back_npz = read_poses_npz(tmp_path / "p.npz")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert (doc["joints"], doc["units"], doc["frame"]) == (names, "m", "camera")
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["video", "frame", "joint", "x", "y", "z"] and len(rows) == 1 + 10 * 17
    for name, p in poses.items():
        np.testing.assert_array_equal(back_npz[name], p)
        np.testing.assert_array_equal(np.asarray(doc["videos"][name]["poses"], np.float32), p)   # exact float32
        mine = [r for r in rows[1:] if r[0] == name]
        assert [r[2] for r in mine[:17]] == names and [int(r[1]) for r in mine[::17]] == list(range(len(p)))
        np.testing.assert_array_equal(np.asarray([r[3:] for r in mine], np.float32).reshape(p.shape), p)


