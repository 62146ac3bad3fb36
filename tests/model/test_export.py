"""ONNX export: the model's facts in the file, fixed or dynamic time axis, the checks an export gets."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from random_models import random_model

from vp3d.io.onnx_meta import (
    FACTS_FORMAT,
    FACTS_KEY,
    facts_from_metadata,
    read_onnx_metadata,
)
from vp3d.model import export
from vp3d.model.export import check_onnx, export_onnx, max_abs_difference


@pytest.fixture(scope="module")
def model():
    return random_model((3, 3), 16, seed=2, causal=True)


def test_export_records_the_models_facts_and_length(model, tmp_path):
    export_onnx(model, tmp_path / "m.onnx", 30)
    props = read_onnx_metadata(tmp_path / "m.onnx")
    facts = json.loads(props[FACTS_KEY])
    assert facts["format"] == FACTS_FORMAT and facts["length"] == 30
    assert facts_from_metadata(props) == model.config
    c = facts_from_metadata(props)
    assert (c.filter_widths, c.channels, c.causal, c.receptive_field) == ((3, 3), 16, True, 9)
    export_onnx(model, tmp_path / "d.onnx", None)
    assert json.loads(read_onnx_metadata(tmp_path / "d.onnx")[FACTS_KEY])["length"] is None


def test_static_and_dynamic_time_axis(model, tmp_path):
    """Fixed: (2, 30, 17, 2) -> (2, 22, 17, 3) (RF 9); dynamic: any L >= 9 runs, L - 8 frames out, as PyTorch."""
    export_onnx(model, tmp_path / "m.onnx", 30)
    export_onnx(model, tmp_path / "d.onnx", None)
    assert check_onnx(tmp_path / "m.onnx") == ((2, 30, 17, 2), (2, 22, 17, 3))
    inp, out = check_onnx(tmp_path / "d.onnx")
    assert inp == (2, None, 17, 2) and len(out) == 4 and out[1] is None     # the exporter leaves the rest unset
    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    for length in (9, 10, 57):
        x = np.random.default_rng(length).uniform(-1, 1, (2, length, 17, 2)).astype(np.float32)
        with torch.inference_mode():
            expected = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {"2d_poses": x})[0]
        assert got.shape == (2, length - 8, 17, 3)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    fixed = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):
        fixed.run(None, {"2d_poses": np.zeros((2, 31, 17, 2), np.float32)})


def test_max_abs_difference_compares_against_torch(model, tmp_path):
    export_onnx(model, tmp_path / "m.onnx", 30)
    assert max_abs_difference(tmp_path / "m.onnx", model, 30) < 1e-5
    other = random_model((3, 3), 16, seed=3, causal=True)              # same shapes, other weights
    assert max_abs_difference(tmp_path / "m.onnx", other, 30) > 1e-3
    with pytest.raises(Exception):
        max_abs_difference(tmp_path / "m.onnx", model, 40)              # a fixed model takes L = 30 only
    export_onnx(model, tmp_path / "d.onnx", None)
    assert max_abs_difference(tmp_path / "d.onnx", model, 40, seed=1) < 1e-5


def test_onnx_checker_refuses_a_broken_graph(model, tmp_path):
    import onnx
    export_onnx(model, tmp_path / "m.onnx", 30)
    m = onnx.load(str(tmp_path / "m.onnx"))
    conv = next(n for n in m.graph.node if n.input)
    conv.input[0] = "no_such_tensor"
    onnx.save(m, str(tmp_path / "bad.onnx"))
    with pytest.raises(onnx.checker.ValidationError):
        check_onnx(tmp_path / "bad.onnx")


def test_a_failed_export_writes_nothing_and_keeps_the_old_file(model, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="length 8 is shorter than the receptive field 9"):
        export_onnx(model, tmp_path / "m.onnx", 8)
    assert not list(tmp_path.iterdir())
    export_onnx(model, tmp_path / "m.onnx", 30)
    before = (tmp_path / "m.onnx").read_bytes()

    def broken_save(graph, path):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise OSError("disk full")
    monkeypatch.setattr("onnx.save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(model, tmp_path / "m.onnx", 40)
    assert (tmp_path / "m.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]      # no temporary left


def test_default_weight_layout_and_opset():
    assert export.DEFAULT_WEIGHT_LAYOUT == "conv2d_w" and export.DEFAULT_OPSET == 11
