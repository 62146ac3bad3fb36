"""Static post-training int8 quantization of an exported model (ONNX Runtime, QDQ, per-channel weights).

Calibration runs the fp32 model on preprocessed inputs (vp3d_preprocess.py's inputs/*.bin: float32
(2, L, 17, 2) normalised 2D keypoints, index 1 the mirrored copy), records each activation's range and
writes a QDQ graph: QuantizeLinear/DequantizeLinear pairs around every quantized Conv, which ONNX
Runtime's CPU provider fuses into int8 convolutions (VNNI where the CPU has it).

Before calibration, channels are rescaled (equalize(): exact in fp32) so that one int8 step per
tensor suits every channel; activation ranges then come from the 99.99th percentile. What stays
fp32 (chosen by measurement on trained full models: docs/int8.md):
  - always (FAST_FP32): the residual path (a tensor that a conv and the residual Slice both read gets
    one Identity copy for the conv, so only the conv's input is rounded, not the skip connection) and
    its Add ops; 'first' (raw coordinates in) and 'last' ('shrink': the pose in metres out), 3 % of
    the compute;
  - where that moves the poses by more than TOLERANCE_MM from fp32's on inputs calibration did not
    see (SAFE_FP32): also 'block-out', the last (1x1) conv of each residual block, whose output enters
    the residual stream directly (25 % of the compute).
The choice and the measured deviation travel in the int8 file's metadata (INT8_KEY).
Calibration reads one input at a time, so memory holds one input's activations (--frames windows bound
it; docs/int8.md gives the full model's peak).
"""
from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError, first_line
from vp3d.io.onnx_meta import INT8_KEY, load_onnx
from vp3d.io.files import atomic_path, file_shape, list_inputs, read_array


METHODS = ("minmax", "entropy", "percentile")
QDQ_OPSET = 13                    # the first opset whose QuantizeLinear takes per-channel scales (axis)
ROLES = ("first", "last", "block-out")   # words --fp32 accepts besides node names and op types
FAST_FP32 = ("first", "last", "Add")          # the measured choices: docs/int8.md
SAFE_FP32 = FAST_FP32 + ("block-out",)          # where FAST_FP32 moves the poses by more than the tolerance
TOLERANCE_MM = 5.0    # mean per-joint deviation from fp32 that 'auto' accepts: below it, MPJPE moved
                      # by under 1 mm on trained full models (docs/int8.md)


@dataclass(frozen=True)
class QuantizeConfig:
    """How to calibrate and what to quantize."""

    inputs: int = 32                     # calibration inputs, spread evenly over the sorted files
    frames: int | None = None            # frames per calibration window (dynamic-length models only;
                                         # a fixed-length model takes windows of its own L)
    method: str = "percentile"           # one of METHODS
    percentile: float = 99.99            # for method 'percentile'
    fp32: tuple[str, ...] | None = None  # what stays fp32 ('first', 'last', 'block-out', node names, op
                                         # types); None: FAST_FP32, or SAFE_FP32 beyond tolerance_mm
    tolerance_mm: float = TOLERANCE_MM
    symmetric_activations: bool = False  # False: uint8 activations with zero points (the U8S8 kernels)
    per_channel: bool = True             # one weight scale per output channel
    fp32_residual: bool = True           # the residual path (Slice -> Add) reads the unquantized tensor
    seed: int = 0                        # window offsets in longer inputs
    equalize: bool = True                # rescale channels first (equalize(): exact in fp32)

    def __post_init__(self):
        if self.method not in METHODS:
            raise Vp3dError(f"unknown calibration method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.inputs < 1:
            raise Vp3dError(f"calibration needs at least one input, got {self.inputs}")


def model_input(path: str | Path):
    """(input name, input shape with None for symbolic dims) of an ONNX model; Vp3dError if not ONNX."""
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


def _readers(model) -> dict[str, list]:
    """{tensor name: the nodes of onnx.ModelProto `model` that read it}."""
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    return readers


def block_output_convs(model) -> list[str]:
    """Conv nodes whose output (directly or through one Relu) is added to the residual path: the
    last conv of each residual block (1x1 in VideoPose3D)."""
    readers = _readers(model)
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


def conv_roles(model) -> tuple[str, list[tuple[str, str]], str]:
    """(first conv, [(wide conv, block-out conv) per residual block], last conv) of a VideoPose3D graph
    (vp3d_pth2onnx.py's export, batch norm folded into the convs), by name; Vp3dError for another graph."""
    convs = conv_nodes(model)
    outs = set(block_output_convs(model))
    blocks = list(zip(convs[1:-1:2], convs[2:-1:2]))
    readers = _readers(model)
    relu_after = all({r.op_type for r in readers.get(n.output[0], [])} == {"Relu"}
                     for n in model.graph.node if n.name in convs[:-1])
    if (len(convs) < 2 or len(convs) % 2 or not relu_after
            or [o for _, o in blocks] != [c for c in convs if c in outs]):
        raise Vp3dError("the graph is not a VideoPose3D model as vp3d_pth2onnx.py exports it "
                        f"(Conv nodes: {', '.join(convs) or 'none'}); --no-equalize quantizes it as it is")
    return convs[0], blocks, convs[-1]


def _weights(model, node):
    """(weight, bias or None) numpy arrays of Conv `node` from the graph's initializers."""
    from onnx import numpy_helper
    inits = {t.name: t for t in model.graph.initializer}
    if any(name not in inits for name in node.input[1:]):
        raise Vp3dError(f"Conv {node.name}: its weights are not initializers; --no-equalize quantizes the graph as it is")
    w, *b = [numpy_helper.to_array(inits[name]) for name in node.input[1:3]]
    return w, (b[0] if b else None)


def _channel_max(a: np.ndarray) -> np.ndarray:
    """Largest |value| per index of axis 1: per input channel of a Conv weight (O, I, k...), per
    channel of an activation (N, C, ...)."""
    return np.abs(a).max(axis=tuple(i for i in range(a.ndim) if i != 1))


def _set_weights(model, node, weight, bias) -> None:
    from onnx import numpy_helper
    for name, value in zip(node.input[1:3], (weight, bias)):
        t = next(t for t in model.graph.initializer if t.name == name)
        t.CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))


