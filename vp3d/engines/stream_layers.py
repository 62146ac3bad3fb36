"""The matrix products of a stream (pipeline.stream) on an engine: each folded layer as a function
(N, K) float32 columns -> (N, C_out) float32, x @ weight.T + bias, then relu (not for the shrink layer).

A streaming step is one column per layer, so it reads every weight once per frame: its cost is the
weights' bytes. The engines differ in how they store them: numpy fp32 (OpenBLAS; the default without
optional packages), ONNX Runtime fp32 or int8 (quantize_dynamic: int8 weights per output channel,
activations quantised per call; or -blocks: MatMulNBits, a scale per 32 weights, activations per block), OpenVINO f32 or bf16 (bf16 weights and products where the CPU has
AVX512-BF16/AMX), torch fp32 or bf16 (F.linear on bf16 copies). The state between layers stays float32
numpy in all of them. ENGINES names them; make_stream_layer() builds one layer's function; default_engine() is
the first installed of PREFERENCE (float32 only: bf16 and int8 are asked for by name).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from vp3d.engines import devices
from vp3d.errors import Vp3dError, needs_extra
from vp3d.model.folded import FoldedLayer

StreamLayer = Callable[[np.ndarray], np.ndarray]

# engine -> (the extra that installs it, its module)
ENGINES = {"numpy": (None, None), "onnxruntime": ("", "onnxruntime"), "onnxruntime-int8": ("", "onnxruntime"),
           "onnxruntime-int8-blocks": ("", "onnxruntime"),
           "openvino": ("openvino", "openvino"), "openvino-bf16": ("openvino", "openvino"),
           "torch": ("torch", "torch"), "torch-bf16": ("torch", "torch")}


# the float32 engines (equal to offline lift()), fastest first as measured (docs/streaming.md): ONNX
# Runtime (a core dependency) on sessions that do not spin holds its latency under load best
PREFERENCE = ("onnxruntime", "numpy")


def default_engine() -> str:
    """The first engine of PREFERENCE whose package is installed."""
    return next(e for e in PREFERENCE if available(e))


def available(engine: str) -> bool:
    """Whether `engine`'s package imports."""
    import importlib
    module = ENGINES[engine][1]
    try:
        return module is None or importlib.import_module(module) is not None
    except ImportError:
        return False


def _numpy(layer: FoldedLayer, relu: bool) -> StreamLayer:
    weight, bias = layer.weight, layer.bias

    def run(x: np.ndarray) -> np.ndarray:
        y = (weight @ np.ascontiguousarray(x.T)).T          # weight on the left: OpenBLAS's fast side
        y += bias
        return np.maximum(y, 0, out=y) if relu else y
    return run


def _layer_model(layer: FoldedLayer, relu: bool, matmul, weights: list, opsets: dict):
    """One layer as an ONNX model: x (N, K) -> `matmul` ("x" -> "xw") + b, relu where asked -> y (N, C_out),
    N dynamic; weights: matmul's initializers; opsets: {domain: version}."""
    from onnx import TensorProto, helper, numpy_helper
    c_out, k = layer.weight.shape
    nodes = [matmul, helper.make_node("Add", ["xw", "b"], ["z" if relu else "y"])]
    if relu:
        nodes.append(helper.make_node("Relu", ["z"], ["y"]))
    graph = helper.make_graph(nodes, "stream_layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", c_out])],
                              weights + [numpy_helper.from_array(layer.bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])


def _onnx_graph(layer: FoldedLayer, relu: bool):
    """One layer as an ONNX graph: x (N, K) -> relu(x @ W.T + b) (N, C_out), N dynamic."""
    from onnx import helper, numpy_helper
    return _layer_model(layer, relu, helper.make_node("MatMul", ["x", "w"], ["xw"]),
                        [numpy_helper.from_array(np.ascontiguousarray(layer.weight.T), "w")], {"": 17})


INT8_BLOCK = 32      # weights per int8 scale along the input axis (onnxruntime-int8-blocks)


