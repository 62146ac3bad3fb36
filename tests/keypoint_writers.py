"""Small 2D keypoint files in the real formats users bring (written here, independently of vp3d's readers)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

COCO_SYMMETRY = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]   # upstream data_utils.coco_metadata
COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]


def video_keypoints(frames: int, w: int, h: int, seed: int = 0) -> np.ndarray:
    """(T, 17, 2) float32 pixels: a person-sized cloud of keypoints drifting smoothly inside a w x h image."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([0.35 * w, 0.25 * h], [0.65 * w, 0.75 * h], (1, 17, 2))
    t = np.arange(frames)[:, None, None]
    wobble = 0.03 * w * np.sin(2 * np.pi * t / 40 + rng.uniform(0, 2 * np.pi, (1, 17, 2)))
    return (base + wobble + rng.normal(0, 1.5, (frames, 17, 2))).astype(np.float32)


def fill_gaps_by_hand(kps: np.ndarray, missing: list[int]) -> np.ndarray:
    """What upstream's prepare_data_2d_custom.py stores for frames without a detection: linear between the
    nearest detected frames, the nearest one's value beyond the first/last detection (written out here)."""
    out = kps.copy()
    have = [t for t in range(len(kps)) if t not in set(missing)]
    for t in missing:
        before = [s for s in have if s < t]
        after = [s for s in have if s > t]
        if not before or not after:
            out[t] = kps[(after or before)[0] if not before else before[-1]]
            continue
        a, b = before[-1], after[0]
        out[t] = (kps[a].astype(np.float64) + (kps[b].astype(np.float64) - kps[a]) * (t - a) / (b - a)).astype(np.float32)
    return out


def write_custom_npz(path: Path, videos: dict[str, tuple[np.ndarray, int, int]], layout: str = "coco",
                     symmetry=COCO_SYMMETRY) -> Path:
    """upstream's data_2d_custom_<name>.npz, as data/prepare_data_2d_custom.py writes it."""
    positions = {name: {"custom": [kps.astype("float32")]} for name, (kps, w, h) in videos.items()}
    metadata = {"layout_name": layout, "num_joints": 17, "keypoints_symmetry": symmetry,
                "video_metadata": {name: {"w": w, "h": h} for name, (kps, w, h) in videos.items()}}
    np.savez_compressed(path, positions_2d=positions, metadata=metadata)
    return path


def _mmpose_instance(kps, score, track=None) -> dict:
    x0, y0 = kps.min(0).tolist()
    x1, y1 = kps.max(0).tolist()
    inst = {"keypoints": kps.tolist(), "keypoint_scores": [0.9] * len(kps), "bbox": [[x0, y0, x1, y1]],
            "bbox_score": score}
    if track is not None:
        inst["track_id"] = track
    return inst


def write_mmpose_json(path: Path, kps: np.ndarray, missing=(), others: dict[int, np.ndarray] | None = None,
                      bare: bool = False, first_frame: int = 0) -> Path:
    """MMPose's --save-predictions JSON: every frame listed; `missing` frames with no instance; frames in
    `others` also hold a second, lower-scored person (listed first)."""
    others = others or {}
    info = []
    for t in range(len(kps)):
        instances = [] if t in missing else [_mmpose_instance(kps[t], 0.95)]
        if t in others:
            instances.insert(0, _mmpose_instance(others[t], 0.40))
        info.append({"frame_id": t + first_frame, "instances": instances})
    meta = {"dataset_name": "coco", "num_keypoints": 17, "keypoint_id2name": dict(enumerate(COCO_NAMES))}
    path.write_text(json.dumps(info if bare else {"meta_info": meta, "instance_info": info}))
    return path


def write_coco_json(path: Path, kps: np.ndarray, missing=(), others: dict[int, np.ndarray] | None = None,
                    image_id0: int = 1000) -> Path:
    """COCO keypoint results: one entry per detection, image_id = image_id0 + frame; x, y, v triples."""
    entries = []
    for t in range(len(kps)):
        people = [] if t in missing else [(kps[t], 0.9)]
        if t in (others or {}):
            people.append((others[t], 0.3))
        for k, s in people:
            entries.append({"image_id": image_id0 + t, "category_id": 1,
                            "keypoints": np.concatenate([k, np.full((len(k), 1), 2.0)], 1).ravel().tolist(),
                            "score": s})
    entries.reverse()                   # results need not be in frame order
    path.write_text(json.dumps(entries))
    return path


def write_keypoints_csv(path: Path, kps: np.ndarray, missing=(), by_name: bool = True, score: bool = True,
                        tracks: dict[str, np.ndarray] | None = None) -> Path:
    """frame,joint,x,y[,score][,track]: one row per detected frame and joint."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "joint", "x", "y"] + (["score"] if score else []) + (["track"] if tracks else []))
        series = tracks.items() if tracks else [(None, kps)]
        for track, k in series:
            for t in range(len(k)):
                if t in missing:
                    continue
                for j in range(k.shape[1]):
                    row = [t, COCO_NAMES[j] if by_name else j, repr(float(k[t, j, 0])), repr(float(k[t, j, 1]))]
                    w.writerow(row + ([0.8] if score else []) + ([track] if tracks else []))
    return path


def write_corpus(root: Path, w: int, h: int) -> dict[str, dict[str, np.ndarray]]:
    """A folder of keypoint files as a corpus holds them, two of them bad:
        a.json (COCO results), b.csv, two.npz (np.savez: videos 'left', 'right'), sub/a.json (MMPose: the
        same stem as a.json), sub/c.json (COCO), bad.json (not a keypoint file), sub/bad.csv (no x, y columns);
        notes.txt and .hidden.json are not inputs.
    -> {path relative to root: {video name: (T, 17, 2) pixels as written}}; the bad files map to {}."""
    sub = root / "sub"
    sub.mkdir(parents=True, exist_ok=True)
    clips = {"a.json": {"a": video_keypoints(60, w, h, seed=11)}, "b.csv": {"b": video_keypoints(50, w, h, seed=12)},
             "two.npz": {"left": video_keypoints(35, w, h, seed=13), "right": video_keypoints(45, w, h, seed=14)},
             "sub/a.json": {"a": video_keypoints(44, w, h, seed=15)}, "sub/c.json": {"c": video_keypoints(30, w, h, seed=16)},
             "bad.json": {}, "sub/bad.csv": {}}
    write_coco_json(root / "a.json", clips["a.json"]["a"])
    write_keypoints_csv(root / "b.csv", clips["b.csv"]["b"])
    np.savez(root / "two.npz", **clips["two.npz"])
    write_mmpose_json(sub / "a.json", clips["sub/a.json"]["a"])
    write_coco_json(sub / "c.json", clips["sub/c.json"]["c"])
    (root / "bad.json").write_text('{"predictions": []}')
    (sub / "bad.csv").write_text("frame,joint,u,v\n0,0,1,2\n")
    (root / "notes.txt").write_text("not an input\n")
    write_coco_json(root / ".hidden.json", clips["a.json"]["a"])
    return clips
