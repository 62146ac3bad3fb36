"""Pose files by suffix: the writer and reader tables, where lifted poses go."""
import numpy as np
import pytest
from vp3d.errors import Vp3dError


def test_writers_refuse_unknown_suffixes_and_other_skeletons(tmp_path):
    from vp3d.io.formats import write_poses
    with pytest.raises(Vp3dError, match=r"unknown output format '.txt' \(expected .npz, .json, .csv, .bvh\)"):
        write_poses(tmp_path / "p.txt", {"a": np.zeros((1, 17, 3))})
    for suffix in (".json", ".csv"):
        with pytest.raises(Vp3dError, match="16 joints, expected the 17"):
            write_poses(tmp_path / f"p{suffix}", {"a": np.zeros((1, 16, 3))})
        assert not (tmp_path / f"p{suffix}").exists()
