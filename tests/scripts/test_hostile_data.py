"""Crafted data files through the stage scripts: names that try to become paths, non-finite numbers,
lying .npy headers, truncated and random files. Each gives exit 2 with one line naming the file,
writes nothing outside the output it was given, and loses nothing already written."""
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from h36m_data import KEYPOINTS_SYMMETRY, make_positions
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import safe_stem
from vp3d.model import checkpoint
from vp3d.pipeline.sequences import Manifest


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write_data(d: Path, pos3d, pos2d):
    d.mkdir(parents=True, exist_ok=True)
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY}
    np.savez(d / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=pos2d, metadata=meta)
    return d


HOSTILE = ["../../../x 1", "a/b", "/etc/passwd", "Walking", "Walking 1", "..", "名字 2", "tab\tand\nnewline"]


def test_names_from_data_never_choose_where_we_write(tmp_path, capsys):
    pos3d, pos2d = make_positions({"S9": HOSTILE}, seed=2, frames=(30, 40))
    data = write_data(tmp_path / "work" / "data", pos3d, pos2d)
    sentinel = tmp_path / "x.bin"
    sentinel.write_bytes(b"keep me")
    before = tree(tmp_path)
    out = tmp_path / "work" / "out"
    assert vp3d_preprocess.main(["-d", str(data), "-s", str(out), "--subjects-test", "S9", "-arc", "3,3",
                                 "--max-length", "60"]) == 0
    after = tree(tmp_path)
    new = {k for k in after if k not in before}
    assert all(k.startswith("work/out/") for k in new), sorted(new)            # nothing outside the output
    assert {k: after[k] for k in before} == before                             # nothing overwritten
    m = Manifest.read(out)
    assert len(m.entries) == 4 * len(HOSTILE)                                  # every sequence has its own file
    assert len({e.name for e in m.entries}) == len(m.entries)
    assert len(list((out / "inputs").iterdir())) == len(list((out / "ground_truths").iterdir())) == len(m.entries)
    assert {e.action for e in m.entries} == set(HOSTILE)                       # originals kept for the report
    assert all(e.name == safe_stem(e.name) for e in m.entries)
    # the names come back through inference and the report groups by the original names
    checkpoint.save(tmp_path / "m.bin", random_model((3, 3), 16))
    assert vp3d_pth2onnx.main(["-m", str(tmp_path / "m.bin"), "-o", str(tmp_path / "m.onnx"), "--length", "60"]) == 0
    assert vp3d_infer.main(["--model", str(tmp_path / "m.onnx"), "--input", str(out / "inputs"),
                            "--output", str(tmp_path / "res"), "--output_dirname", "r"]) == 0
    assert vp3d_postprocess.main(["--preprocess-data", str(out), "--infer-results", str(tmp_path / "res" / "r"),
                                  "--json", str(tmp_path / "r.json")]) == 0
    groups = json.loads((tmp_path / "r.json").read_text())["actions"]
    assert set(groups) == {a.split(" ")[0] for a in HOSTILE}


def test_manifest_entry_that_names_a_path_is_refused(tmp_path, capsys):
    pos3d, pos2d = make_positions({"S9": ["Walking"]}, seed=1)
    out = tmp_path / "prep"
    assert vp3d_preprocess.main(["-d", str(write_data(tmp_path / "d", pos3d, pos2d)), "-s", str(out),
                                 "--subjects-test", "S9", "-arc", "3,3"]) == 0
    capsys.readouterr()
    m = json.loads((out / "manifest.json").read_text())
    m["entries"][0]["name"] = "../../escape"
    (out / "manifest.json").write_text(json.dumps(m))
    rc = vp3d_postprocess.main(["--preprocess-data", str(out), "--infer-results", str(tmp_path)])
    one_line_error(capsys, rc, "manifest.json", "not a plain file stem")


