"""Frame-rate resampling: sequences at one rate to another by linear interpolation per coordinate in time.

A model sees a fixed number of frames, so it sees a fixed span of time only at the rate it was trained at
(Human3.6M: 50 fps); keypoints at another rate are resampled to the model's rate, lifted, and the poses
taken back at the input's frames (lift.Lifter.lift).
"""
from __future__ import annotations

import math

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.limits import frame_limit


def resampled_length(frames: int, src_fps: float, dst_fps: float, max_frames: int | None = None) -> int:
    """Frames at dst_fps that cover the span of `frames` frames at src_fps: the last one at or just past
    the input's last frame, so that taking them back at the input's frames interpolates (never extrapolates).
    Vp3dError where that is more than facts.limits.frame_limit(frames, max_frames), before anything is made."""
    if frames <= 1:
        return frames
    span = (frames - 1) * dst_fps / src_fps          # the input's duration, in output frames
    limit = frame_limit(frames, max_frames)
    if not span < limit:                              # also inf and nan
        count = f"{math.ceil(span) + 1}" if span < 1e12 else f"{span + 1:.4g}"
        raise Vp3dError(f"{frames} frames at {src_fps:g} fps would be {count} frames at {dst_fps:g} fps, "
                        f"more than {limit} (--max-frames N allows N); is --fps the keypoints' frame rate?")
    return math.ceil(span - 1e-9 * max(1.0, span)) + 1


def interpolate_frames(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """x (T, ...) sampled at fractional frame indices `positions` (N,) -> (N, ...), linear per coordinate;
    positions are clamped to [0, T - 1] (the edge frames held). Integer positions give x's frames exactly."""
    x = np.asarray(x)
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0, len(x) - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), max(len(x) - 2, 0))
    i1 = np.minimum(i0 + 1, len(x) - 1)
    w = (pos - i0).reshape(-1, *([1] * (x.ndim - 1)))
    out = x[i0] * (1 - w) + x[i1] * w
    exact = w.reshape(-1) == 0                        # on a frame: that frame, bit for bit
    out[exact] = x[i0[exact]]
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def resample(x: np.ndarray, src_fps: float, dst_fps: float, frames: int | None = None,
             max_frames: int | None = None) -> np.ndarray:
    """x (T, ...) at src_fps -> (N, ...) at dst_fps, both starting at x's first frame; N = `frames`, else
    resampled_length(T, src_fps, dst_fps, max_frames). Equal rates give x itself."""
    x = np.asarray(x)
    n = resampled_length(len(x), src_fps, dst_fps, max_frames) if frames is None else int(frames)
    if src_fps == dst_fps and n == len(x):
        return x
    return interpolate_frames(x, np.arange(n) * (src_fps / dst_fps))
