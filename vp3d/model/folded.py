"""A TemporalModel's weights as plain numpy matrices, batch norm folded into the convolutions: what a
frame-by-frame stream (pipeline.stream) multiplies. Read from a model in memory (torch) or from an
exported ONNX file's initializers (no torch needed: the exporter already folded batch norm).

Every layer is a dilated convolution written as one matrix over its concatenated taps (a dense model's, d = 1):
  out[t] = relu(weight @ concat(x[t], x[t + d], ..., x[t + (w - 1) d]) + bias)      weight (C_out, w C_in)
Blocks add a 1 x 1 layer and a residual (the middle tap, or the newest for causal models).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError

BN_EPS = 1e-5     # torch BatchNorm's default epsilon, which TemporalModel keeps


@dataclass
class FoldedLayer:
    """One convolution with its batch norm folded in: weight (C_out, width * C_in), bias (C_out,), float32.
    Rows C_out-major: BLAS reads a matrix-vector product fastest from this side."""

    weight: np.ndarray
    bias: np.ndarray
    width: int = 1
    dilation: int = 1

    @property
    def span(self) -> int:
        """Input frames one output frame reads: (width - 1) * dilation + 1."""
        return (self.width - 1) * self.dilation + 1


@dataclass
class FoldedModel:
    """expand (a FoldedLayer), blocks [(dilated FoldedLayer, 1 x 1 FoldedLayer)], shrink (C, 3 J_out) + bias.
    Input frames (J_in * 2,) normalised keypoints; output (J_out * 3,) metres."""

    expand: FoldedLayer
    blocks: list[tuple[FoldedLayer, FoldedLayer]]
    shrink: FoldedLayer
    causal: bool
    num_joints_out: int
    description: str = ""
    layers: list[FoldedLayer] = field(init=False)

    def __post_init__(self):
        self.layers = [self.expand] + [wide for wide, _ in self.blocks]

    @property
    def receptive_field(self) -> int:
        return 1 + sum(layer.span - 1 for layer in self.layers)

    @property
    def residual_taps(self) -> list[int]:
        """Per block, which tap is the residual: the middle one, the newest for causal models."""
        return [wide.width - 1 if self.causal else (wide.width - 1) // 2 for wide, _ in self.blocks]

    @property
    def channels_in(self) -> int:
        return self.expand.weight.shape[1] // self.expand.width

    def astype(self, dtype) -> "FoldedModel":
        cast = lambda l: FoldedLayer(l.weight.astype(dtype), l.bias.astype(dtype), l.width, l.dilation)
        return FoldedModel(cast(self.expand), [(cast(a), cast(b)) for a, b in self.blocks], cast(self.shrink),
                           self.causal, self.num_joints_out, self.description)


def _fold(weight: np.ndarray, bias: np.ndarray | None, bn: dict | None, dilation: int) -> FoldedLayer:
    """A conv weight (C_out, C_in, w) [+ bias] [+ batch norm {weight, bias, running_mean, running_var}] ->
    FoldedLayer with columns ordered tap-major (tap k's C_in columns at k * C_in)."""
    w = weight.astype(np.float64)
    b = np.zeros(w.shape[0]) if bias is None else bias.astype(np.float64)
    if bn is not None:
        scale = bn["weight"].astype(np.float64) / np.sqrt(bn["running_var"].astype(np.float64) + BN_EPS)
        w = w * scale[:, None, None]
        b = (b - bn["running_mean"]) * scale + bn["bias"]
    weight = w.transpose(0, 2, 1).reshape(w.shape[0], -1)           # (C_out, w * C_in)
    return FoldedLayer(np.ascontiguousarray(weight, np.float32), b.astype(np.float32), w.shape[2], dilation)


def _conv1d(weight: np.ndarray) -> np.ndarray:
    """A conv weight in any WEIGHT_LAYOUT -> (C_out, C_in, w)."""
    if weight.ndim == 3:
        return weight
    return weight[:, :, :, 0] if weight.shape[3] == 1 and weight.shape[2] != 1 else weight[:, :, 0, :]


def from_torch(model) -> FoldedModel:
    """A TemporalModel (eval mode, any weight layout) -> FoldedModel."""
    c = model.config
    np_ = lambda t: t.detach().cpu().numpy()
    bn = lambda m: {k: np_(getattr(m, k)) for k in ("weight", "bias", "running_mean", "running_var")}
    expand = _fold(_conv1d(np_(model.expand_conv.weight)), None, bn(model.expand_bn), 1)
    blocks = []
    for i, dilation in enumerate(model.dilations):
        blocks.append((_fold(_conv1d(np_(model.layers_conv[2 * i].weight)), None, bn(model.layers_bn[2 * i]), dilation),
                       _fold(_conv1d(np_(model.layers_conv[2 * i + 1].weight)), None, bn(model.layers_bn[2 * i + 1]), 1)))
    shrink = _fold(_conv1d(np_(model.shrink.weight)), np_(model.shrink.bias), None, 1)
    return FoldedModel(expand, blocks, shrink, c.causal, c.num_joints_out, "folded from a checkpoint")


def from_onnx(path: str | Path, causal: bool) -> FoldedModel:
    """The Conv initializers of an exported TemporalModel (vp3d_pth2onnx.py: batch norm already folded into
    them), in graph order: expand, (dilated, 1 x 1) per block, shrink. `causal`: the model's (the metadata
    records it; upstream-style files cannot tell). Vp3dError for graphs of another shape (e.g. int8)."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if not convs or len(convs) % 2 or any(n.input[1] not in inits for n in convs) \
            or any(n.op_type in ("BatchNormalization", "QLinearConv", "DequantizeLinear", "ConvInteger")
                   for n in graph.node):
        raise Vp3dError(f"{path}: not a float vp3d export (expected Conv layers with constant weights, batch "
                        f"norm folded, no quantization); stream from its checkpoint or its fp32 export")
    layers = []
    for n in convs:
        attrs = {a.name: list(a.ints) for a in n.attribute}
        weight = inits[n.input[1]]
        dilation = max(attrs.get("dilations", [1]))
        bias = inits.get(n.input[2]) if len(n.input) > 2 else None
        layers.append(_fold(_conv1d(weight), bias, None, dilation))
    expand, shrink, rest = layers[0], layers[-1], layers[1:-1]
    blocks = list(zip(rest[0::2], rest[1::2]))
    return FoldedModel(expand, blocks, shrink, causal, shrink.weight.shape[0] // 3, "from ONNX initializers")
