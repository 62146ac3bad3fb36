"""Bad and malicious input: one stderr line naming the file, exit code 2, nothing run, nothing lost."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from evil_pickle import Evil
from h36m_data import KEYPOINTS_SYMMETRY, small_dataset
from one_line_errors import one_line_error
from random_models import random_model

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.io.files import write_array
from vp3d.model import checkpoint

PAST_NS = 10**18          # 2001-09-09: a file written by the run under test has a later time

# --- preprocess -------------------------------------------------------------------------------------

def _shorten(p3, p2, m):
    p2["S9"]["Walking"][1] = p2["S9"]["Walking"][1][:20]


def _nan(p3, p2, m):
    p2["S11"]["Walking"][3][11, 0, 1] = np.inf


def _drop_action(p3, p2, m):
    del p2["S9"]["Greeting 1"]


def _joints_3d(p3, p2, m):
    p3["S9"]["Walking"] = p3["S9"]["Walking"][:, :16]   # neither the 32 mocap joints nor the 17 evaluated ones


def _coords_2d(p3, p2, m):
    p2["S9"]["Walking"][0] = np.zeros((200, 17, 3), np.float32)


def _joints_2d(p3, p2, m):
    p2["S9"]["Walking"][0] = np.zeros((200, 16, 2), np.float32)


def _three_cameras(p3, p2, m):
    p2["S9"]["Walking"] = p2["S9"]["Walking"][:3]


def _evil_meta(p3, p2, m):
    m["keypoints_symmetry"] = Evil(m["note"])

PREPROCESS_CASES = {
    "2D shorter than mocap": (_shorten, ["S9 'Walking' camera 1 has 20 frames, fewer than the mocap's"]),
    "non-finite keypoints": (_nan, ["S11 'Walking' camera 3 has non-finite keypoints, first at frame 11"]),
    "action missing in 2D": (_drop_action, ["S9 'Greeting 1' is in the 3D data but not in the 2D keypoints"]),
    "3D joint count": (_joints_3d, ["data_3d_h36m.npz: S9 'Walking' has shape", "expected (T, 32, 3)"]),
    "2D coordinate size": (_coords_2d, ["camera 0 has shape (200, 17, 3), expected (T, 17, 2)"]),
    "2D joint count": (_joints_2d, ["camera 0 has shape (200, 16, 2), expected (T, 17, 2)"]),
    "camera count": (_three_cameras, ["S9 'Walking' has 3 cameras, expected 4"]),
    "malicious metadata": (_evil_meta, ["data_2d_h36m_cpn_ft_h36m_dbb.npz: refused to load 'metadata'", "forbidden global"]),
}


@pytest.mark.parametrize("case", PREPROCESS_CASES)
def test_preprocess_rejects_bad_data(case, tmp_path, capsys):
    mutate, fragments = PREPROCESS_CASES[case]
    d = small_dataset(tmp_path, mutate)
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(tmp_path / "out"), "-arc", "3,3", "--max-length", "500"])
    one_line_error(capsys, rc, *fragments)
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "out" / "manifest.json").exists()


def _npz_without(tmp_path, which):
    d = small_dataset(tmp_path)
    if which == "positions_3d":
        np.savez(d / "data_3d_h36m.npz", poses=np.zeros(3))
    elif which == "positions_2d":
        np.savez(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", metadata={"keypoints_symmetry": KEYPOINTS_SYMMETRY})
    elif which == "metadata":
        pos = dict(np.load(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", allow_pickle=True))
        np.savez(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=pos["positions_2d"])
    return d


@pytest.mark.parametrize("key", ["positions_3d", "positions_2d", "metadata"])
def test_preprocess_rejects_npz_without_its_key(key, tmp_path, capsys):
    d = _npz_without(tmp_path, key)
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(tmp_path / "out"), "-arc", "3,3", "--max-length", "500"])
    one_line_error(capsys, rc, f"no '{key}' array")


def test_preprocess_file_level_errors(tmp_path, capsys):
    d = small_dataset(tmp_path)
    args = ["-s", str(tmp_path / "out"), "-arc", "3,3", "--max-length", "500"]
    one_line_error(capsys, vp3d_preprocess.main(["-d", str(tmp_path / "nope"), *args]), "nope: no such dataset directory")
    one_line_error(capsys, vp3d_preprocess.main(["-d", str(d), "-k", "detectron", *args]),
                   "data_2d_h36m_detectron.npz: no such file")
    one_line_error(capsys, vp3d_preprocess.main(["-d", str(d), "--subjects-test", "S7", *args]),
                   "subject S7 is not in the 3D data")
    (d / "data_3d_h36m.npz").write_bytes(b"PK\x03\x04 truncated")
    one_line_error(capsys, vp3d_preprocess.main(["-d", str(d), *args]), "data_3d_h36m.npz: not a readable .npz (zip) file")


def test_preprocess_malicious_3d_runs_nothing(tmp_path, capsys):
    d = small_dataset(tmp_path)
    marker = tmp_path / "pwned"
    np.savez(d / "data_3d_h36m.npz", positions_3d={"S9": {"Walking": Evil(marker)}})
    rc = vp3d_preprocess.main(["-d", str(d), "-s", str(tmp_path / "out"), "-arc", "3,3"])
    one_line_error(capsys, rc, "data_3d_h36m.npz: refused to load 'positions_3d'", "forbidden global")
    assert not marker.exists()


# --- export -----------------------------------------------------------------------------------------

def _ckpt(tmp_path, kind):
    path = tmp_path / f"{kind}.bin"
    state = random_model((3, 3), 16).state_dict()
    if kind == "missing-key":
        del state["layers_conv.1.weight"]
    elif kind == "wrong-shape":
        state["shrink.bias"] = torch.zeros(50)
    elif kind == "malicious":
        torch.save({"model_pos": state, "random_state": Evil(tmp_path / "pwned")}, path)
        return path
    elif kind == "text":
        path.write_text("this is not a checkpoint\n")
        return path
    elif kind == "truncated":
        torch.save({"model_pos": state}, path)
        path.write_bytes(path.read_bytes()[:1000])
        return path
    torch.save({"model_pos": state}, path)
    return path


EXPORT_CASES = {"missing-key": "missing", "wrong-shape": "'shrink.bias' has shape (50,), expected (51,)",
                "malicious": "forbidden global", "text": "not a readable torch checkpoint",
                "truncated": "not a readable torch checkpoint", "absent": "no such checkpoint file"}


@pytest.mark.parametrize("kind", EXPORT_CASES)
def test_export_rejects_bad_checkpoints(kind, tmp_path, capsys):
    path = tmp_path / "absent.bin" if kind == "absent" else _ckpt(tmp_path, kind)
    rc = vp3d_pth2onnx.main(["-m", str(path), "-o", str(tmp_path / "m.onnx"), "--length", "40"])
    one_line_error(capsys, rc, path.name, EXPORT_CASES[kind])
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "m.onnx").exists()


def test_export_length_shorter_than_receptive_field(tmp_path, capsys):
    rc = vp3d_pth2onnx.main(["-m", str(_ckpt(tmp_path, "ok")), "-o", str(tmp_path / "m.onnx"), "--length", "5"])
    one_line_error(capsys, rc, "--length 5 is shorter than the model's receptive field 9")


# --- inference and postprocess ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A finished preprocess + export + inference run to break in various ways."""
    tmp = tmp_path_factory.mktemp("pipe")
    d = small_dataset(tmp)
    assert vp3d_preprocess.main(["-d", str(d), "-s", str(tmp / "prep"), "-arc", "3,3", "--max-length", "110"]) == 0
    ckpt = tmp / "m.bin"
    checkpoint.save(ckpt, random_model((3, 3), 16))
    assert vp3d_pth2onnx.main(["-m", str(ckpt), "-o", str(tmp / "m.onnx"), "--length", "110"]) == 0
    assert vp3d_infer.main(["--model", str(tmp / "m.onnx"), "--input", str(tmp / "prep" / "inputs"),
                            "--output", str(tmp / "res"), "--output_dirname", "run"]) == 0
    return tmp


