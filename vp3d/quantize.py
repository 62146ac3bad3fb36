"""Static post-training int8 quantization of an exported model (ONNX Runtime, QDQ, per-channel weights).

Calibration runs the fp32 model on preprocessed inputs (vp3d_preprocess.py's inputs/*.bin: float32
(2, L, 17, 2) normalised 2D keypoints, index 1 the mirrored copy), records each activation's range and
writes a QDQ graph: QuantizeLinear/DequantizeLinear pairs around every quantized Conv, which ONNX
Runtime's CPU provider fuses into int8 convolutions (VNNI where the CPU has it).

What stays fp32 by default (measured on the trained full model: README, "4c. int8"):
  - the residual path: a tensor that a conv and the residual Slice both read gets one Identity copy
    for the conv, so only the conv's input is rounded, not the skip connection;
  - 'block-out', the last (1x1) conv of each residual block, whose output enters the residual stream
    directly (25 % of the compute); 'first' (raw coordinates in) and 'last' ('shrink': the pose in
    metres out), 3 % of the compute; and the Add ops.
Calibration reads one input at a time, so memory holds one input's activations (about 1 GB peak
for the full model at 2x1082).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import atomic_path, read_array
from .infer import file_shape, list_inputs

METHODS = ("minmax", "entropy", "percentile")
QDQ_OPSET = 13                    # the first opset whose QuantizeLinear takes per-channel scales (axis)
ROLES = ("first", "last", "block-out")   # words --fp32 accepts besides node names and op types
DEFAULT_FP32 = ("first", "last", "Add", "block-out")   # measured choice: README, "int8"


@dataclass(frozen=True)
class QuantizeConfig:
    """How to calibrate and what to quantize."""

    inputs: int = 32                     # calibration inputs, spread evenly over the sorted files
    frames: int | None = None            # frames per calibration window (dynamic-length models only;
                                         # a fixed-length model takes windows of its own L)
    method: str = "minmax"               # one of METHODS
    percentile: float = 99.999           # for method 'percentile'
    fp32: tuple[str, ...] = DEFAULT_FP32        # what stays fp32: 'first', 'last', node names or op types
    symmetric_activations: bool = False  # False: uint8 activations with zero points (the U8S8 kernels)
    per_channel: bool = True             # one weight scale per output channel
    fp32_residual: bool = True           # the residual path (Slice -> Add) reads the unquantized tensor
    seed: int = 0                        # window offsets in longer inputs

    def __post_init__(self):
        if self.method not in METHODS:
            raise Vp3dError(f"unknown calibration method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.inputs < 1:
            raise Vp3dError(f"calibration needs at least one input, got {self.inputs}")


def model_input(path: str | Path):
    """(input name, input shape with None for symbolic dims) of an ONNX model; Vp3dError if not ONNX."""
    from .export import load_onnx
    m = load_onnx(path)
    if not m.graph.node or not m.graph.input:
        raise Vp3dError(f"{path}: not an ONNX model (no graph)")
    inits = {t.name for t in m.graph.initializer}
    inp = next((i for i in m.graph.input if i.name not in inits), None)
    if inp is None:
        raise Vp3dError(f"{path}: the ONNX graph has no input")
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in inp.type.tensor_type.shape.dim)
    if len(dims) != 4:
        raise Vp3dError(f"{path}: input {inp.name} has {len(dims)} axes, expected (2, L, J, 2)")
    return inp.name, dims


def calibration_files(directory: str | Path, count: int) -> list[Path]:
    """`count` input files spread evenly over the sorted listing of `directory` (all if fewer);
    a preprocess output directory (holding inputs/) is accepted too."""
    d = Path(directory)
    if (d / "inputs").is_dir():
        d = d / "inputs"
    files = list_inputs(d)
    if count >= len(files):
        return files
    idx = np.unique(np.linspace(0, len(files) - 1, count).round().astype(int))
    return [files[i] for i in idx]


def calibration_window(path: Path, shape: tuple, length: int | None, rng: np.random.Generator) -> np.ndarray:
    """One (2, length, J, 2) float32 window of the input file at `path`: a random stretch of a longer
    file, a shorter one extended by repeating its edge frames (as preprocess pads); length None: all."""
    x = read_array(path, file_shape(path, (2, None) + tuple(shape[2:])))
    n = x.shape[1]
    if length is None or n == length:
        return x
    if n > length:
        start = int(rng.integers(0, n - length + 1))
        return np.ascontiguousarray(x[:, start:start + length])
    before = (length - n) // 2
    return np.pad(x, ((0, 0), (before, length - n - before), (0, 0), (0, 0)), mode="edge")


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader over calibration windows, read lazily.

    With extra option CalibStridedMinMax=1 ONNX Runtime calls set_range per input and folds each
    input's ranges (or histograms) in before the next: memory holds one input's activations."""

    def __init__(self, name: str, files: list[Path], shape: tuple, length: int | None, seed: int):
        self.name, self.files, self.shape, self.length = name, files, shape, length
        self.rng = np.random.default_rng(seed)
        self.i, self.end = 0, len(files)

    def __len__(self):
        return len(self.files)

    def set_range(self, start_index: int, end_index: int):
        self.i, self.end = start_index, min(end_index, len(self.files))

    def get_next(self):
        if self.i >= self.end:
            return None
        x = calibration_window(self.files[self.i], self.shape, self.length, self.rng)
        self.i += 1
        return {self.name: x}