def _block_int8_graph(layer: FoldedLayer, relu: bool):
    """One layer as ONNX Runtime's MatMulNBits (com.microsoft): 8-bit weights, one scale per INT8_BLOCK
    inputs of each output (symmetric, zero point 128), activations quantised per block too
    (accuracy_level 4); then bias and relu."""
    from onnx import helper, numpy_helper
    n, k = layer.weight.shape
    blocks = -(-k // INT8_BLOCK)
    w = np.zeros((n, blocks * INT8_BLOCK), np.float32)
    w[:, :k] = layer.weight
    w = w.reshape(n, blocks, INT8_BLOCK)
    scale = np.abs(w).max(axis=-1) / 127
    scale[scale == 0] = 1
    q = (np.clip(np.round(w / scale[..., None]), -127, 127) + 128).astype(np.uint8)
    matmul = helper.make_node("MatMulNBits", ["x", "w", "s"], ["xw"], domain="com.microsoft", K=k, N=n, bits=8,
                              block_size=INT8_BLOCK, accuracy_level=4)
    weights = [numpy_helper.from_array(q, "w"), numpy_helper.from_array(scale.reshape(-1).astype(np.float32), "s")]
    return _layer_model(layer, relu, matmul, weights, {"": 17, "com.microsoft": 1})


def _onnxruntime(layer: FoldedLayer, relu: bool, threads: int, int8: str | None) -> StreamLayer:
    import onnxruntime as ort
    model = _block_int8_graph(layer, relu) if int8 == "blocks" else _onnx_graph(layer, relu)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    # a step runs the layers' sessions one after another: a session's threads spinning after its run
    # would take the cores from the next one
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if int8 == "dynamic":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "layer.onnx", Path(tmp) / "layer.int8.onnx"
            onnx.save(model, src)
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True)
            model = onnx.load(dst)
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": np.ascontiguousarray(x, np.float32)})[0]


def _openvino(layer: FoldedLayer, relu: bool, threads: int, precision: str) -> StreamLayer:
    import openvino as ov
    import openvino.opset13 as ops
    x = ops.parameter([-1, layer.weight.shape[1]], np.float32, name="x")
    y = ops.add(ops.matmul(x, ops.constant(layer.weight), False, True), ops.constant(layer.bias))
    if relu:
        y = ops.relu(y)
    compiled = ov.Core().compile_model(ov.Model([y], [x]), "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    return lambda x: request.infer([np.ascontiguousarray(x, np.float32)])[0].copy()


def _torch(layer: FoldedLayer, relu: bool, threads: int, dtype: str) -> StreamLayer:
    import torch
    torch.set_num_threads(threads)
    kind = getattr(torch, dtype)
    weight, bias = torch.from_numpy(layer.weight).to(kind), torch.from_numpy(layer.bias).to(kind)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            y = torch.nn.functional.linear(torch.from_numpy(np.ascontiguousarray(x)).to(kind), weight, bias)
            return (torch.relu(y) if relu else y).float().numpy()
    return run


def make_stream_layer(layer: FoldedLayer, relu: bool, engine: str = "numpy", threads: int | None = None) -> StreamLayer:
    """`layer` on `engine` (ENGINES): (N, K) float32 -> (N, C_out) float32, relu applied where asked.
    Vp3dError for an unknown engine or a missing package (naming the pip extra)."""
    if engine not in ENGINES:
        raise Vp3dError(f"stream engine {engine!r}: expected one of {', '.join(ENGINES)}")
    extra, module = ENGINES[engine]
    if not available(engine):
        raise needs_extra(f"the {engine} stream engine", extra or "all", module)
    threads = threads or devices.physical_cores()
    if engine == "numpy":
        return _numpy(layer, relu)
    if engine.startswith("onnxruntime"):
        int8 = {"onnxruntime-int8": "dynamic", "onnxruntime-int8-blocks": "blocks"}.get(engine)
        return _onnxruntime(layer, relu, threads, int8)
    if engine.startswith("openvino"):
        return _openvino(layer, relu, threads, "bf16" if engine.endswith("bf16") else "f32")
    return _torch(layer, relu, threads, "bfloat16" if engine.endswith("bf16") else "float32")
