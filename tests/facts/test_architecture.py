"""The model's facts: receptive field arithmetic, FLOPs, what a config may hold."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from vp3d.facts.architecture import ModelConfig, count_flops
from vp3d.model.temporal import TemporalModel


def test_flop_count_matches_torch_counter():
    config = ModelConfig(filter_widths=(3, 3, 3), channels=32)
    model = TemporalModel(config).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.randn(2, 100, 17, 2))
    assert count_flops(config, 100, batch=2) == counter.get_total_flops()


def test_full_model_is_408_gflop_at_6115_frames():
    assert round(count_flops(ModelConfig(), 6115, batch=2) / 1e9) == 408


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="odd"):
        ModelConfig(filter_widths=(3, 2))
    with pytest.raises(ValueError, match="weight layout"):
        ModelConfig(weight_layout="nhwc")
