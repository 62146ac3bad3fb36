"""Safe .npz reading: plain arrays, object arrays through a restricted unpickler."""
import numpy as np
import pytest
from evil_pickle import Evil

from vp3d.errors import Vp3dError
from vp3d.io.datasets import load_positions_3d


def test_malicious_npz_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d={"S9": {"Walking": Evil(str(marker))}})
    with pytest.raises(Vp3dError, match=r"data_3d_h36m.npz: refused.*forbidden global .*open"):
        load_positions_3d(tmp_path / "data_3d_h36m.npz")
    assert not marker.exists()
