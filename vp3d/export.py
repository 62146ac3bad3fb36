"""ONNX export of a TemporalModel, with the model's facts in the file's metadata and the checks a
deployment needs before ATC or a runtime. Torch is imported only to export."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from . import Vp3dError
from .architecture import ModelConfig
from .fileio import atomic_path

INPUT_NAME = "2d_poses"
OUTPUT_NAME = "3d_preds"
FACTS_KEY = "vp3d"               # metadata_props key holding the facts as JSON
FACTS_FORMAT = "vp3d-onnx-1"
INT8_KEY = "vp3d_int8"          # metadata_props key of vp3d_quantize.py's record (JSON): what stays fp32, deviation
DEFAULT_LAYOUT = "conv2d_w"      # 1 x k kernels, time on W: the fastest for ONNX Runtime on CPU
DEFAULT_OPSET = 11               # the Ascend recipe's; ATC and every runtime here read it


def export_onnx(model, path: str | Path, length: int | None, opset: int = DEFAULT_OPSET) -> None:
    """Export a TemporalModel with input (2, L, J, 2) named '2d_poses' and output (2, L - RF + 1, J, 3)
    named '3d_preds': L fixed to `length`, or a dynamic time axis where `length` is None. The model's
    facts (ModelConfig.to_json and L) go into the metadata. Written atomically."""
    import onnx
    import torch
    c = model.config
    if length is not None and length < c.receptive_field:
        raise ValueError(f"length {length} is shorter than the receptive field {c.receptive_field}")
    dummy = torch.zeros(2, length or 2 * c.receptive_field, c.num_joints_in, c.in_features)
    dynamic = None if length else {INPUT_NAME: {1: "frames"}, OUTPUT_NAME: {1: "frames_out"}}
    with atomic_path(path) as tmp, torch.inference_mode(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.eval(), (dummy,), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                          do_constant_folding=True, external_data=False, dynamic_axes=dynamic)
        graph = onnx.load(str(tmp))
        facts = {"format": FACTS_FORMAT, "model_args": c.to_json(), "length": length}
        onnx.helper.set_model_props(graph, {FACTS_KEY: json.dumps(facts)})
        onnx.save(graph, str(tmp))


def facts_from_metadata(props: dict, path: str | Path = "model") -> ModelConfig | None:
    """The ModelConfig recorded in an ONNX file's metadata_props (None where it has none: not ours)."""
    if FACTS_KEY not in props:
        return None
    try:
        facts = json.loads(props[FACTS_KEY])
        if facts.get("format") != FACTS_FORMAT:
            raise ValueError(f"format {facts.get('format')!r}")
        return ModelConfig.from_json(facts["model_args"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise Vp3dError(f"{path}: unreadable '{FACTS_KEY}' metadata ({e})") from None


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata_props as a dict."""
    return {p.key: p.value for p in load_onnx(path).metadata_props}


def read_onnx_facts(path: str | Path) -> ModelConfig | None:
    """facts_from_metadata of an ONNX file."""
    return facts_from_metadata(read_onnx_metadata(path), path)


def precision_label(props: dict, float_precision: str) -> str:
    """What a model runs in: 'int8' for vp3d_quantize.py's files (their fp32 parts in `float_precision`
    where that is not f32: 'int8+bf16'), else `float_precision`."""
    if INT8_KEY not in props:
        return float_precision
    return "int8" if float_precision == "f32" else f"int8+{float_precision}"


def check_onnx(path: str | Path) -> tuple[tuple, tuple]:
    """Run onnx.checker; return the (input, output) shapes of the graph, None for dynamic axes."""
    import onnx
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    dims = lambda v: tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim)
    return dims(m.graph.input[0]), dims(m.graph.output[0])


def max_abs_difference(path: str | Path, model, length: int, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over one random input of `length` frames (metres)."""
    import torch
    from .backends import open_session
    c = model.config
    x = np.random.default_rng(seed).uniform(-1, 1, (2, length, c.num_joints_in, c.in_features)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    got = open_session(path, "onnxruntime").run(x)
    if got.shape != expected.shape:
        raise Vp3dError(f"{path}: ONNX Runtime returned {got.shape} for {length} frames, PyTorch {expected.shape}")
    return float(np.max(np.abs(got - expected)))


def load_onnx(path: str | Path):
    """The ONNX model at `path`, weights not loaded; Vp3dError where it is missing or unreadable."""
    import onnx
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such ONNX file")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise Vp3dError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def atc_command(onnx_path: str | Path, input_shape: tuple[int, ...], soc_version: str = "Ascend${chip_name}",
                output: str | Path | None = None) -> str:
    """The ATC command line converting this ONNX model to an .om for an Ascend chip."""
    onnx_path = Path(onnx_path)
    output = output or onnx_path.with_name(f"{onnx_path.stem}_seq{input_shape[1]}")
    return (f"atc --framework=5 --model={onnx_path} --output={output} --input_format=NCHW "
            f"--input_shape=\"{INPUT_NAME}:{','.join(map(str, input_shape))}\" --log=error "
            f"--soc_version={soc_version}")


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


def soc_version(chip: str) -> str:
    """'310P3' or 'Ascend310P3' (as `npu-smi info` names the chip) -> 'Ascend310P3'."""
    name = chip.strip()
    name = name if name.lower().startswith("ascend") else f"Ascend{name}"
    if len(name) <= len("Ascend") or not name[len("Ascend"):].replace("_", "").isalnum():
        raise Vp3dError(f"chip name {chip!r}: expected one like 310P3, 310B1 or 910B3 (see `npu-smi info`)")
    return "Ascend" + name[len("Ascend"):]


def atc_argv(onnx_path: str | Path, chip: str, output: str | Path | None = None) -> list[str]:
    """The ATC argv converting this ONNX model to <output>.om for `chip`, with --input_shape read from
    the model itself. The same for every layout: the input stays (2, L, J, 2) whatever the weights."""
    onnx_path = Path(onnx_path)
    shape = onnx_input_shape(onnx_path)
    output = output or onnx_path.with_name(f"{onnx_path.stem}_seq{shape[1]}")
    return ["atc", "--framework=5", f"--model={onnx_path}", f"--output={output}", "--input_format=NCHW",
            f"--input_shape={INPUT_NAME}:{','.join(map(str, shape))}", "--log=error",
            f"--soc_version={soc_version(chip)}"]
