"""An ONNX file's vp3d metadata: the model's facts, the int8 record, the input shape ATC needs."""
import json

import onnx
import pytest
from random_models import random_model

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import ModelConfig
from vp3d.io.onnx_meta import (
    FACTS_FORMAT,
    FACTS_KEY,
    INT8_KEY,
    facts_from_metadata,
    load_onnx,
    onnx_input_shape,
    precision_label,
    read_onnx_metadata,
)
from vp3d.model.export import export_onnx


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("meta")
    model = random_model((3, 3, 3), 8, seed=1)
    export_onnx(model, d / "fixed.onnx", 40)
    export_onnx(model, d / "dynamic.onnx", None)
    return d, model.config


def test_the_facts_come_back_as_the_config_that_was_exported(exported):
    d, config = exported
    props = read_onnx_metadata(d / "fixed.onnx")
    assert set(props) == {FACTS_KEY}
    assert facts_from_metadata(props, d / "fixed.onnx") == config
    assert facts_from_metadata({}) is None                                     # not ours: no facts, no error


@pytest.mark.parametrize("value", ["{not json", json.dumps({"format": "other-1", "model_args": {}}),
                                   json.dumps({"format": FACTS_FORMAT}), json.dumps([1, 2])])
def test_unreadable_facts_are_one_line_naming_the_file(value):
    with pytest.raises(Vp3dError, match=rf"m\.onnx: unreadable '{FACTS_KEY}' metadata") as e:
        facts_from_metadata({FACTS_KEY: value}, "m.onnx")
    assert "\n" not in str(e.value)


def test_precision_label_says_int8_only_for_quantized_files():
    assert precision_label({}, "f32") == "f32" and precision_label({}, "bf16") == "bf16"
    assert precision_label({INT8_KEY: "{}"}, "f32") == "int8"
    assert precision_label({INT8_KEY: "{}"}, "bf16") == "int8+bf16"


def test_input_shape_fixed_or_refused_for_atc(exported, tmp_path):
    d, _ = exported
    assert onnx_input_shape(d / "fixed.onnx") == (2, 40, 17, 2)
    with pytest.raises(Vp3dError, match=r"dynamic\.onnx: input '2d_poses' has shape \(2, None, 17, 2\); ATC needs a "
                                        r"fixed shape \(export with --length\)"):
        onnx_input_shape(d / "dynamic.onnx")
    empty = onnx.helper.make_model(onnx.helper.make_graph([], "empty", [], []))
    onnx.save(empty, str(tmp_path / "empty.onnx"))
    with pytest.raises(Vp3dError, match=r"empty\.onnx: the graph has no inputs"):
        onnx_input_shape(tmp_path / "empty.onnx")


def test_load_onnx_errors_name_the_file(tmp_path):
    with pytest.raises(Vp3dError, match=r"none\.onnx: no such ONNX file"):
        load_onnx(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(Vp3dError, match=r"bad\.onnx: not a readable ONNX model") as e:
        read_onnx_metadata(tmp_path / "bad.onnx")
    assert "\n" not in str(e.value)


def test_a_config_round_trips_through_its_json():
    c = ModelConfig(filter_widths=(3, 5), channels=64, causal=True)
    props = {FACTS_KEY: json.dumps({"format": FACTS_FORMAT, "model_args": c.to_json(), "length": None})}
    assert facts_from_metadata(props) == c


def test_an_export_written_with_the_old_layout_key_is_read():
    old = {"filter_widths": [3, 3], "channels": 64, "causal": False, "layout": "conv2d_w"}
    props = {FACTS_KEY: json.dumps({"format": FACTS_FORMAT, "model_args": old, "length": 40})}
    assert facts_from_metadata(props) == ModelConfig(filter_widths=(3, 3), channels=64, weight_layout="conv2d_w")
    assert "layout" not in facts_from_metadata(props).to_json()
