"""vp3d_lift.py against upstream's own in-the-wild path (run.py -d custom --render --viz-export), with and
without a trajectory model, from the upstream npz, an MMPose JSON and a COCO JSON of the same video, in all
three output formats (needs VP3D_UPSTREAM=<checkout at 1afb1ca>)."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from random_models import random_model
from repo_paths import ROOT
from keypoint_writers import (
    fill_gaps_by_hand,
    video_keypoints,
    write_coco_json,
    write_custom_npz,
    write_mmpose_json,
)

import vp3d_lift
from vp3d.facts.architecture import ModelConfig
from vp3d.io.poses import read_poses_npz
from vp3d.model import checkpoint
from vp3d.model.temporal import TemporalModel, randomize_batchnorm

UPSTREAM = os.environ.get("VP3D_UPSTREAM")
pytestmark = [pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca"),
              pytest.mark.slow]       # upstream's own scripts, run where VP3D_UPSTREAM is set
W, H = 1920, 1080
MISSING = [40, 41, 42, 100]



def read_any(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        return read_poses_npz(path)
    if path.suffix == ".json":
        return {k: np.asarray(v["poses"], np.float32) for k, v in json.loads(path.read_text())["videos"].items()}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = dict.fromkeys(r["video"] for r in rows)
    return {n: np.asarray([[r["x"], r["y"], r["z"]] for r in rows if r["video"] == n], np.float32).reshape(-1, 17, 3)
            for n in names}


def test_lift_matches_upstream_in_the_wild_export(tmp_path):
    upstream = tmp_path / "VideoPose3D"
    shutil.copytree(UPSTREAM, upstream, ignore=shutil.ignore_patterns(".git", "*.npz"))
    subprocess.run(["patch", "-p1", "-i", str(ROOT / "vp3d.patch")], cwd=upstream, check=True, capture_output=True)

    video = video_keypoints(160, W, H, seed=21)
    others = {t: video[t] + 120 for t in (10, 39, 90)}          # a second, lower-scored person
    filled = fill_gaps_by_hand(video, MISSING)                    # what prepare_data_2d_custom.py would store
    npz = write_custom_npz(upstream / "data" / "data_2d_custom_mine.npz", {"clip": (filled, W, H)})
    inputs = {"npz": npz, "mmpose": write_mmpose_json(tmp_path / "clip.json", video, MISSING, others),
              "coco": write_coco_json(tmp_path / "coco.json", video, MISSING, others)}

    ckpt = tmp_path / "ckpt"
    checkpoint.save(ckpt / "pos.bin", random_model((3, 3, 3), 32, seed=7))
    torch.manual_seed(8)
    obj = checkpoint.load_raw(ckpt / "pos.bin")
    obj["model_traj"] = randomize_batchnorm(TemporalModel(ModelConfig((3, 3, 3), 32, num_joints_out=1)), 8).state_dict()
    torch.save(obj, ckpt / "traj.bin")

    for name in ("pos", "traj"):
        ref = tmp_path / f"ref_{name}.npy"
        run = subprocess.run([sys.executable, "run.py", "-d", "custom", "-k", "mine", "-arc", "3,3,3", "--channels", "32",
                              "-c", str(ckpt), "--evaluate", f"{name}.bin", "--render", "--viz-subject", "clip",
                              "--viz-action", "custom", "--viz-camera", "0", "--viz-export", str(ref)],
                             cwd=upstream, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        theirs = np.load(ref)
        assert theirs.shape == (160, 17, 3)
        for kind, path in inputs.items():
            for fmt in ("npz", "json", "csv"):
                out = tmp_path / f"{name}_{kind}.{fmt}"
                assert vp3d_lift.main([str(path), "-m", str(ckpt / f"{name}.bin"), "-o", str(out),
                                       "--image-size", str(W), str(H)]) == 0
                (ours,) = read_any(out).values()
                np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0, err_msg=f"{name} {kind} {fmt}")
