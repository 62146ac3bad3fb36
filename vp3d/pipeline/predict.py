"""The model path for one whole sequence: edge-pad, flip, run, un-flip; long sequences in overlapping chunks.

`run` is any callable (2, L, J_in, 2) float32 -> (2, L - RF + 1, J_out, 3) float32, metres: a runtime
Session's run (engines.backends; a torch model in memory through TorchSession.of_model). Evaluation (training's validation) and lifting
both come through here, so padding, flipping and chunking exist once.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from vp3d.facts.architecture import pad_frames
from vp3d.facts.skeleton import Symmetry
from vp3d.pipeline.sequences import edge_padded, flip_augment, unflip_average

Runner = Callable[[np.ndarray], np.ndarray]

# Output frames per model call for sequences of any length (lifting, own-length inference): longer
# ones run in windows overlapping by RF - 1 frames. 8192 is above every Human3.6M test sequence
# (5873), so the test set runs whole, while the memory of one call stays bounded (docs/benchmarks.md).
DEFAULT_CHUNK = 8192


def chunk_windows(frames: int, chunk: int) -> list[tuple[int, int]]:
    """[(start, stop)] output-frame ranges of at most `chunk` frames covering 0..frames."""
    return [(s, min(s + chunk, frames)) for s in range(0, frames, chunk)]


def predict_sequence(run: Runner, keypoints: np.ndarray, receptive_field: int, causal: bool,
                     keypoint_symmetry: Symmetry, joint_symmetry: Symmetry,
                     chunk: int | None = None, length: int | None = None) -> np.ndarray:
    """(T, J_in, 2) normalised 2D keypoints -> (T, J_out, 3) root-relative 3D poses, metres, camera frame.

    The sequence is edge-padded by (RF - 1) / 2 frames each side (all on the past side for causal
    models), run with its mirror (test-time flip augmentation) and the mirror's prediction un-flipped
    and averaged in, as upstream evaluates. `chunk` bounds the output frames per call: windows overlap
    by RF - 1 input frames, so the result equals whole-sequence inference. `length` is the fixed input
    length of a static-shape model: then chunk = length - RF + 1 and the last window is edge-padded.
    """
    pad = pad_frames(receptive_field)
    shift = pad if causal else 0
    padded = edge_padded(keypoints.astype(np.float32, copy=False), pad, shift)
    pair = flip_augment(padded, keypoint_symmetry)                      # (2, T + RF - 1, J_in, 2)
    return unflip_average(run_windows(run, pair, receptive_field, chunk, length), joint_symmetry)


def run_windows(run: Runner, x: np.ndarray, receptive_field: int, chunk: int | None = None,
                length: int | None = None) -> np.ndarray:
    """run over (N, L, J_in, 2) -> (N, L - RF + 1, J_out, 3) in windows of at most `chunk` output frames
    (None: one call), overlapping by RF - 1 input frames, so the result equals one whole call while
    memory depends on the chunk only. `length`: a static model's input frames (chunk = length - RF + 1,
    the last window edge-padded and its output cropped)."""
    frames = x.shape[1] - receptive_field + 1
    if length is not None:
        if length < receptive_field:
            raise ValueError(f"input length {length} is shorter than the receptive field {receptive_field}")
        chunk = length - receptive_field + 1
    if not chunk or (chunk >= frames and length in (None, x.shape[1])):
        return run(x)
    outputs = []
    for start, stop in chunk_windows(frames, chunk):
        window = x[:, start:stop + receptive_field - 1]
        if length is not None and window.shape[1] < length:            # static shape: pad the last window
            window = np.pad(window, ((0, 0), (0, length - window.shape[1]), (0, 0), (0, 0)), mode="edge")
        outputs.append(run(np.ascontiguousarray(window))[:, :stop - start])
    return np.concatenate(outputs, axis=1)
