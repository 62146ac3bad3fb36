"""Atomic writes with open()'s permissions, the tensor files the stages exchange, names made safe."""
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from random_models import random_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vp3d.errors import Vp3dError
from vp3d.io.files import (
    atomic_path,
    file_shape,
    list_inputs,
    read_array,
    read_json,
    safe_stem,
    unique_stems,
    write_array,
    write_json,
)
from vp3d.model import checkpoint
from vp3d.pipeline.infer import random_input


def test_file_shape_reads_length_off_the_file(tmp_path):
    f = tmp_path / "a.bin"
    np.zeros((2, 30, 17, 2), np.float32).tofile(f)
    assert file_shape(f, (2, None, 17, 2)) == (2, 30, 17, 2)
    assert file_shape(f, (2, 30, 17, 2)) == (2, 30, 17, 2)
    with pytest.raises(Vp3dError, match=r"a\.bin: 8160 bytes, expected 17408 \(float32 array of shape 2x64x17x2\)"):
        file_shape(f, (2, 64, 17, 2))                          # a fixed shape is checked against the size too
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


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    """An exception inside atomic_path: the final name keeps its old content (or never appears), and the
    temporary is gone."""
    old = tmp_path / "r.json"
    write_json(old, {"a": 1})
    for path in (old, tmp_path / "new" / "x.bin"):
        with pytest.raises(RuntimeError, match="interrupted"):
            with atomic_path(path) as tmp:
                tmp.write_bytes(b"half of it")
                raise RuntimeError("interrupted")
    assert json.loads(old.read_text()) == {"a": 1} and not (tmp_path / "new" / "x.bin").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != old]
    with pytest.raises(ValueError, match="unknown output format 'XYZ'"):
        write_array(old, np.zeros(3), "XYZ")
    assert json.loads(old.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["new", "r.json"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_stems_made_from_any_names_stay_in_the_folder_and_apart(tmp_path, names):
    stems = unique_stems(names)
    assert len(stems) == len(names) and len(set(stems)) == len(stems)
    for stem in stems:
        assert stem and re.fullmatch(r"[\w-]+", stem) and stem not in (".", "..")
        assert (tmp_path / f"{stem}.npz").resolve().parent == tmp_path.resolve()
    if len({safe_stem(n) for n in names}) == len(names):
        assert stems == [safe_stem(n) for n in names]              # no clash: the plain safe stems


def test_list_inputs_and_read_json_errors_name_the_file(tmp_path):
    with pytest.raises(Vp3dError, match=r"nope: no such input directory"):
        list_inputs(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub.bin").mkdir()                                   # a folder is not an input file
    with pytest.raises(Vp3dError, match=rf"{tmp_path}: no \.bin or \.npy input files"):
        list_inputs(tmp_path)
    (tmp_path / "b.bin").write_bytes(b"")
    (tmp_path / "a.npy").write_bytes(b"")
    assert list_inputs(tmp_path) == [tmp_path / "a.npy", tmp_path / "b.bin"]
    with pytest.raises(Vp3dError, match=r"none\.json: no such file \(expected a manifest\)"):
        read_json(tmp_path / "none.json", "a manifest")
    (tmp_path / "bad.json").write_text("{1: 2}")
    with pytest.raises(Vp3dError, match=r"bad\.json: not valid JSON .*; expected a manifest"):
        read_json(tmp_path / "bad.json", "a manifest")


def test_file_shape_of_npy_and_bad_files(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 7, 17, 2), np.float32))
    assert file_shape(tmp_path / "a.npy", (2, None, 17, 2)) == (2, 7, 17, 2)
    (tmp_path / "b.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(Vp3dError, match=r"b\.npy: not a readable \.npy file"):
        file_shape(tmp_path / "b.npy", (2, None, 17, 2))
    (tmp_path / "c.bin").write_bytes(b"\0" * 6)                      # not whole float32 values
    with pytest.raises(Vp3dError, match=r"c\.bin: 6 bytes, expected a float32 array of shape 2xLx17x2 \(a multiple of 272 bytes\)"):
        file_shape(tmp_path / "c.bin", (2, None, 17, 2))
