"""Small TemporalModels with random weights (and an optimizer state as upstream's run.py saves it)."""
from __future__ import annotations

import torch

from vp3d.facts.architecture import ModelConfig
from vp3d.model.temporal import TemporalModel, randomize_batchnorm


def random_model(filter_widths=(3, 3), channels=32, weight_layout="conv1d", seed=0, causal=False,
                 joints_in=17, joints_out=17, dense=False) -> TemporalModel:
    """A TemporalModel with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = TemporalModel(ModelConfig(filter_widths=tuple(filter_widths), channels=channels,
                                      weight_layout=weight_layout, causal=causal, dense=dense,
                                      num_joints_in=joints_in, num_joints_out=joints_out))
    return randomize_batchnorm(model, seed).eval()


def upstream_style_optimizer_state(model: TemporalModel) -> dict:
    """An Adam state dict after one step, as run.py saves it."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    model.train()
    model(torch.randn(2, model.receptive_field + 4, 17, 2)).square().mean().backward()
    opt.step()
    model.eval()
    return opt.state_dict()
