"""Pose error metrics as VideoPose3D defines them (numpy; any length unit in, the same unit out).

Arrays are (T, J, 3): frames, joints, coordinates. Each returns the mean over frames and joints.
"""
from __future__ import annotations

import numpy as np


def mpjpe(predicted: np.ndarray, target: np.ndarray) -> float:
    """Protocol #1, MPJPE: mean Euclidean distance between predicted and true joints."""
    _check(predicted, target)
    return float(np.mean(np.linalg.norm(predicted - target, axis=-1)))


def p_mpjpe(predicted: np.ndarray, target: np.ndarray) -> float:
    """Protocol #2, P-MPJPE: MPJPE after aligning each predicted frame (T, J, 3) to the target by the
    best similarity transform (rotation, uniform scale, translation; reflections excluded)."""
    _check(predicted, target)
    predicted = predicted.astype(np.float64)
    target = target.astype(np.float64)
    mu_x = target.mean(axis=1, keepdims=True)
    mu_y = predicted.mean(axis=1, keepdims=True)
    x0, y0 = target - mu_x, predicted - mu_y
    norm_x = np.sqrt(np.sum(x0 ** 2, axis=(1, 2), keepdims=True))
    norm_y = np.sqrt(np.sum(y0 ** 2, axis=(1, 2), keepdims=True))
    x0, y0 = x0 / norm_x, y0 / norm_y
    u, s, vt = np.linalg.svd(np.matmul(x0.transpose(0, 2, 1), y0))
    v = vt.transpose(0, 2, 1)
    sign = np.sign(np.linalg.det(np.matmul(v, u.transpose(0, 2, 1))))   # -1: a reflection
    v[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    r = np.matmul(v, u.transpose(0, 2, 1))
    scale = s.sum(axis=1)[:, None, None] * norm_x / norm_y
    t = mu_x - scale * np.matmul(mu_y, r)
    aligned = scale * np.matmul(predicted, r) + t
    return float(np.mean(np.linalg.norm(aligned - target, axis=-1)))


def n_mpjpe(predicted: np.ndarray, target: np.ndarray) -> float:
    """Protocol #3, N-MPJPE: MPJPE after the least-squares uniform scaling of each predicted frame."""
    _check(predicted, target)
    predicted = predicted.astype(np.float64)
    scale = np.sum(target * predicted, axis=(-2, -1), keepdims=True) / np.sum(predicted ** 2, axis=(-2, -1), keepdims=True)
    return mpjpe(scale * predicted, target)


def mpjve(predicted: np.ndarray, target: np.ndarray) -> float:
    """MPJVE: mean Euclidean distance between predicted and true joint velocities (per-frame
    differences along axis 0), in length units per frame."""
    _check(predicted, target)
    return mpjpe(np.diff(predicted.astype(np.float64), axis=0), np.diff(target.astype(np.float64), axis=0))


def _check(predicted, target):
    assert predicted.shape == target.shape, f"shapes differ: {predicted.shape} vs {target.shape}"
