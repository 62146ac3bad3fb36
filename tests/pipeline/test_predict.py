"""The one model path: padding, flip, un-flip and chunking against direct model calls."""
import numpy as np
import pytest
import torch
from random_models import random_model

from vp3d.engines.backends import TorchSession
from vp3d.facts.skeleton import h36m_skeleton17, keypoint_layouts
from vp3d.pipeline.predict import chunk_windows, predict_sequence, run_windows

KPS = keypoint_layouts()["h36m"].symmetry
JOINTS = h36m_skeleton17().symmetry


def _direct(model, x, causal):
    """The expected result computed by hand: pad, run the sequence and its mirror, average."""
    rf = model.receptive_field
    pad = (rf - 1) // 2
    before, after = (2 * pad, 0) if causal else (pad, pad)
    padded = np.concatenate([x[:1].repeat(before, 0), x, x[-1:].repeat(after, 0)])
    mirrored = padded[:, KPS.permutation(17)] * [-1, 1]
    with torch.no_grad():
        y = model(torch.from_numpy(np.stack([padded, mirrored]).astype(np.float32))).numpy()
    back = y[1][:, JOINTS.permutation(17)] * [-1, 1, 1]
    return (y[0] + back) / 2


@pytest.mark.parametrize("causal", [False, True])
def test_whole_chunked_and_static_length_agree_with_the_direct_computation(causal):
    model = random_model((3, 3, 3), 32, seed=2, causal=causal)
    x = np.random.default_rng(3).uniform(-1, 1, (130, 17, 2)).astype(np.float32)
    expected = _direct(model, x, causal)
    run = TorchSession.of_model(model).run
    for kwargs in ({}, {"chunk": 1}, {"chunk": 29}, {"chunk": 500}, {"length": 27}, {"length": 64}):
        got = predict_sequence(run, x, 27, causal, KPS, JOINTS, **kwargs)
        assert got.shape == (130, 17, 3)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=str(kwargs))


def test_chunk_windows_cover_every_frame_once():
    assert chunk_windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_windows(3, 10) == [(0, 3)]


def test_run_windows_bounds_every_call_by_the_chunk():
    model = random_model((3, 3), 16, seed=1)
    run = TorchSession.of_model(model).run
    calls = []
    counting = lambda a: calls.append(a.shape[1]) or run(a)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 108, 17, 2)).astype(np.float32)   # 100 output frames
    got = run_windows(counting, x, 9, chunk=30)
    assert calls == [38, 38, 38, 18]                    # 30 (last: 10) output frames + RF - 1 each
    np.testing.assert_allclose(got, run(x), atol=1e-5)
