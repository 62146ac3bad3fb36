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


# ---------------------------------------------------------------------------------------------
# Scenes of several people (for tracking): simple walking skeletons projected to pixels
# ---------------------------------------------------------------------------------------------

# COCO-17 standing skeleton, metres: x right, y up from the hip centre (facing the camera)
_BODY = np.array([[0, .65], [.03, .68], [-.03, .68], [.07, .66], [-.07, .66], [.18, .45], [-.18, .45],
                  [.22, .18], [-.22, .18], [.24, -.05], [-.24, -.05], [.1, 0], [-.1, 0], [.11, -.45],
                  [-.11, -.45], [.12, -.88], [-.12, -.88]])
_SWING = np.array([0, 0, 0, 0, 0, 0, 0, .08, -.08, .15, -.15, 0, 0, -.12, .12, -.25, .25])   # x swing, m


def people_scene(people: int, frames: int = 100, w: int = 1280, h: int = 720, same_depth: bool = False,
                 miss: float = 0.05, seed: int = 0, focal: float = 1000.0):
    """`people` walking skeletons crossing the image's centre near mid-video, at one depth (5 m) or at
    depths 3-8 m, each entering and leaving at its own frame; a pinhole camera (focal px) 1.2 m high.
    Returns [(frames (n,) int, keypoints (n, 17, 2) float32 pixels)] per person: its detections, with
    about `miss` of them dropped at random."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(people):
        z = 5.0 if same_depth else rng.uniform(3, 8)
        speed = rng.uniform(0.03, 0.05) * (1 if p % 2 else -1)            # m/frame, alternate directions
        cross = frames / 2 + (p - (people - 1) / 2) * 8 + rng.uniform(-3, 3)   # crossings spread over mid-video
        height = rng.uniform(0.85, 1.15)
        start = int(rng.integers(0, frames // 4)) if rng.random() < 0.7 else 0
        stop = int(rng.integers(3 * frames // 4, frames + 1)) if rng.random() < 0.7 else frames
        t = np.arange(start, stop)
        phase = rng.uniform(0, 2 * np.pi)
        body = _BODY[None] * height + np.zeros((len(t), 1, 1))
        body[..., 0] += _SWING * np.sin(2 * np.pi * t / 30 + phase)[:, None] * np.sign(speed)
        x = body[..., 0] + (speed * (t - cross))[:, None]
        y = 0.3 - body[..., 1]                                             # camera frame: y down, hips 0.3 m below
        kps = np.stack([focal * x / z + w / 2, focal * y / z + h / 2], -1).astype(np.float32)
        keep = rng.random(len(t)) >= miss
        out.append((t[keep], kps[keep]))
    return out


def _shuffled_frames(people, seed):
    """{frame: [(person, keypoints (17, 2))] in random order}."""
    rng = np.random.default_rng(seed)
    by_frame: dict[int, list] = {}
    for p, (t, kps) in enumerate(people):
        for f, k in zip(t.tolist(), kps):
            by_frame.setdefault(f, []).append((p, k))
    for f in by_frame:
        rng.shuffle(by_frame[f])
    return by_frame


def write_mmpose_people(path: Path, people, frames: int, seed: int = 0) -> Path:
    """MMPose predictions of a people_scene: every frame 0..frames-1 listed, its instances in random order."""
    by_frame = _shuffled_frames(people, seed)
    info = [{"frame_id": f, "instances": [_mmpose_instance(k, 0.9) for _, k in by_frame.get(f, [])]}
            for f in range(frames)]
    path.write_text(json.dumps({"meta_info": {"dataset_name": "coco"}, "instance_info": info}))
    return path


def write_coco_people(path: Path, people, seed: int = 0) -> Path:
    """COCO keypoint results of a people_scene: image_id = frame, entries in random order within each frame."""
    by_frame = _shuffled_frames(people, seed)
    entries = [{"image_id": f, "category_id": 1, "score": 0.9,
                "keypoints": np.concatenate([k, np.full((17, 1), 2.0)], 1).ravel().tolist()}
               for f in sorted(by_frame) for _, k in by_frame[f]]
    path.write_text(json.dumps(entries))
    return path


def write_detectron_npz(path: Path, detections: list, w: int, h: int) -> Path:
    """upstream's inference/infer_video_d2.py output: per frame [[], boxes (N, 5)] and [[], keypoints (N, 4, 17)]
    (x, y, logit 0, probability), [] for both where nothing was detected; segments None; metadata {'w', 'h'}.
    detections: per frame None or (boxes (N, 5), keypoints (N, 17, 2), probabilities (N, 17))."""
    boxes = np.empty((len(detections), 2), dtype=object)
    kps = np.empty((len(detections), 2), dtype=object)
    for i, d in enumerate(detections):
        boxes[i, 0], kps[i, 0] = [], []
        if d is None:
            boxes[i, 1], kps[i, 1] = [], []
            continue
        b, k, p = d
        boxes[i, 1] = np.asarray(b, np.float32)
        kps[i, 1] = np.concatenate([k, np.zeros_like(p)[..., None], p[..., None]], -1).transpose(0, 2, 1).astype(np.float32)
    segments = np.empty(len(detections), dtype=object)
    np.savez_compressed(path, boxes=boxes, segments=segments, keypoints=kps, metadata={"w": w, "h": h})
    return path


# OpenPose's keypoint orders as OpenPose documents them (output_format.md), written out here
OPENPOSE_BODY_25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
                    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe",
                    "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]
OPENPOSE_COCO_18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
                    "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"]
OPENPOSE_OF_COCO = {"nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar", "right_ear": "REar",
                    "left_shoulder": "LShoulder", "right_shoulder": "RShoulder", "left_elbow": "LElbow",
                    "right_elbow": "RElbow", "left_wrist": "LWrist", "right_wrist": "RWrist", "left_hip": "LHip",
                    "right_hip": "RHip", "left_knee": "LKnee", "right_knee": "RKnee", "left_ankle": "LAnkle",
                    "right_ankle": "RAnkle"}


def openpose_person(kps: np.ndarray, conf: np.ndarray, order: list[str], person_id: int = -1) -> dict:
    """One OpenPose person from COCO-17 keypoints (17, 2) and confidences (17,): the other keypoints of
    `order` (Neck, MidHip, feet) at made-up places with c 0.5; c == 0 keypoints written as 0, 0, 0."""
    flat = np.zeros((len(order), 3))
    flat[:, :2] = kps.mean(0) + 7.0
    flat[:, 2] = 0.5
    for j, name in enumerate(COCO_NAMES):
        flat[order.index(OPENPOSE_OF_COCO[name])] = [*kps[j], conf[j]] if conf[j] > 0 else [0, 0, 0]
    return {"person_id": [person_id], "pose_keypoints_2d": flat.ravel().tolist(),
            "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []}


def write_openpose_folder(folder: Path, name: str, frames: list[list[dict]]) -> Path:
    """OpenPose --write_json: <name>_<frame:012d>_keypoints.json per frame, {"version": 1.3, "people": [...]}."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, people in enumerate(frames):
        (folder / f"{name}_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return folder


def write_alphapose_json(path: Path, detections: list[tuple[int, np.ndarray, np.ndarray, float, object]],
                         halpe: bool = False) -> Path:
    """AlphaPose results: [{"image_id": "<frame>.jpg", "category_id": 1, "keypoints": [x, y, s] * 17 (or 26:
    Halpe, 9 more made up), "score", "idx"}] from (frame, keypoints (17, 2), scores (17,), score, idx or None)."""
    out = []
    for frame, k, s, score, idx in detections:
        trip = np.concatenate([k, s[:, None]], 1)
        if halpe:
            trip = np.concatenate([trip, np.column_stack([k[:9] + 3.0, np.full(9, 0.6)])])
        e = {"image_id": f"{frame}.jpg", "category_id": 1, "keypoints": trip.ravel().tolist(), "score": score}
        if idx is not None:
            e["idx"] = idx
        out.append(e)
    path.write_text(json.dumps(out))
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
