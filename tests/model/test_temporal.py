import pytest
import torch
from random_models import random_model

from vp3d.facts.architecture import ModelConfig
from vp3d.model.checkpoint import convert_state_dict
from vp3d.model.temporal import TemporalModel


@pytest.mark.parametrize("widths,rf", [((3, 3, 3, 3, 3), 243), ((3, 3, 3), 27), ((1,), 1), ((5, 3), 15)])
def test_receptive_field_and_output_shape(widths, rf):
    model = TemporalModel(ModelConfig(filter_widths=widths, channels=16)).eval()
    assert model.receptive_field == rf
    with torch.inference_mode():
        y = model(torch.randn(2, rf + 10, 17, 2))
    assert y.shape == (2, 11, 17, 3)


@pytest.mark.parametrize("weight_layout", ["conv2d", "conv2d_w"])
def test_weight_layouts_compute_the_same_function(weight_layout):
    ref = random_model((3, 3, 3), 24)
    other = TemporalModel(ref.config.replace(weight_layout=weight_layout)).eval()
    other.load_state_dict(convert_state_dict(ref.state_dict(), "conv1d", weight_layout))
    x = torch.randn(2, 60, 17, 2)
    with torch.inference_mode():
        torch.testing.assert_close(other(x), ref(x), atol=1e-5, rtol=1e-5)


def test_non_causal_output_frame_sees_a_centred_window():
    model = random_model((3, 3), 16)   # RF 9
    x = torch.randn(1, 30, 17, 2)
    with torch.inference_mode():
        y = model(x)
        x2 = x.clone()
        x2[:, 20] += 1.0                # output i sees input frames i .. i+8
        y2 = model(x2)
    changed = (y2 - y).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.nonzero().flatten().tolist() == list(range(12, 21))


def test_causal_model_shifts_the_residual_towards_the_past():
    causal = random_model((3, 3), 16, causal=True)
    plain = TemporalModel(causal.config.replace(causal=False)).eval()
    plain.load_state_dict(causal.state_dict())
    assert causal.config.causal_shift == 4 and plain.config.causal_shift == 0
    x = torch.randn(1, 30, 17, 2)
    with torch.inference_mode():
        assert not torch.allclose(causal(x), plain(x))


