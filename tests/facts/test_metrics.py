import numpy as np
import pytest

from vp3d.facts.metrics import mpjpe, mpjve, n_mpjpe, p_mpjpe


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.fixture
def poses():
    return np.random.default_rng(0).normal(0, 0.3, (20, 17, 3))


def test_mpjpe_hand_worked():
    target = np.zeros((2, 2, 3))
    pred = np.array([[[3, 4, 0], [0, 0, 1]], [[0, 0, 0], [0, 2, 0]]], dtype=float)
    assert mpjpe(pred, target) == pytest.approx((5 + 1 + 0 + 2) / 4)


def test_p_mpjpe_is_zero_under_a_similarity_transform(poses):
    rng = np.random.default_rng(1)
    pred = np.stack([1.7 * p @ random_rotation(rng) + rng.normal(size=3) for p in poses])
    assert p_mpjpe(pred, poses) == pytest.approx(0, abs=1e-9)
    assert mpjpe(pred, poses) > 0.1


def test_p_mpjpe_excludes_reflections(poses):
    mirrored = poses * [-1, 1, 1]
    assert p_mpjpe(mirrored, poses) > 0.05


def test_p_mpjpe_never_exceeds_mpjpe(poses):
    pred = poses + np.random.default_rng(2).normal(0, 0.05, poses.shape)
    assert p_mpjpe(pred, poses) < mpjpe(pred, poses)


def test_n_mpjpe_is_zero_under_scaling_only(poses):
    assert n_mpjpe(0.6 * poses, poses) == pytest.approx(0, abs=1e-12)
    rotated = poses @ random_rotation(np.random.default_rng(3))
    assert n_mpjpe(rotated, poses) > 0.01


def test_n_mpjpe_scale_is_per_frame(poses):
    scales = np.linspace(0.5, 2, len(poses))[:, None, None]
    assert n_mpjpe(scales * poses, poses) == pytest.approx(0, abs=1e-12)


def test_mpjve_hand_worked(poses):
    assert mpjve(poses + 0.3, poses) == pytest.approx(0, abs=1e-12)       # constant offset: no velocity error
    target = np.zeros((3, 1, 3))
    pred = np.array([[[0, 0, 0]], [[1, 0, 0]], [[1, 0, 0]]], dtype=float)  # velocities (1,0,0), (0,0,0)
    assert mpjve(pred, target) == pytest.approx(0.5)
