"""The saved-poses .npz: round trip and refusals."""
import numpy as np
import pytest

from vp3d import Vp3dError
from vp3d.poses import read_poses_npz, write_poses_npz


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
