"""The temporal convolution model of Pavllo et al. (CVPR 2019), in three weight layouts; dilated, or dense as in
upstream's --dense ablation (each block's conv reads every frame of its span: ModelConfig.wide_convs).

Input (N, T, J_in, 2) normalised 2D keypoints -> output (N, T - RF + 1, J_out, 3), metres,
root-relative (joint 0 carries no trajectory), RF the receptive field (243 for widths 3,3,3,3,3).

Weight layouts, all computing the same function from the same weights:
  conv1d    Conv1d / BatchNorm1d, time on the last axis: upstream's weights and checkpoints.
  conv2d    Conv2d with k x 1 kernels, time on H: the Ascend recipe's weights (ATC converts it).
  conv2d_w  Conv2d with 1 x k kernels, time on W: the fastest for ONNX Runtime on CPU.
"""
from __future__ import annotations

import torch
from torch import nn

from vp3d.facts.architecture import ModelConfig


class TemporalModel(nn.Module):
    """Expand conv, then per block a dilated (or, config.dense, a dense) conv and a 1x1 conv with a residual,
    then shrink."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        conv, bn = _layers(c.weight_layout)
        self.time_dim = 3 if c.weight_layout == "conv2d_w" else 2
        self.expand_conv = conv(c.num_joints_in * c.in_features, c.channels, c.filter_widths[0], bias=False)
        self.expand_bn = bn(c.channels, momentum=0.1)
        self.drop = nn.Dropout(c.dropout)
        self.relu = nn.ReLU(inplace=True)
        self.pads, self.shifts = [], []   # per block: residual crop and causal shift, in frames
        self.dilations = []               # per block: dilation of its wide conv (1 for dense models)
        layers_conv, layers_bn = [], []
        for kernel, dilation in c.wide_convs:
            self.dilations.append(dilation)
            self.pads.append((kernel - 1) * dilation // 2)
            self.shifts.append(self.pads[-1] if c.causal else 0)
            layers_conv.append(conv(c.channels, c.channels, kernel, dilation=dilation, bias=False))
            layers_bn.append(bn(c.channels, momentum=0.1))
            layers_conv.append(conv(c.channels, c.channels, 1, bias=False))
            layers_bn.append(bn(c.channels, momentum=0.1))
        self.layers_conv = nn.ModuleList(layers_conv)
        self.layers_bn = nn.ModuleList(layers_bn)
        self.shrink = conv(c.channels, c.num_joints_out * 3, 1)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, J_in, 2) -> (N, T - RF + 1, J_out, 3)."""
        n, t = x.shape[0], x.shape[1]
        assert x.shape[2:] == (self.config.num_joints_in, self.config.in_features), \
            f"expected (N, T, {self.config.num_joints_in}, {self.config.in_features}), got {tuple(x.shape)}"
        x = x.reshape(n, t, -1).permute(0, 2, 1)           # (N, C_in, T)
        if self.config.weight_layout == "conv2d":
            x = x.unsqueeze(3)                              # (N, C_in, T, 1)
        elif self.config.weight_layout == "conv2d_w":
            x = x.unsqueeze(2)                              # (N, C_in, 1, T)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, (pad, shift) in enumerate(zip(self.pads, self.shifts)):
            res = self.crop(x, pad + shift, pad - shift)
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        x = self.shrink(x)                                  # (N, 3 J_out, T', [1])
        x = x.reshape(n, x.shape[1], -1).permute(0, 2, 1)   # (N, T', 3 J_out)
        return x.reshape(n, -1, self.config.num_joints_out, 3)

    def crop(self, x: torch.Tensor, first: int, drop_last: int) -> torch.Tensor:
        """x without its `first` and its last `drop_last` frames in time: a residual connection's crop.
        Constant bounds, so that an exported graph computes no shapes for it (OpenVINO 2026.4 runs
        quantized graphs that do wrongly once their time axis is bounded: backends.OpenVinoSession)."""
        index = [slice(None)] * x.dim()
        index[self.time_dim] = slice(first, -drop_last or None)
        return x[tuple(index)]

    def forward_single_frame(self, x: torch.Tensor, drop=None) -> torch.Tensor:
        """(N, RF, J_in, 2) -> (N, 1, J_out, 3): the same function as forward(x), computed as upstream's
        TemporalModelOptimized1f does (each conv strided by its width instead of dilated), so that only
        the frames the single output needs are computed: training with one output frame per example.
        Channels-last: every conv is one matmul of (N * frames / width, width * C_in) by the kernel, and
        batch norm sees (N * frames, C). `drop` replaces the model's dropout (e.g. a faster sampler).
        Conv1d weight layout, dilated models only (a dense conv reads every frame: upstream trains those with
        forward)."""
        c = self.config
        assert c.weight_layout == "conv1d", \
            f"single-frame forward needs the conv1d weight layout, got {c.weight_layout}"
        assert not c.dense, "single-frame forward needs a dilated model; dense models train with forward()"
        n, t = x.shape[0], x.shape[1]
        assert t == c.receptive_field, f"expected {c.receptive_field} input frames, got {t}"
        drop = drop or self.drop

        def strided_conv(h, weight, width):            # (N, T, C_in) -> (N, T / width, C_out)
            kernel = weight.permute(0, 2, 1).reshape(weight.shape[0], -1)     # (C_out, width * C_in)
            return h.reshape(n, h.shape[1] // width, width * h.shape[2]) @ kernel.t()

        def bn_relu_drop(h, bn):                        # batch norm over (N * T, C)
            return drop(self.relu(bn(h.reshape(-1, h.shape[2])).reshape(h.shape)))

        h = x.reshape(n, t, x.shape[2] * x.shape[3])                              # (N, RF, C_in)
        h = bn_relu_drop(strided_conv(h, self.expand_conv.weight, c.filter_widths[0]), self.expand_bn)
        for i, width in enumerate(c.filter_widths[1:]):                          # h: (N, T_i, C)
            offset = (self.pads[i] + self.shifts[i]) // self.dilations[i]         # the residual's frame
            res = h[:, offset::width]                                             # (N, T_i / width, C)
            h = bn_relu_drop(strided_conv(h, self.layers_conv[2 * i].weight, width), self.layers_bn[2 * i])
            h = res + bn_relu_drop(h @ self.layers_conv[2 * i + 1].weight[:, :, 0].t(), self.layers_bn[2 * i + 1])
        h = nn.functional.linear(h, self.shrink.weight[:, :, 0], self.shrink.bias)   # (N, 1, 3 J_out)
        return h.reshape(n, 1, c.num_joints_out, 3)


def randomize_batchnorm(model: TemporalModel, seed: int = 0) -> TemporalModel:
    """Give every batch norm random, non-trivial statistics and scales (in place, seeded), so that a
    random-weight model exercises them as a trained one does: benchmarks and tests use it."""
    g = torch.Generator().manual_seed(seed)
    uniform = lambda t, lo, hi: t.copy_(lo + (hi - lo) * torch.rand(t.shape, generator=g))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                uniform(m.running_mean, -0.2, 0.2)
                uniform(m.running_var, 0.5, 2.0)
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.1, 0.1)
    return model


def _layers(weight_layout: str):
    """(conv factory, batch-norm class) for a weight layout; the factory takes a 1D kernel size."""
    if weight_layout == "conv1d":
        return nn.Conv1d, nn.BatchNorm1d

    def conv2d(c_in, c_out, k, dilation=1, bias=True):
        kernel, dil = ((k, 1), (dilation, 1)) if weight_layout == "conv2d" else ((1, k), (1, dilation))
        return nn.Conv2d(c_in, c_out, kernel, dilation=dil, bias=bias)

    return conv2d, nn.BatchNorm2d