@pytest.mark.parametrize("where", ["3d", "2d"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_inputs_name_file_sequence_and_frame(tmp_path, capsys, where, value):
    pos3d, pos2d = make_positions({"S9": ["Walking", "Greeting"]}, seed=3)
    if where == "3d":
        pos3d["S9"]["Greeting"][7, 5, 1] = value
        fragments = ["data_3d_h36m.npz: S9 'Greeting' has non-finite 3D positions, first at frame 7"]
    else:
        pos2d["S9"]["Greeting"][2][9, 3, 0] = value
        fragments = ["data_2d_h36m_cpn_ft_h36m_dbb.npz: S9 'Greeting' camera 2 has non-finite keypoints, first at frame 9"]
    rc = vp3d_preprocess.main(["-d", str(write_data(tmp_path / "d", pos3d, pos2d)), "-s", str(tmp_path / "out"),
                               "--subjects-test", "S9", "-arc", "3,3"])
    one_line_error(capsys, rc, *fragments)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    pos3d, pos2d = make_positions({"S9": ["Walking", "Greeting"]}, seed=3)
    write_data(d / "data", pos3d, pos2d)
    assert vp3d_preprocess.main(["-d", str(d / "data"), "-s", str(d / "prep"), "--subjects-test", "S9", "-arc", "3,3",
                                 "--max-length", "110"]) == 0
    checkpoint.save(d / "m.bin", random_model((3, 3), 16))
    assert vp3d_pth2onnx.main(["-m", str(d / "m.bin"), "-o", str(d / "m.onnx"), "--length", "110"]) == 0
    assert vp3d_infer.main(["--model", str(d / "m.onnx"), "--input", str(d / "prep" / "inputs"),
                            "--output", str(d / "res"), "--output_dirname", "r", "--outfmt", "NPY"]) == 0
    return d


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_prediction_names_file_sequence_and_frame(run, tmp_path, capsys, value):
    (tmp_path / "res").mkdir()
    for p in (run / "res" / "r").iterdir():
        a = np.load(p)
        if p.name.startswith("006_"):
            a[1, 12, 4, 2] = value
        np.save(tmp_path / "res" / p.name, a)
    m = Manifest.read(run / "prep")
    e = next(e for e in m.entries if e.name.startswith("006_"))
    rc = vp3d_postprocess.main(["--preprocess-data", str(run / "prep"), "--infer-results", str(tmp_path / "res"),
                                "--json", str(tmp_path / "out.json")])
    one_line_error(capsys, rc, f"006_{e.group}_0.npy: non-finite prediction for S9 '{e.action}' camera {e.camera}, first at frame 12")
    assert not (tmp_path / "out.json").exists()


def _lying_npy(shape_claimed, data: np.ndarray) -> bytes:
    """An .npy whose header claims `shape_claimed` but holds only `data`."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(data.dtype),
                                             "fortran_order": False, "shape": shape_claimed})
    return f.getvalue() + data.tobytes()


def test_lying_npy_header_inside_an_npz_is_refused_before_allocating(tmp_path, capsys):
    d = tmp_path / "d"
    pos3d, pos2d = make_positions({"S9": ["Walking"]}, seed=1)
    write_data(d, pos3d, pos2d)
    with zipfile.ZipFile(d / "data_3d_h36m.npz", "w") as z:     # a plain array claiming 10**10 frames
        z.writestr("positions_3d.npy", _lying_npy((10 ** 10, 32, 3), np.zeros((5, 32, 3), np.float32)))
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(tmp_path / "out"), "--subjects-test", "S9", "-arc", "3,3"])
    one_line_error(capsys, rc, "data_3d_h36m.npz: 'positions_3d': header announces an array of shape (10000000000, 32, 3)",
             "only 1920 bytes follow")


def test_lying_npy_prediction_is_refused(run, tmp_path, capsys):
    (tmp_path / "res").mkdir()
    for p in (run / "res" / "r").iterdir():
        (tmp_path / "res" / p.name).write_bytes(p.read_bytes())
    victim = sorted((tmp_path / "res").iterdir())[0]
    victim.write_bytes(_lying_npy((10 ** 9, 17, 3), np.zeros((3, 17, 3), np.float32)))
    rc = vp3d_postprocess.main(["--preprocess-data", str(run / "prep"), "--infer-results", str(tmp_path / "res")])
    one_line_error(capsys, rc, f"{victim.name}: header announces an array of shape (1000000000, 17, 3)")


@pytest.mark.parametrize("kind", ["truncated", "random", "empty"])
@pytest.mark.parametrize("which", ["data_3d_h36m.npz", "data_2d_h36m_cpn_ft_h36m_dbb.npz"])
def test_truncated_and_random_npz_files(tmp_path, capsys, kind, which):
    pos3d, pos2d = make_positions({"S9": ["Walking"]}, seed=1)
    d = write_data(tmp_path / "d", pos3d, pos2d)
    raw = (d / which).read_bytes()
    bad = {"truncated": raw[: len(raw) // 2], "random": np.random.default_rng(0).bytes(4096), "empty": b""}[kind]
    (d / which).write_bytes(bad)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(out), "--subjects-test", "S9", "-arc", "3,3", "--force"])
    one_line_error(capsys, rc, which)
    assert (out / "keep.txt").read_text() == "mine"                     # a refused run loses nothing


@pytest.mark.parametrize("kind", ["truncated", "random"])
def test_truncated_and_random_checkpoints_and_models(run, tmp_path, capsys, kind):
    for name in ("m.bin", "m.onnx"):
        raw = (run / name).read_bytes()
        (tmp_path / name).write_bytes(raw[: len(raw) // 3] if kind == "truncated" else os.urandom(2048))
    one_line_error(capsys, vp3d_pth2onnx.main(["-m", str(tmp_path / "m.bin"), "-o", str(tmp_path / "o.onnx")]), "m.bin")
    assert not (tmp_path / "o.onnx").exists()
    rc = vp3d_infer.main(["--model", str(tmp_path / "m.onnx"), "--input", str(run / "prep" / "inputs"),
                          "--output", str(tmp_path / "res")])
    one_line_error(capsys, rc, "m.onnx")
