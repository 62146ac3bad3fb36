"""Atomic writes with open()'s permissions, the tensor files the stages exchange, names made safe."""
import numpy as np
import pytest
from conftest import random_model
from vp3d.errors import Vp3dError
from vp3d.model import checkpoint
from vp3d.io.files import file_shape
from vp3d.pipeline.infer import random_input
import json
from pathlib import Path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vp3d.io.files import read_array, write_array
import os
from vp3d.io.files import safe_stem, unique_stems
import stat
from vp3d.io.files import write_json


def test_file_shape_reads_length_off_the_file(tmp_path):
    f = tmp_path / "a.bin"
    np.zeros((2, 30, 17, 2), np.float32).tofile(f)
    assert file_shape(f, (2, None, 17, 2)) == (2, 30, 17, 2)
    assert file_shape(f, (2, 64, 17, 2)) == (2, 64, 17, 2)     # fixed shapes are read_array's to check
    f.write_bytes(b"\0" * 100)
    with pytest.raises(Vp3dError, match=r"a\.bin: 100 bytes, expected a float32 array of shape 2xLx17x2"):
        file_shape(f, (2, None, 17, 2))
    assert random_input((2, None, 17, 2), 40).shape == (2, 40, 17, 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), cut=st.integers(-8, 8),
       suffix=st.sampled_from([".bin", ".npy", ".txt"]))
def test_read_array_returns_the_array_or_a_one_line_error(tmp_path, shape, cut, suffix):
    a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    path = tmp_path / f"x{suffix}"
    write_array(path, a, {".bin": "BIN", ".npy": "NPY", ".txt": "TXT"}[suffix])
    data = path.read_bytes()
    path.write_bytes(data[:len(data) + cut] if cut < 0 else data + b"\x00" * cut)
    try:
        b = read_array(path, tuple(shape))
    except Vp3dError as e:
        assert "\n" not in str(e) and path.name in str(e)
    else:
        assert b.shape == tuple(shape)
        if cut == 0:
            np.testing.assert_allclose(b, a, rtol=1e-6)


def test_safe_stems_are_plain_and_unique():
    assert [safe_stem(n) for n in ("../../x 1", "a/b", "..", "", "Walk-ing_2")] == ["______x_1", "a_b", "__", "_", "Walk-ing_2"]
    assert unique_stems(["a/b", "a b", "a_b", "a_b_2"]) == ["a_b", "a_b_2", "a_b_3", "a_b_2_2"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_written_files_get_0666_minus_umask(tmp_path, umask, mask):
    umask(mask)
    write_array(tmp_path / "a.bin", np.zeros((2, 3), np.float32))
    write_array(tmp_path / "a.npy", np.zeros((2, 3), np.float32), "NPY")
    write_array(tmp_path / "a.txt", np.zeros((2, 3), np.float32), "TXT")
    write_json(tmp_path / "new" / "deeper" / "r.json", {"x": 1})     # folders made on the way
    checkpoint.save(tmp_path / "model.bin", random_model((3,), 8), "conv2d", module_prefix=True)
    for name in ("a.bin", "a.npy", "a.txt", "new/deeper/r.json", "model.bin"):
        assert mode(tmp_path / name) == 0o666 & ~mask, (name, oct(mode(tmp_path / name)))
    for name in ("new", "new/deeper"):
        assert mode(tmp_path / name) == 0o777 & ~mask, (name, oct(mode(tmp_path / name)))
    # what a plain open() makes under the same umask: the same bits
    with open(tmp_path / "plain", "w"):
        pass
    assert mode(tmp_path / "plain") == mode(tmp_path / "a.bin")
    assert not list(tmp_path.glob(".*.tmp"))


def test_rewriting_a_file_keeps_its_own_permissions(tmp_path, umask):
    """As open(path, 'w') on an existing file: the file's mode stays what its owner made it."""
    umask(0o022)
    p = tmp_path / "r.json"
    write_json(p, {"a": 1})
    os.chmod(p, 0o600)
    write_json(p, {"a": 2})
    assert mode(p) == 0o600 and json.loads(p.read_text()) == {"a": 2}