def equalized_tensors(model) -> tuple[list[str], list[str]]:
    """(residual-stream tensors: the inputs of every wide conv and of the last conv,
    hidden tensors: the input of every block-out conv) whose channel maxima equalize() needs."""
    first, blocks, last = conv_roles(model)
    nodes = {n.name: n for n in model.graph.node}
    return ([nodes[w].input[0] for w, _ in blocks] + [nodes[last].input[0]], [nodes[o].input[0] for _, o in blocks])


def equalize(model, maxima: dict[str, np.ndarray], stream_alpha: float = 0.75, hidden_alpha: float = 0.5) -> dict:
    """Rescale channels so that int8's one step per tensor suits every channel (SmoothQuant's balance,
    Xiao et al. 2023, applied to convolutions); the fp32 function is unchanged.

    A channel c of a tensor that a ReLU makes and convs read is divided by s_c in the producer (its
    weight row and bias: ReLU(z/s) = ReLU(z)/s for s > 0) and multiplied back in the readers' weight
    columns, with s_c = m_c^alpha / w_c^(1-alpha) (m_c: the channel's largest |activation| over the
    calibration data, `maxima`; w_c: the readers' largest |weight| on it). The residual stream is one
    tensor through all blocks (its producers: the first conv and every block-out conv; its readers: every
    wide conv and the last), so it gets one s; each block's hidden tensor (wide conv -> block-out conv)
    its own. In trained models a few channels of the residual stream reach far beyond the rest, which
    one int8 step per tensor cannot serve without equalizing (docs/int8.md). Edits `model` (onnx.ModelProto) in place; returns the scales' spread."""
    first, blocks, last = conv_roles(model)
    nodes = {n.name: n for n in model.graph.node}
    stream, hidden = equalized_tensors(model)

    def scales(m: np.ndarray, readers: list[str], alpha: float) -> np.ndarray:
        m = np.maximum(m, 1e-3 * m.max() + 1e-12)                     # dead channels: no division by 0
        w = np.max([_channel_max(_weights(model, nodes[r])[0]) for r in readers], axis=0)
        s = m ** alpha / np.maximum(w, 1e-12) ** (1 - alpha)
        return s / np.median(s)

    def apply(s: np.ndarray, producers: list[str], readers: list[str]) -> None:
        rows = (-1,) + (1,) * 3
        for p in producers:
            w, b = _weights(model, nodes[p])
            _set_weights(model, nodes[p], w / s.reshape(rows[:w.ndim]), None if b is None else b / s)
        for r in readers:
            w, b = _weights(model, nodes[r])
            _set_weights(model, nodes[r], w * s.reshape((1, -1) + (1,) * (w.ndim - 2)), b)

    readers = [w for w, _ in blocks] + [last]
    s = scales(np.max([maxima[t] for t in stream], axis=0), readers, stream_alpha)
    apply(s, [first] + [o for _, o in blocks], readers)
    spread = {"stream": float(s.max() / s.min())}
    for (wide, out), t in zip(blocks, hidden):
        h = scales(maxima[t], [out], hidden_alpha)
        apply(h, [wide], [out])
        spread[wide] = float(h.max() / h.min())
    return spread


