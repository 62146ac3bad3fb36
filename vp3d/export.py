"""ONNX export of a TemporalModel, with the checks a deployment needs before ATC or a runtime."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from . import Vp3dError
from .fileio import atomic_path
from .model import TemporalModel

INPUT_NAME = "2d_poses"
OUTPUT_NAME = "3d_preds"


def export_onnx(model: TemporalModel, path: str | Path, length: int, opset: int = 11) -> None:
    """Export with a fixed input (2, length, J, 2) named '2d_poses' and output
    (2, length - RF + 1, J, 3) named '3d_preds'. Written atomically."""
    c = model.config
    if length < c.receptive_field:
        raise ValueError(f"length {length} is shorter than the receptive field {c.receptive_field}")
    dummy = torch.zeros(2, length, c.num_joints_in, c.in_features)
    with atomic_path(path) as tmp, torch.inference_mode(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.eval(), (dummy,), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                          do_constant_folding=True, external_data=False)


def check_onnx(path: str | Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Run onnx.checker; return the (input, output) shapes of the graph."""
    import onnx
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    dims = lambda v: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
    return dims(m.graph.input[0]), dims(m.graph.output[0])


def max_abs_difference(path: str | Path, model: TemporalModel, length: int, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over one random input of the exported shape (metres)."""
    from .runtime import open_session
    c = model.config
    x = np.random.default_rng(seed).uniform(-1, 1, (2, length, c.num_joints_in, c.in_features)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    got = open_session(path, "onnxruntime").run(x)
    return float(np.max(np.abs(got - expected)))


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
    import onnx
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such ONNX file")
    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise Vp3dError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
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
