"""Training's losses, torch, computed as upstream's common/loss.py and common/camera.py compute them.

3D in metres (camera frame); 2D in normalised screen coordinates (facts.cameras); camera intrinsics as the
(..., 9) vectors facts.cameras.intrinsic_vector makes (focal length, centre, k1..k3, p1, p2, normalised).
"""
from __future__ import annotations

import torch


def mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error: the mean Euclidean distance over every leading dimension."""
    assert predicted.shape == target.shape, f"shapes differ: {tuple(predicted.shape)} vs {tuple(target.shape)}"
    return torch.mean(torch.norm(predicted - target, dim=-1))


def weighted_mpjpe(predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mpjpe with each distance weighted (the trajectory loss: 1 / depth)."""
    assert predicted.shape == target.shape and weight.shape[0] == predicted.shape[0]
    return torch.mean(weight * torch.norm(predicted - target, dim=-1))


def _per_point(intrinsics: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, 9) -> (N, 1, ..., 9), broadcasting over x's (N, *, 3) points."""
    assert x.shape[-1] == 3 and intrinsics.dim() == 2 and intrinsics.shape[-1] == 9 and x.shape[0] == intrinsics.shape[0]
    return intrinsics.reshape(intrinsics.shape[0], *[1] * (x.dim() - 2), 9)


def project_to_2d(x: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (N, *, 3) -> normalised screen coordinates (N, *, 2) through Human3.6M's camera model:
    x/z clamped to [-1, 1], radial (k1..k3) and tangential (p1, p2) distortion, as upstream's project_to_2d."""
    cam = _per_point(intrinsics, x)
    f, c, k, p = cam[..., :2], cam[..., 2:4], cam[..., 4:7], cam[..., 7:]
    xx = torch.clamp(x[..., :2] / x[..., 2:], min=-1, max=1)
    r2 = torch.sum(xx[..., :2] ** 2, dim=xx.dim() - 1, keepdim=True)
    radial = 1 + torch.sum(k * torch.cat((r2, r2 ** 2, r2 ** 3), dim=r2.dim() - 1), dim=r2.dim() - 1, keepdim=True)
    tan = torch.sum(p * xx, dim=xx.dim() - 1, keepdim=True)
    return f * (xx * (radial + tan) + p * r2) + c


def project_to_2d_linear(x: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """As project_to_2d with focal length and centre only (upstream's --linear-projection)."""
    cam = _per_point(intrinsics, x)
    return cam[..., :2] * torch.clamp(x[..., :2] / x[..., 2:], min=-1, max=1) + cam[..., 2:4]


def bone_lengths(poses: torch.Tensor, parents: tuple[int, ...]) -> torch.Tensor:
    """(N, T, J, 3) -> (N, J - 1): each bone's length (joint to parent; joint 0 is the root), averaged over T."""
    return torch.mean(torch.norm(poses[:, :, 1:] - poses[:, :, list(parents[1:])], dim=3), dim=1)