def channel_maxima(model, tensors: list[str], reader) -> dict[str, np.ndarray]:
    """{tensor: (C,) largest |value| per channel (axis 1)} of `tensors` of onnx.ModelProto `model` over
    every window `reader` (a _Reader) yields, run by ONNX Runtime; one window in memory at a time."""
    import onnx
    import onnxruntime as ort
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    m.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors)
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    out: dict[str, np.ndarray] = {}
    while (feed := reader.get_next()) is not None:
        for t, y in zip(tensors, session.run(tensors, feed)):
            v = _channel_max(y)
            out[t] = v if t not in out else np.maximum(out[t], v)
    return out


def split_shared_conv_inputs(model, skip: set[str] = frozenset()) -> int:
    """Give each quantized Conv whose input tensor other nodes also read (the residual Slice) its own
    Identity copy, so the quantizer puts Q/DQ on the copy and the others keep the fp32 tensor.
    Edits the onnx.ModelProto in place (graph order kept topological); returns the copies made."""
    import onnx
    readers = _readers(model)
    out, made = [], 0
    for n in model.graph.node:
        if n.op_type == "Conv" and n.name not in skip and len(readers.get(n.input[0], [])) > 1:
            copy = n.input[0] + "_conv_copy"
            out.append(onnx.helper.make_node("Identity", [n.input[0]], [copy], name=n.name + "_input_copy"))
            n.input[0] = copy
            made += 1
        out.append(n)
    del model.graph.node[:]
    model.graph.node.extend(out)
    return made


def held_out_windows(directory: str | Path, calibrated: list[Path], shape: tuple, length: int | None,
                     count: int = 8, seed: int = 1) -> tuple[list[np.ndarray], bool]:
    """(up to `count` windows, whether calibration did not read them): windows from other input files
    than the calibration's, or from those where the directory has no others; deviation_mm() checks the
    int8 model on them."""
    pool = [f for f in calibration_files(directory, len(calibrated) + count) if f not in set(calibrated)][:count]
    rng = np.random.default_rng(seed)
    return [calibration_window(f, shape, length, rng) for f in (pool or calibrated[:count])], bool(pool)