def conv_nodes(model) -> list[str]:
    """Names of the Conv nodes of an onnx.ModelProto in graph (topological) order."""
    return [n.name for n in model.graph.node if n.op_type == "Conv"]


def block_output_convs(model) -> list[str]:
    """Conv nodes whose output (directly or through one Relu) is added to the residual path: the
    last conv of each residual block (1x1 in VideoPose3D)."""
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    out = []
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        nxt = readers.get(n.output[0], [])
        after = [m for r in nxt if r.op_type == "Relu" for m in readers.get(r.output[0], [])]
        if any(m.op_type == "Add" for m in nxt + after):
            out.append(n.name)
    return out


def resolve_fp32(model, fp32: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(node names, op types) to keep fp32: 'first'/'last' name the first/last Conv, 'block-out'
    the last conv of each residual block; other words are node names or op types of the graph.
    Vp3dError for a word that names neither."""
    convs = conv_nodes(model)
    names = {n.name for n in model.graph.node}
    ops = {n.op_type for n in model.graph.node}
    nodes, op_types = [], []
    for word in fp32:
        if word == "block-out":
            nodes.extend(block_output_convs(model))
        elif word in ("first", "last"):
            if convs:
                nodes.append(convs[0] if word == "first" else convs[-1])
        elif word in names:
            nodes.append(word)
        elif word in ops:
            op_types.append(word)
        else:
            raise Vp3dError(f"--fp32 {word!r}: not one of {', '.join(ROLES)}, a node name or an op type of the model")
    return nodes, op_types


def split_shared_conv_inputs(model, skip: set[str] = frozenset()) -> int:
    """Give each quantized Conv whose input tensor other nodes also read (the residual Slice) its own
    Identity copy, so the quantizer puts Q/DQ on the copy and the others keep the fp32 tensor.
    Edits the onnx.ModelProto in place (graph order kept topological); returns the copies made."""
    import onnx
    readers: dict[str, int] = {}
    for n in model.graph.node:
        for t in n.input:
            readers[t] = readers.get(t, 0) + 1
    out, made = [], 0
    for n in model.graph.node:
        if n.op_type == "Conv" and n.name not in skip and readers.get(n.input[0], 0) > 1:
            copy = n.input[0] + "_conv_copy"
            out.append(onnx.helper.make_node("Identity", [n.input[0]], [copy], name=n.name + "_input_copy"))
            n.input[0] = copy
            made += 1
        out.append(n)
    del model.graph.node[:]
    model.graph.node.extend(out)
    return made


def quantize(model_path: str | Path, calibration_dir: str | Path, output: str | Path,
             config: QuantizeConfig = QuantizeConfig()) -> dict:
    """Calibrate `model_path` (fp32 ONNX) on inputs from `calibration_dir`; write the int8 QDQ model
    to `output` atomically. Returns a summary: calibration files, window frames, fp32 nodes, ops."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)
    model_path, output = Path(model_path), Path(output)
    name, shape = model_input(model_path)
    if output.resolve() == model_path.resolve():
        raise Vp3dError(f"{output}: the output would overwrite the input model; name another file")
    files = calibration_files(calibration_dir, config.inputs)
    length = shape[1] if shape[1] is not None else config.frames
    with tempfile.TemporaryDirectory(prefix="vp3d_quant.") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(model_path), str(pre), skip_symbolic_shape=False)
            pre_model = onnx.load(str(pre))
            opset = next((o.version for o in pre_model.opset_import if o.domain in ("", "ai.onnx")), 0)
            if opset < QDQ_OPSET:              # per-channel DequantizeLinear (axis) needs opset 13
                pre_model = onnx.version_converter.convert_version(pre_model, QDQ_OPSET)
        except Exception as e:
            raise Vp3dError(f"{model_path}: ONNX Runtime's quantization pre-processing failed "
                            f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        nodes, op_types = resolve_fp32(pre_model, config.fp32)
        if config.fp32_residual:
            split_shared_conv_inputs(pre_model, set(nodes))
        onnx.save(pre_model, str(pre))
        quantized_ops = sorted({n.op_type for n in pre_model.graph.node} & {"Conv", "Add", "Relu"} - set(op_types))
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[config.method]
        extra = {"ActivationSymmetric": config.symmetric_activations, "WeightSymmetric": True,
                 "CalibTensorRangeSymmetric": config.symmetric_activations,
                 "CalibStridedMinMax": 1}       # one input at a time (see _Reader)
        if config.method == "percentile":
            extra["CalibPercentile"] = config.percentile
        reader = _Reader(name, files, shape, length, config.seed)
        with atomic_path(output) as out:
            try:
                quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ,
                                op_types_to_quantize=quantized_ops, per_channel=config.per_channel,
                                activation_type=QuantType.QInt8 if config.symmetric_activations else QuantType.QUInt8,
                                weight_type=QuantType.QInt8, nodes_to_exclude=nodes,
                                calibrate_method=method, extra_options=extra,
                                calibration_providers=["CPUExecutionProvider"])
            except Vp3dError:
                raise
            except Exception as e:
                raise Vp3dError(f"{model_path}: calibration on {Path(calibration_dir)} failed "
                                f"({str(e).strip().splitlines()[0] if str(e) else type(e).__name__})") from None
    return {"files": len(files), "frames": length, "fp32_nodes": nodes, "fp32_op_types": op_types,
            "quantized_ops": quantized_ops, "method": config.method}


def count_ops(path: str | Path) -> dict[str, int]:
    """{op_type: count} of an ONNX file's graph."""
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    counts: dict[str, int] = {}
    for n in m.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts
