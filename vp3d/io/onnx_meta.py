"""An ONNX file's vp3d metadata: the model's facts (ModelConfig) an export records, the int8 record
vp3d_quantize.py adds, the graph's input and output names and shapes. onnx only, no runtime, no torch."""
from __future__ import annotations

import json
from pathlib import Path

from vp3d.errors import Vp3dError, first_line
from vp3d.facts.architecture import ModelConfig

INPUT_NAME = "2d_poses"
OUTPUT_NAME = "3d_preds"
FACTS_KEY = "vp3d"               # metadata_props key holding the facts as JSON
FACTS_FORMAT = "vp3d-onnx-1"
INT8_KEY = "vp3d_int8"          # metadata_props key of vp3d_quantize.py's record (JSON): what stays fp32, deviation


def metadata_record(props: dict, key: str, fmt: str, path: str | Path = "model") -> dict | None:
    """The JSON record vp3d keeps under `key` in an ONNX file's metadata_props, of format `fmt` (None where
    the file has none); Vp3dError naming the file where it is unreadable or of another format."""
    if key not in props:
        return None
    try:
        record = json.loads(props[key])
        if record.get("format") != fmt:
            raise ValueError(f"format {record.get('format')!r}")
        return record
    except (ValueError, TypeError, AttributeError) as e:
        raise Vp3dError(f"{path}: unreadable '{key}' metadata ({e})") from None


def facts_from_metadata(props: dict, path: str | Path = "model") -> ModelConfig | None:
    """The ModelConfig recorded in an ONNX file's metadata_props (None where it has none: not ours)."""
    facts = metadata_record(props, FACTS_KEY, FACTS_FORMAT, path)
    if facts is None:
        return None
    try:
        return ModelConfig.from_json(facts["model_args"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise Vp3dError(f"{path}: unreadable '{FACTS_KEY}' metadata ({e})") from None


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict."""
    return {p.key: p.value for p in load_onnx(path).metadata_props}


def precision_label(props: dict, float_precision: str) -> str:
    """What a model runs in: 'int8' for vp3d_quantize.py's files (their fp32 parts in `float_precision`
    where that is not f32: 'int8+bf16'), else `float_precision`."""
    if INT8_KEY not in props:
        return float_precision
    return "int8" if float_precision == "f32" else f"int8+{float_precision}"


def load_onnx(path: str | Path):
    """The ONNX model at `path`, weights not loaded; Vp3dError where it is missing or unreadable."""
    import onnx
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise Vp3dError(f"{path}: not a readable ONNX model ({first_line(e)})") from None


def onnx_input_shape(path: str | Path) -> tuple[int, ...]:
    """The fixed shape of the ONNX graph's first input, e.g. (2, 6115, 17, 2). Raises Vp3dError."""
    m = load_onnx(path)
    if not m.graph.input:
        raise Vp3dError(f"{path}: the graph has no inputs")
    inp = m.graph.input[0]
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim)
    if not dims or None in dims or 0 in dims:
        raise Vp3dError(f"{path}: input '{inp.name}' has shape {dims}; ATC needs a fixed shape (export with --length)")
    return dims


def load_onnx_bytes(data: bytes, where: str | Path):
    """An ONNX model from its file's bytes (`where` names it in errors); Vp3dError where unreadable."""
    import onnx
    try:
        return onnx.load_model_from_string(data)
    except Exception as e:
        raise Vp3dError(f"{where}: not a readable ONNX model ({first_line(e)})") from None


def graph_io(model) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """({name: dims} of an ONNX model's graph inputs (initializers left out), {name: dims} of its outputs); a
    dim is an int, or None where it is symbolic or unknown."""
    def dims(value) -> tuple:
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)
    weights = {t.name for t in model.graph.initializer}
    return ({v.name: dims(v) for v in model.graph.input if v.name not in weights},
            {v.name: dims(v) for v in model.graph.output})
