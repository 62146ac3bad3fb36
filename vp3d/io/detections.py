"""The 2D file a detector run writes: upstream's inference/infer_video_d2.py output (io.keypoints reads it
as 'detectron-npz'), with what later stages need in its metadata.

    boxes       (frames, 2) object array: [i][1] frame i's person boxes (N, 5) x1, y1, x2, y2, score
                (frame pixels), [] where none; [i][0] [] (Detectron1's background class)
    keypoints   (frames, 2) object array: [i][1] (N, 4, 17) x, y, logit (0), score per COCO-17 keypoint
    segments    (frames,) None (upstream writes them)
    metadata    {'w', 'h': frame size, pixels; 'fps': the video's frame rate; 'frames': T;
                 'video': {'name', 'bytes', 'sha256'}: which video; 'detector': what found them
                 (name, weights' sha256, settings)}

upstream's prepare_data_2d_custom.py reads it as it reads its own (it takes 'w' and 'h' from metadata);
vp3d also takes the frame rate and the video's name from it, and a second run with the same video and
detector (the same 'video' and 'detector' records) reuses the file instead of detecting again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.io.files import atomic_path
from vp3d.io.npz import load_npz_key, npz_names


@dataclass
class Detections:
    """One frame's people: boxes (N, 5) x1, y1, x2, y2, score and keypoints (N, K, 2), frame pixels, with
    their scores (N, K)."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    @classmethod
    def none(cls, joints: int = 17) -> "Detections":
        return cls(np.zeros((0, 5), np.float32), np.zeros((0, joints, 2), np.float32), np.zeros((0, joints), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def best(self) -> int | None:
        """Index of the highest-scored box, None where there is none."""
        return int(np.argmax(self.boxes[:, 4])) if len(self) else None


def write_detections(path: str | Path, frames: list[Detections], size: tuple[int, int], fps: float,
                     record: dict) -> None:
    """Write a video's detections (one Detections per frame) as upstream's infer_video_d2.py does, with
    metadata {'w', 'h', 'fps', 'frames', **record} ('video', 'detector'); atomically."""
    boxes = np.empty((len(frames), 2), object)
    keypoints = np.empty((len(frames), 2), object)
    for i, d in enumerate(frames):
        boxes[i, 0], keypoints[i, 0] = [], []
        if len(d):
            boxes[i, 1] = d.boxes.astype(np.float32)
            kps = np.concatenate([d.keypoints, np.zeros_like(d.scores)[..., None], d.scores[..., None]], axis=2)
            keypoints[i, 1] = kps.transpose(0, 2, 1).astype(np.float32)      # (N, 4, K): x, y, logit, score
        else:
            boxes[i, 1], keypoints[i, 1] = [], []
    segments = np.empty(len(frames), object)
    metadata = {"w": int(size[0]), "h": int(size[1]), "fps": float(fps), "frames": len(frames), **record}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, boxes=boxes, segments=segments, keypoints=keypoints,
                                metadata=np.array(metadata, dtype=object))


def detections_record(path: str | Path) -> dict | None:
    """{'video', 'detector'} as a vp3d detector run recorded them in the 2D file at `path`; None where there
    is no such file or it holds no such record (upstream's own files, other files)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        if "metadata" not in npz_names(path):
            return None
        metadata = load_npz_key(path, "metadata")
    except Vp3dError:
        return None
    if not isinstance(metadata, dict) or not {"video", "detector"} <= set(metadata):
        return None
    return {"video": metadata["video"], "detector": metadata["detector"]}
