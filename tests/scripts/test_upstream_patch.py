"""vp3d.patch on upstream VideoPose3D: same numbers as our pipeline (needs VP3D_UPSTREAM=<checkout at 1afb1ca>)."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from h36m_data import make_positions, write_dataset
from random_models import random_model
from repo_paths import ROOT

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.model import checkpoint

UPSTREAM = os.environ.get("VP3D_UPSTREAM")
pytestmark = [pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca"),
              pytest.mark.slow]       # upstream's own scripts, run where VP3D_UPSTREAM is set


def parse_upstream(text: str) -> dict[str, dict[str, float]]:
    out = {}
    for action, body in re.findall(r"----(\w+)----\n(.*?)\n----------", text, re.S):
        out[action] = {key: float(re.search(pattern + r"\s*([-\d.e]+) mm", body).group(1)) for key, pattern in
                       [("mpjpe", r"\(MPJPE\):"), ("p_mpjpe", r"\(P-MPJPE\):"), ("n_mpjpe", r"\(N-MPJPE\):"),
                        ("mpjve", r"\(MPJVE\):")]}
    return out


def test_patched_upstream_matches_our_pipeline(tmp_path):
    upstream = tmp_path / "VideoPose3D"
    shutil.copytree(UPSTREAM, upstream, ignore=shutil.ignore_patterns(".git", "*.npz"))
    subprocess.run(["patch", "-p1", "-i", str(ROOT / "vp3d.patch")], cwd=upstream, check=True, capture_output=True)

    pos3d, pos2d = make_positions({"S9": ["Directions", "Walking 1", "Eating"], "S11": ["Directions 1", "Walking"]},
                                  seed=11, frames=(80, 200))
    write_dataset(upstream / "data", pos3d, pos2d)
    model = random_model((3, 3, 3), 32, seed=4)
    checkpoint.save(tmp_path / "ckpt" / "model_best.bin", model, "conv2d", module_prefix=True)   # the Ascend form

    run = subprocess.run([sys.executable, "run.py", "-k", "cpn_ft_h36m_dbb", "-arc", "3,3,3", "--channels", "32",
                          "-str", "S9", "-c", str(tmp_path / "ckpt"), "--evaluate", "model_best.bin",
                          "--max-length", "300"], cwd=upstream, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = parse_upstream(run.stdout)

    data = upstream / "data"
    assert vp3d_preprocess.main(["-d", str(data), "-s", str(tmp_path / "prep"), "-arc", "3,3,3", "--max-length", "300"]) == 0
    assert vp3d_pth2onnx.main(["-m", str(tmp_path / "ckpt" / "model_best.bin"), "-o", str(tmp_path / "m.onnx"),
                               "--length", "300"]) == 0
    assert vp3d_infer.main(["--model", str(tmp_path / "m.onnx"), "--input", str(tmp_path / "prep" / "inputs"),
                            "--output", str(tmp_path / "res"), "--output_dirname", "run"]) == 0
    assert vp3d_postprocess.main(["--preprocess-data", str(tmp_path / "prep"), "--infer-results",
                                  str(tmp_path / "res" / "run"), "--json", str(tmp_path / "r.json")]) == 0
    ours = json.loads((tmp_path / "r.json").read_text())["actions"]
    assert list(theirs) == list(ours) == ["Directions", "Walking", "Eating"]
    for action, metrics in theirs.items():
        for key, value in metrics.items():
            assert ours[action][key] == pytest.approx(value, abs=0.01), (action, key)
