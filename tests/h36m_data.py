"""Small Human3.6M-format datasets, written as upstream's prepare_data scripts write them (data_3d_h36m.npz,
data_2d_h36m_<keypoints>.npz), from 3D points projected through the real Human3.6M cameras."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vp3d.facts.cameras import h36m_cameras, project_to_2d, world_to_camera
from vp3d.facts.skeleton import kept_joints

KEYPOINTS_SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
TINY_ACTIONS = {"S9": ["Directions", "Directions 1", "Walking", "Sitting 1"],
                "S11": ["Directions 1", "Walking", "Walking 1", "Sitting 1"]}
TINY_SEQUENCES = 4 * sum(map(len, TINY_ACTIONS.values()))      # each take seen by the 4 cameras


def make_positions(actions: dict[str, list[str]], seed: int = 0, frames=(40, 90)):
    """Small Human3.6M-format data: (positions_3d, positions_2d) as upstream's .npz files hold them.

    3D: (T, 32, 3) float32 world metres, a body-sized point cloud moving smoothly near the origin.
    2D: the 17 kept joints projected into the 4 cameras, pixels, with noise and 0-3 extra frames.
    """
    rng = np.random.default_rng(seed)
    kept = kept_joints()
    pos3d, pos2d = {}, {}
    for subject, names in actions.items():
        pos3d[subject], pos2d[subject] = {}, {}
        for action in names:
            t = int(rng.integers(*frames))
            base = rng.normal(0, 0.25, (1, 32, 3)) + [0, 0, 0.9]
            phase = rng.uniform(0, 2 * np.pi, (1, 32, 3))
            time = np.arange(t)[:, None, None] / 50
            walk = np.stack([0.5 * np.sin(time[..., 0] * 0.7), 0.3 * time[..., 0], 0 * time[..., 0]], -1)
            world = (base + 0.1 * np.sin(2 * np.pi * 0.8 * time + phase) + walk).astype(np.float32)
            pos3d[subject][action] = world
            cams = []
            for cam in h36m_cameras()[subject]:
                px = project_to_2d(world_to_camera(world[:, kept], cam.orientation, cam.translation), cam)
                px = px + rng.normal(0, 2.0, px.shape)
                extra = int(rng.integers(0, 4))
                px = np.concatenate([px, px[-1:].repeat(extra, 0)]) if extra else px
                cams.append(px.astype(np.float32))
            pos2d[subject][action] = cams
    return pos3d, pos2d


def write_dataset(directory: Path, pos3d, pos2d, keypoints: str = "cpn_ft_h36m_dbb") -> Path:
    """Write the two .npz files as upstream's prepare_data scripts do."""
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(directory / "data_3d_h36m.npz", positions_3d=pos3d)
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY}
    np.savez_compressed(directory / f"data_2d_h36m_{keypoints}.npz", positions_2d=pos2d, metadata=metadata)
    return directory


def small_dataset(tmp_path, mutate=None, keypoints="cpn_ft_h36m_dbb") -> Path:
    """tmp_path/data: a small Human3.6M-format dataset (S9, S11) saved with np.savez as upstream does;
    mutate(pos3d, pos2d, metadata) edits it first (the bad-input tests break it that way)."""
    pos3d, pos2d = make_positions({"S9": ["Walking", "Greeting 1"], "S11": ["Walking"]}, seed=4)
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY,
            "note": str(tmp_path / "pwned")}     # where a malicious pickle would write (see _evil_meta)
    if mutate:
        mutate(pos3d, pos2d, meta)
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    np.savez(d / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez(d / f"data_2d_h36m_{keypoints}.npz", positions_2d=pos2d, metadata=meta)
    return d
