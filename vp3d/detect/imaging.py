"""The image arithmetic around OpenMMLab's detector and RTMPose ONNX files, in numpy, vectorised (no OpenCV):

    letterbox        frame -> the detector's input: resized keeping its aspect (bilinear, OpenCV's
                     INTER_LINEAR convention: pixel centres at +0.5, no antialiasing, as mmdet's Resize),
                     placed top-left and padded with the pad value (114: mmdet's Pad for YOLOX and RTMDet)
    center_scale     boxes -> crop centres and sizes: the box grown by `padding` (1.25: MMPose's
                     GetBBoxCenterScale) and widened or heightened to the model's aspect (TopdownAffine)
    crop             frame -> one (h, w) crop per box: the affine warp MMPose's get_warp_matrix builds
                     (centre to centre, uniform scale, no rotation), bilinear, 0 outside the frame
                     (cv2.warpAffine's constant border)
    normalize        crops -> the model's input: channel order (RGB frames; BGR where the model was trained
                     on OpenCV's BGR images), (x - mean) / std, NCHW float32
    decode_simcc     SimCC vectors -> crop pixels (argmax / split ratio) and scores (the smaller of the x and
                     y maxima: MMPose's get_simcc_maximum)
    to_frame         crop pixels -> frame pixels (the warp's inverse)

Pixel coordinates: x right, y down, in pixels of the image named; integer values at pixel centres.
"""
from __future__ import annotations

import numpy as np


def _linear_taps(n_in: int, n_out: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and weight of i1 for each of n_out output pixels of a bilinear resize by
    `scale` (out/in), pixel centres at +0.5, clamped at the edges (OpenCV's INTER_LINEAR)."""
    x = np.clip((np.arange(n_out) + 0.5) / scale - 0.5, 0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0).astype(np.float32)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) image -> (h, w, C) float32 of size (w, h): separable bilinear (rows, then columns)."""
    h_in, w_in = image.shape[:2]
    w, h = size
    y0, y1, fy = _linear_taps(h_in, h, h / h_in)
    x0, x1, fx = _linear_taps(w_in, w, w / w_in)
    rows = image[y0].astype(np.float32)
    step = image[y1].astype(np.float32)                  # in place from here: the arrays are frame-sized
    step -= rows
    step *= fy[:, None, None]
    rows += step
    out = np.take(rows, x0, axis=1)
    step = np.take(rows, x1, axis=1)
    step -= out
    step *= fx[None, :, None]
    out += step
    return out


def letterbox(frame: np.ndarray, size: tuple[int, int], pad: float) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) frame -> ((h, w, 3) float32 of size (w, h): the frame resized by s = min(w/W, h/H) to
    round(W s) x round(H s), top-left, the rest `pad`; the scale per axis (sx, sy), resized/original pixels).
    A box found in the letterboxed image is in frame pixels once divided by (sx, sy)."""
    h_in, w_in = frame.shape[:2]
    w, h = size
    s = min(w / w_in, h / h_in)
    new_w, new_h = min(w, int(w_in * s + 0.5)), min(h, int(h_in * s + 0.5))
    out = np.full((h, w, frame.shape[2]), pad, np.float32)
    out[:new_h, :new_w] = frame if (new_w, new_h) == (w_in, h_in) else resize(frame, (new_w, new_h))
    return out, np.array([new_w / w_in, new_h / h_in])


def center_scale(boxes: np.ndarray, padding: float, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) boxes x1, y1, x2, y2 -> (centres (N, 2), sizes (N, 2) w, h): each box's size times `padding`,
    then its shorter side (relative to `aspect` = w / h of the model's input) grown to that aspect."""
    boxes = np.asarray(boxes, np.float64)
    centers = (boxes[:, :2] + boxes[:, 2:4]) / 2
    w, h = ((boxes[:, 2:4] - boxes[:, :2]) * padding).T
    wide = w > h * aspect
    scales = np.stack([np.where(wide, w, h * aspect), np.where(wide, w / aspect, h)], axis=1)
    return centers, scales


def crop(frame: np.ndarray, centers: np.ndarray, scales: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, C) frame -> (N, h, w, C) float32 crops of size (w, h): output pixel (u, v) of crop n samples
    the frame at centers[n] + ((u, v) - (w, h) / 2) * scales[n, 0] / w, bilinearly; 0 outside the frame."""
    h_in, w_in = frame.shape[:2]
    w, h = size
    step = (scales[:, 0] / w)[:, None, None]                                      # frame pixels per crop pixel
    xs = centers[:, 0, None, None] + (np.arange(w)[None, None, :] - w / 2) * step   # (N, 1, w)
    ys = centers[:, 1, None, None] + (np.arange(h)[None, :, None] - h / 2) * step   # (N, h, 1)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    pixels = frame.reshape(-1, frame.shape[2])
    out = np.zeros((len(centers), h, w, frame.shape[2]), np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):                 # the four taps, each over every crop at once
        yi = y0 + dy
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi = x0 + dx
            inside = (yi >= 0) & (yi < h_in) & (xi >= 0) & (xi < w_in)           # (N, h, w)
            taps = np.take(pixels, np.clip(yi, 0, h_in - 1) * w_in + np.clip(xi, 0, w_in - 1), axis=0)
            out += taps * (wy * wx * inside)[..., None]                          # (N, h, w, C)
    return out


def normalize(images: np.ndarray, mean, std, rgb: bool) -> np.ndarray:
    """(N, h, w, 3) RGB float images -> (N, 3, h, w) float32 model input: BGR first unless `rgb`, then
    (x - mean) / std per channel (mean, std in the model's channel order; None: left as 0..255)."""
    x = images if rgb else images[..., ::-1]
    if mean is not None:
        x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors (N, K, Wx), (N, K, Wy) -> (keypoints (N, K, 2) crop pixels: argmax / split_ratio,
    scores (N, K): min(max over x, max over y))."""
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], axis=-1).astype(np.float64) / split_ratio
    return locs, np.minimum(simcc_x.max(-1), simcc_y.max(-1))


def to_frame(points: np.ndarray, centers: np.ndarray, scales: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, K, 2) crop pixels of crops of size (w, h) -> frame pixels (crop's inverse)."""
    return points / np.asarray(size, np.float64) * scales[:, None] + centers[:, None] - scales[:, None] / 2
