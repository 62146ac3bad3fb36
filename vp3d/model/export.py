"""ONNX export of a TemporalModel, with the model's facts in the file's metadata (io.onnx_meta), and the
checks an export gets before ATC or a runtime: onnx.checker, ONNX Runtime against PyTorch."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import atomic_path
from vp3d.io.onnx_meta import FACTS_FORMAT, FACTS_KEY, INPUT_NAME, OUTPUT_NAME

DEFAULT_WEIGHT_LAYOUT = "conv2d_w"   # 1 x k kernels, time on W: the fastest for ONNX Runtime on CPU
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


def check_onnx(path: str | Path) -> tuple[tuple, tuple]:
    """Run onnx.checker; return the (input, output) shapes of the graph, None for dynamic axes."""
    import onnx
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    dims = lambda v: tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim)
    return dims(m.graph.input[0]), dims(m.graph.output[0])


def max_abs_difference(path: str | Path, model, length: int, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over one random input of `length` frames (metres)."""
    import onnxruntime as ort
    import torch
    c = model.config
    x = np.random.default_rng(seed).uniform(-1, 1, (2, length, c.num_joints_in, c.in_features)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x})[0]
    if got.shape != expected.shape:
        raise Vp3dError(f"{path}: ONNX Runtime returned {got.shape} for {length} frames, PyTorch {expected.shape}")
    return float(np.max(np.abs(got - expected)))