@pytest.fixture
def broken(pipeline, tmp_path):
    shutil.copytree(pipeline / "prep", tmp_path / "prep")
    shutil.copytree(pipeline / "res" / "run", tmp_path / "run")
    return tmp_path


def test_infer_rejects_input_of_the_wrong_size(pipeline, tmp_path, capsys):
    shutil.copytree(pipeline / "prep" / "inputs", tmp_path / "inputs")
    write_array(tmp_path / "inputs" / "002_Walking.bin", np.zeros((2, 100, 17, 2)))
    rc = vp3d_infer.main(["--model", str(pipeline / "m.onnx"), "--input", str(tmp_path / "inputs"),
                          "--output", str(tmp_path / "res")])
    one_line_error(capsys, rc, "002_Walking.bin: 27200 bytes, expected 29920")


@pytest.mark.parametrize("model", ["absent.onnx", "garbage.onnx"])
def test_infer_rejects_bad_models(model, pipeline, tmp_path, capsys):
    (tmp_path / "garbage.onnx").write_bytes(b"\x00garbage")
    rc = vp3d_infer.main(["--model", str(tmp_path / model), "--input", str(pipeline / "prep" / "inputs"),
                          "--output", str(tmp_path / "res")])
    one_line_error(capsys, rc, model)


def _post(broken):
    return vp3d_postprocess.main(["--preprocess-data", str(broken / "prep"), "--infer-results", str(broken / "run")])


