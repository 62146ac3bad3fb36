"""One streaming step as a static ONNX graph (vp3d_pth2onnx.py --stream): a new frame and each layer's
state in, the newest output and the new states out, so that ONNX Runtime, OpenVINO and ATC run a stream.

    frame        (R, J_in * 2)        normalised keypoints of the new frame, one row per stream (a track
                                      and its mirror are two rows; the caller un-flips and averages)
    state_i      (R, span_i - 1, C_i) the last span_i - 1 input columns of layer i, oldest first
    -> pose      (R, J_out * 3)       the newest output column, metres (the frame RF - 1 - lead back)
    -> new_state_i                    state_i shifted by one column, the new one last

Layer i reads taps 0, d, ..., (w - 1) d of concat(state_i, its new column): the same products as
pipeline.stream.StatePool.step on the same weights (model.folded). Shapes are static (R fixed at
export). The metadata (STREAM_KEY) records the model's facts, R and every state's shape.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import atomic_path
from vp3d.io.onnx_meta import metadata_record, read_onnx_metadata
from vp3d.model.folded import FoldedModel

STREAM_KEY = "vp3d_stream"
STREAM_FORMAT = "vp3d-stream-1"
FRAME_NAME, POSE_NAME = "frame", "pose"
STREAM_OPSET = 11          # the Ascend recipe's; nothing here needs newer operators


def state_names(layers: int) -> tuple[list[str], list[str]]:
    return [f"state_{i}" for i in range(layers)], [f"new_state_{i}" for i in range(layers)]


def step_graph(model: FoldedModel, rows: int, facts: dict | None = None):
    """The onnx.ModelProto of one step for `rows` streams; `facts` (JSON-able) joins the metadata."""
    from onnx import TensorProto, helper, numpy_helper
    if any(layer.span < 2 for layer in model.layers):
        raise Vp3dError("a layer of width 1 keeps no state: a streaming export needs widths of 3 or more")
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def dense(x, layer, name, relu=True):
        nodes.append(helper.make_node("MatMul", [x, const(f"{name}.w", np.ascontiguousarray(layer.weight.T))], [f"{name}.xw"]))
        nodes.append(helper.make_node("Add", [f"{name}.xw", const(f"{name}.b", layer.bias)], [f"{name}.z"]))
        if not relu:
            return f"{name}.z"
        nodes.append(helper.make_node("Relu", [f"{name}.z"], [f"{name}.y"]))
        return f"{name}.y"

    ins, outs = state_names(len(model.layers))
    channels = [model.channels_in] + [wide.weight.shape[0] for wide, _ in model.blocks]
    shapes = [[rows, layer.span - 1, c] for layer, c in zip(model.layers, channels)]
    h = FRAME_NAME
    for i, (layer, c) in enumerate(zip(model.layers, channels)):
        n = f"l{i}"
        nodes.append(helper.make_node("Reshape", [h, const(f"{n}.col", np.array([rows, 1, c], np.int64))], [f"{n}.new"]))
        nodes.append(helper.make_node("Concat", [ins[i], f"{n}.new"], [f"{n}.full"], axis=1))
        taps = const(f"{n}.taps", np.arange(layer.width, dtype=np.int64) * layer.dilation)
        nodes.append(helper.make_node("Gather", [f"{n}.full", taps], [f"{n}.taps3"], axis=1))
        nodes.append(helper.make_node("Reshape", [f"{n}.taps3", const(f"{n}.flat", np.array([rows, layer.width * c], np.int64))],
                                      [f"{n}.x"]))
        nodes.append(helper.make_node("Slice", [f"{n}.full", const(f"{n}.s0", np.array([1], np.int64)),
                                                const(f"{n}.s1", np.array([layer.span], np.int64)),
                                                const(f"{n}.ax", np.array([1], np.int64))], [outs[i]]))
        y = dense(f"{n}.x", layer, f"{n}.wide")
        if i > 0:
            y = dense(y, model.blocks[i - 1][1], f"{n}.point")
            tap = const(f"{n}.res", np.array(model.residual_taps[i - 1] * layer.dilation, np.int64))
            nodes.append(helper.make_node("Gather", [f"{n}.full", tap], [f"{n}.skip"], axis=1))
            nodes.append(helper.make_node("Add", [y, f"{n}.skip"], [f"{n}.out"]))
            y = f"{n}.out"
        h = y
    nodes.append(helper.make_node("Identity", [dense(h, model.shrink, "shrink", relu=False)], [POSE_NAME]))
    value = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    graph = helper.make_graph(nodes, "vp3d_stream_step",
                              [value(FRAME_NAME, [rows, model.channels_in])] + [value(a, s) for a, s in zip(ins, shapes)],
                              [value(POSE_NAME, [rows, model.shrink.weight.shape[0]])] +
                              [value(b, s) for b, s in zip(outs, shapes)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", STREAM_OPSET)])
    meta = {"format": STREAM_FORMAT, "rows": rows, "receptive_field": model.receptive_field,
            "causal": model.causal, "states": shapes, **(facts or {})}
    helper.set_model_props(proto, {STREAM_KEY: json.dumps(meta)})
    return proto


def export_stream(model: FoldedModel, path: str | Path, rows: int = 2, facts: dict | None = None) -> None:
    """Write step_graph(model, rows) to `path` (atomically), checked by onnx.checker."""
    import onnx
    if rows < 1:
        raise Vp3dError(f"rows {rows}: a streaming step takes at least one row")
    proto = step_graph(model, rows, facts)
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def stream_metadata(path: str | Path) -> dict | None:
    """The STREAM_KEY record of an ONNX file (None: not a streaming export)."""
    return metadata_record(read_onnx_metadata(path), STREAM_KEY, STREAM_FORMAT, path)


def from_step_onnx(path: str | Path) -> FoldedModel:
    """The FoldedModel a streaming-step export was written from (its MatMul weights, the taps' dilation),
    so that load_model(step.onnx).stream() streams it on any engine. Vp3dError for other files."""
    import onnx
    from onnx import numpy_helper
    from vp3d.model.folded import FoldedLayer
    meta = stream_metadata(path)
    if meta is None:
        raise Vp3dError(f"{path}: not a streaming-step export (vp3d_pth2onnx.py --stream)")
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    try:
        def layer(name, taps=None):
            width, dilation = (1, 1) if taps is None else (len(taps), int(taps[1] - taps[0]) if len(taps) > 1 else 1)
            return FoldedLayer(np.ascontiguousarray(inits[f"{name}.w"].T, np.float32),
                               inits[f"{name}.b"].astype(np.float32), width, dilation)
        layers = len(meta["states"])
        expand = layer("l0.wide", inits["l0.taps"])
        blocks = [(layer(f"l{i}.wide", inits[f"l{i}.taps"]), layer(f"l{i}.point")) for i in range(1, layers)]
        shrink = layer("shrink")
    except KeyError as e:
        raise Vp3dError(f"{path}: a streaming-step export without initializer {e} (a quantized copy? "
                        f"stream from the fp32 export)") from None
    return FoldedModel(expand, blocks, shrink, bool(meta["causal"]), shrink.weight.shape[0] // 3,
                       "from a streaming-step export")


class StepSession:
    """An exported step on ONNX Runtime (or OpenVINO): step((R, C_in) frames) -> (R, 3 J_out), keeping the
    states; states start at zero (reset())."""

    def __init__(self, path: str | Path, engine: str = "onnxruntime", threads: int | None = None):
        meta = stream_metadata(path)
        if meta is None:
            raise Vp3dError(f"{path}: not a streaming-step export (vp3d_pth2onnx.py --stream)")
        self.meta, self.rows = meta, meta["rows"]
        self.names = state_names(len(meta["states"]))
        self.reset()
        if engine.startswith("openvino"):
            import openvino as ov
            compiled = ov.Core().compile_model(str(path), "CPU", {
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if engine.endswith("bf16") else "f32",
                **({"INFERENCE_NUM_THREADS": threads} if threads else {})})
            request = compiled.create_infer_request()
            order = [o.get_any_name() for o in compiled.outputs]
            self._run = lambda feed: (lambda r: [r[order.index(n)] for n in [POSE_NAME, *self.names[1]]])(
                list(request.infer(feed).values()))
        else:
            import onnxruntime as ort
            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads = threads
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._run = lambda feed: session.run([POSE_NAME, *self.names[1]], feed)

    def reset(self) -> None:
        self.states = [np.zeros(s, np.float32) for s in self.meta["states"]]

    def step(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape != (self.rows, self.meta["states"][0][2]):
            raise Vp3dError(f"frames of shape {frames.shape}: the export takes ({self.rows}, {self.meta['states'][0][2]})")
        out = self._run({FRAME_NAME: np.ascontiguousarray(frames, np.float32), **dict(zip(self.names[0], self.states))})
        self.states = [np.asarray(s) for s in out[1:]]
        return np.asarray(out[0])