def predict_windows(model: str | Path, windows: list[np.ndarray]) -> list[np.ndarray]:
    """The (2, L - RF + 1, J, 3) poses (metres) an ONNX model predicts for each (2, L, J, 2) window."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: x})[0] for x in windows]


def deviation_mm(reference: list[np.ndarray], candidate: str | Path, windows: list[np.ndarray]) -> float:
    """Mean distance (mm) between `reference` poses (metres, predict_windows of the fp32 model) and
    those the ONNX model `candidate` predicts for the same `windows`: per joint and frame, both copies.
    No ground truth needed."""
    d = [np.linalg.norm(r - y, axis=-1).mean() for r, y in zip(reference, predict_windows(candidate, windows))]
    return 1000 * float(np.mean(d))


def quantize(model_path: str | Path, calibration_dir: str | Path, output: str | Path,
             config: QuantizeConfig = QuantizeConfig()) -> dict:
    """Calibrate `model_path` (fp32 ONNX) on inputs from `calibration_dir`; write the int8 QDQ model
    to `output` atomically. config.fp32 None ('auto'): FAST_FP32, unless its poses deviate from fp32's
    by more than config.tolerance_mm on held-out inputs, then SAFE_FP32 (where neither is within it,
    the closer). Returns a summary: calibration files, window frames, fp32 nodes, ops, (what stayed
    fp32, deviation in mm) of every attempt, what was kept."""
    import onnx
    from onnxruntime.quantization import quant_pre_process
    model_path, output = Path(model_path), Path(output)
    name, shape = model_input(model_path)
    if output.resolve() == model_path.resolve():
        raise Vp3dError(f"{output}: the output would overwrite the input model; name another file")
    files = calibration_files(calibration_dir, config.inputs)
    length = shape[1] if shape[1] is not None else config.frames
    with tempfile.TemporaryDirectory(prefix="vp3d_quant.") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            # symbolic shape inference warns once per dilated conv that it cannot bound a dynamic length
            logging.getLogger("onnxruntime.tools.symbolic_shape_infer").setLevel(logging.ERROR)
            quant_pre_process(str(model_path), str(pre), skip_symbolic_shape=False)
            pre_model = onnx.load(str(pre))
            opset = next((o.version for o in pre_model.opset_import if o.domain in ("", "ai.onnx")), 0)
            if opset < QDQ_OPSET:              # per-channel DequantizeLinear (axis) needs opset 13
                pre_model = onnx.version_converter.convert_version(pre_model, QDQ_OPSET)
        except Exception as e:
            raise Vp3dError(f"{model_path}: ONNX Runtime's quantization pre-processing failed "
                            f"({first_line(e)})") from None
        spread = None
        if config.equalize:
            try:
                tensors = sum(equalized_tensors(pre_model), [])
            except Vp3dError as e:
                raise Vp3dError(f"{model_path}: {e}") from None
            spread = equalize(pre_model, channel_maxima(pre_model, tensors, _Reader(name, files, shape, length,
                                                                                     config.seed)))
        held, unseen = held_out_windows(calibration_dir, files, shape, length)
        reference = predict_windows(model_path, held)        # fp32 poses, once for every attempt
        tried = []                                   # (file, summary, what stayed fp32)
        for fp32 in ([config.fp32] if config.fp32 is not None else [FAST_FP32, SAFE_FP32]):
            candidate = Path(tmp) / f"int8_{len(tried)}.onnx"
            info = _quantize_static(pre_model, Path(tmp), candidate, fp32, name, files, shape, length, config,
                                    f"{model_path}: calibration on {Path(calibration_dir)}")
            info["deviation_mm"] = deviation_mm(reference, candidate, held)
            tried.append((candidate, info, ",".join(fp32) or "none"))
            if info["deviation_mm"] <= config.tolerance_mm:
                break
        else:                                        # none within the tolerance: the closest
            tried.append(min(tried, key=lambda t: t[1]["deviation_mm"]))
        candidate, info, kept = tried[-1]
        _record(candidate, {"fp32": kept, "method": config.method, "equalized": config.equalize,
                            "calibration_inputs": len(files), "deviation_mm": round(info["deviation_mm"], 3),
                            "checked_on_inputs": len(held), "checked_on_unseen_inputs": unseen})
        with atomic_path(output) as out:
            shutil.copyfile(candidate, out)
    attempts = list(dict.fromkeys((k, i["deviation_mm"]) for _, i, k in tried))
    return {"files": len(files), "frames": length, **info, "method": config.method, "equalized": spread,
            "attempts": attempts, "kept": kept, "checked_on": len(held), "unseen": unseen}


def _quantize_static(pre_model, tmp: Path, out: Path, fp32: tuple[str, ...], name: str, files: list[Path],
                     shape: tuple, length: int | None, config: QuantizeConfig, where: str) -> dict:
    """One ONNX Runtime quantize_static run of the pre-processed model keeping `fp32` in fp32."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    model = onnx.ModelProto()
    model.CopyFrom(pre_model)
    nodes, op_types = resolve_fp32(model, fp32)
    if config.fp32_residual:
        split_shared_conv_inputs(model, set(nodes))
    pre = tmp / "pre_split.onnx"
    onnx.save(model, str(pre))
    quantized_ops = sorted({n.op_type for n in model.graph.node} & {"Conv", "Add", "Relu"} - set(op_types))
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[config.method]
    extra = {"ActivationSymmetric": config.symmetric_activations, "WeightSymmetric": True,
             "CalibTensorRangeSymmetric": config.symmetric_activations,
             "CalibStridedMinMax": 1}       # one input at a time (see _Reader)
    if config.method == "percentile":
        extra["CalibPercentile"] = config.percentile
    try:
        with contextlib.redirect_stdout(io.StringIO()):      # the histogram calibrators' progress prints
            quantize_static(str(pre), str(out), _Reader(name, files, shape, length, config.seed),
                            quant_format=QuantFormat.QDQ, op_types_to_quantize=quantized_ops,
                            per_channel=config.per_channel,
                            activation_type=QuantType.QInt8 if config.symmetric_activations else QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=nodes, calibrate_method=method,
                            extra_options=extra, calibration_providers=["CPUExecutionProvider"])
    except Vp3dError:
        raise
    except Exception as e:
        raise Vp3dError(f"{where} failed "
                        f"({first_line(e)})") from None
    return {"fp32_nodes": nodes, "fp32_op_types": op_types, "quantized_ops": quantized_ops}


def _record(path: Path, facts: dict) -> None:
    """Add the quantization's facts to the ONNX file's metadata (key INT8_KEY, JSON)."""
    import json

    import onnx
    m = onnx.load(str(path))
    onnx.helper.set_model_props(m, {**{p.key: p.value for p in m.metadata_props}, INT8_KEY: json.dumps(facts)})
    onnx.save(m, str(path))


def count_ops(path: str | Path) -> dict[str, int]:
    """{op_type: count} of an ONNX file's graph."""
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    return dict(Counter(n.op_type for n in m.graph.node))