def test_postprocess_missing_prediction(broken, capsys):
    (broken / "run" / "003_Walking_0.bin").unlink()
    one_line_error(capsys, _post(broken), "1 predictions missing, e.g. '003_Walking_0.bin'")


def test_postprocess_extra_prediction(broken, capsys):
    shutil.copy(broken / "run" / "001_Walking_0.bin", broken / "099_Walking_0.bin")
    shutil.move(broken / "099_Walking_0.bin", broken / "run" / "099_Walking_0.bin")
    one_line_error(capsys, _post(broken), "prediction '099_Walking_0.bin' has no input in the manifest")


def test_postprocess_truncated_prediction(broken, capsys):
    p = broken / "run" / "010_Greeting_0.bin"
    p.write_bytes(p.read_bytes()[:100])
    one_line_error(capsys, _post(broken), "010_Greeting_0.bin: 100 bytes, expected")


def test_postprocess_missing_delta(broken, capsys):
    deltas = json.loads((broken / "prep" / "delta_dict_padding.json").read_text())
    del deltas["009_Greeting"]
    (broken / "prep" / "delta_dict_padding.json").write_text(json.dumps(deltas))
    one_line_error(capsys, _post(broken), "delta_dict_padding.json: no delta for '009_Greeting'")


def test_postprocess_corrupt_manifest(broken, capsys):
    (broken / "prep" / "manifest.json").write_text("{not json")
    one_line_error(capsys, _post(broken), "manifest.json: not valid JSON")
    (broken / "prep" / "manifest.json").unlink()
    one_line_error(capsys, _post(broken), "manifest.json: no such file")


def test_postprocess_truncated_ground_truth(broken, capsys):
    p = broken / "prep" / "ground_truths" / "002_Walking.bin"
    p.write_bytes(p.read_bytes()[:-4])
    one_line_error(capsys, _post(broken), "002_Walking.bin:", "expected")


# --- nothing lost, nothing half-written -------------------------------------------------------------


# --- readers never fail in any other way ------------------------------------------------------------


def test_infer_leaves_a_non_empty_output_alone_and_resumes(pipeline, tmp_path, capsys):
    args = ["--model", str(pipeline / "m.onnx"), "--input", str(pipeline / "prep" / "inputs"),
            "--output", str(tmp_path / "res"), "--output_dirname", "run"]
    assert vp3d_infer.main(args) == 0
    run = tmp_path / "res" / "run"
    complete = {p.name: p.read_bytes() for p in run.iterdir()}
    assert len(complete) == 3 * 4                   # small_dataset: 3 takes seen by 4 cameras
    for p in run.iterdir():                         # a write now cannot leave this time: no clock resolution matters
        os.utime(p, ns=(PAST_NS, PAST_NS))
    stamps = lambda: {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.iterdir()}
    one_line_error(capsys, vp3d_infer.main(args), "run: output directory is not empty", "--resume")
    assert stamps() == {n: (b, PAST_NS) for n, b in complete.items()}

    # an interrupted run: one output truncated, one missing; --resume redoes just those two
    (run / "002_Walking_0.bin").write_bytes(b"\0" * 100)
    (run / "011_Greeting_0.bin").unlink()
    os.utime(run / "002_Walking_0.bin", ns=(PAST_NS, PAST_NS))
    assert vp3d_infer.main([*args, "--resume"]) == 0
    assert f"skipped {len(complete) - 2} inputs" in capsys.readouterr().out
    now = stamps()
    assert {n: v[0] for n, v in now.items()} == complete
    redone = {n for n in now if now[n][1] != PAST_NS}
    assert redone == {"002_Walking_0.bin", "011_Greeting_0.bin"}
    assert vp3d_infer.main([*args, "--force"]) == 0
