"""Cameras of Human3.6M and HumanEva-I: calibration, world<->camera transforms, screen normalisation, projection.

All functions are numpy. Quaternions are (w, x, y, z). 3D positions are in metres.
Each transform sits next to its inverse.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.skeleton import h36m_facts, humaneva_facts

# Camera frame (x right, y down, z forward) -> a Y-up frame (x right, y up, z towards the camera):
# 180 degrees about x, a rotation (not a reflection). BVH files and renders use it.
CAMERA_TO_YUP = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Camera:
    """One calibrated camera for one subject.

    Intrinsics in pixels; orientation a unit quaternion (w, x, y, z) rotating camera axes to
    world axes; translation the camera centre in world coordinates, metres. HumanEva-I's cameras carry
    only the image size as upstream keeps them: no focal length, centre or distortion (None).
    """

    id: str
    res_w: int
    res_h: int
    focal_length: np.ndarray | None        # (2,) pixels
    center: np.ndarray | None              # (2,) pixels
    radial_distortion: np.ndarray | None   # (3,) k1, k2, k3
    tangential_distortion: np.ndarray | None  # (2,) p1, p2
    orientation: np.ndarray           # (4,) quaternion, float32 as upstream
    translation: np.ndarray           # (3,) metres, float32 as upstream


def _cameras_of(facts: dict, prefixes: tuple[str, ...] = ("",)) -> dict[str, tuple[Camera, ...]]:
    """subject -> its cameras, from a facts file's 'intrinsic' (per camera) and 'extrinsic' (per subject) lists,
    as upstream's dataset classes build them (float32; translation mm -> m). Subjects without extrinsics are
    left out; each subject is also known under every prefix (HumanEva's 'Train/S1', 'Validate/S1', ...)."""
    def array(values):
        return None if values is None else np.array(values, dtype=np.float32)
    out = {}
    for subject, extrinsics in facts["extrinsic"].items():
        if not all(extrinsics):
            continue
        cams = tuple(Camera(
            id=intr["id"], res_w=int(intr["res_w"]), res_h=int(intr["res_h"]),
            focal_length=array(intr.get("focal_length")), center=array(intr.get("center")),
            radial_distortion=array(intr.get("radial_distortion")),
            tangential_distortion=array(intr.get("tangential_distortion")),
            orientation=array(extr["orientation"]),
            translation=array(extr["translation"]) / 1000,  # mm -> m
        ) for intr, extr in zip(facts["intrinsic"], extrinsics))
        out.update({prefix + subject: cams for prefix in prefixes})
    return out


@functools.lru_cache(maxsize=None)
def h36m_cameras() -> dict[str, tuple[Camera, ...]]:
    """subject -> its 4 cameras, in Human3.6M camera order (54138969, 55011271, 58860488, 60457274).

    Subjects without extrinsics in the calibration (S2-S4 have none) are left out.
    """
    return _cameras_of(h36m_facts())


@functools.lru_cache(maxsize=None)
def humaneva_cameras() -> dict[str, tuple[Camera, ...]]:
    """subject -> its 3 cameras (C1, C2, C3), under every name upstream gives the subject: 'Train/S1',
    'Validate/S1', 'Unlabeled/Train/S1', 'Unlabeled/Validate/S1', 'Unlabeled/S1' (S4 has no extrinsics: left out)."""
    facts = humaneva_facts()
    return _cameras_of(facts, tuple(facts["subject_prefixes"]))


def qinverse(q: np.ndarray) -> np.ndarray:
    """Inverse of unit quaternions (..., 4): the conjugate."""
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (4,) or (..., 4)."""
    qvec = np.broadcast_to(q[..., 1:], v.shape)
    w = np.broadcast_to(q[..., :1], v.shape[:-1] + (1,))
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (w * uv + uuv)


def world_to_camera(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """World-frame points (..., 3) in metres -> camera frame (..., 3), metres."""
    return qrot(qinverse(orientation), x - translation)


def camera_to_world(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) in metres -> world frame (..., 3), metres."""
    return qrot(orientation, x) + translation


def normalize_screen_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pixels (..., 2) -> normalised screen coordinates: [0, w] maps to [-1, 1], aspect kept."""
    return x / w * 2 - np.array([1, h / w], dtype=x.dtype)


def image_coordinates(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Normalised screen coordinates (..., 2) -> pixels (..., 2); inverse of the above."""
    return (x + np.array([1, h / w], dtype=x.dtype)) * w / 2


def intrinsic_vector(cam: Camera) -> np.ndarray | None:
    """(9,) float32: focal length (2) and centre (2) in normalised screen units, radial (3) and tangential (2)
    distortion: upstream's cam['intrinsic'], what semi-supervised training projects with. None for a camera
    without intrinsics (HumanEva-I's, as upstream carries them)."""
    if cam.focal_length is None:
        return None
    focal = cam.focal_length / cam.res_w * 2
    center = normalize_screen_coordinates(cam.center, cam.res_w, cam.res_h)
    return np.concatenate([focal, center, cam.radial_distortion, cam.tangential_distortion]).astype(np.float32)


def project_to_2d(x: np.ndarray, cam: Camera) -> np.ndarray:
    """Camera-frame points (..., 3), metres -> pixels (..., 2), with Human3.6M's distortion model.

    Same model as upstream's project_to_2d (radial k1..k3, tangential p1, p2), in pixels.
    """
    if cam.focal_length is None:
        raise Vp3dError(f"camera {cam.id} has no intrinsics (focal length, centre, distortion) to project with")
    xx = x[..., :2] / x[..., 2:3]
    r2 = np.sum(xx ** 2, axis=-1, keepdims=True)
    k = cam.radial_distortion.astype(np.float64)
    p = cam.tangential_distortion.astype(np.float64)
    radial = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
    tangential = np.sum(p * xx, axis=-1, keepdims=True)
    xxx = xx * (radial + tangential) + p[::-1] * r2
    return cam.focal_length * xxx + cam.center


def check_image_size(size) -> tuple[int, int]:
    """(w, h) as positive ints; Vp3dError otherwise."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise Vp3dError(f"image size {size!r}: expected (width, height) in pixels") from None
    if w < 1 or h < 1:
        raise Vp3dError(f"image size {w}x{h}: width and height must be positive")
    return w, h


OUTSIDE = 0.5    # keypoints may lie outside the image (occluded joints), but not by more than this x its size


def check_within_image(keypoints: np.ndarray, image_size: tuple[int, int], where: str) -> None:
    """Vp3dError where (..., 2) pixel keypoints reach more than OUTSIDE x the image's width or height beyond
    its edges: the size is not the one the detector saw, and normalising by it would scale every pose."""
    w, h = image_size
    points = np.asarray(keypoints).reshape(-1, 2)
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    size = np.array([w, h], np.float64)
    if (lo < -OUTSIDE * size).any() or (hi > (1 + OUTSIDE) * size).any():
        raise Vp3dError(f"{where}: the keypoints span x {lo[0]:.0f}..{hi[0]:.0f}, y {lo[1]:.0f}..{hi[1]:.0f} px, "
                        f"far outside a {w}x{h} image; give the size of the frames the detector ran on "
                        f"(image_size=(w, h); vp3d_lift.py: --image-size W H)")
