"""HumanEva-I files written by upstream's own converter, evaluated by upstream's run.py and by vp3d's four stages
(needs VP3D_UPSTREAM=<checkout at 1afb1ca>, and scipy to write the .mat files).

The .mat files are what upstream's data/ConvertHumanEva.m writes (converted_15j/Validate/S1/Walking_1.mat: poses_3d
T x 15 x 3 millimetres, poses_2d 3 x T x 15 x 2 pixels, NaN where the mocap is corrupt, T the take's real frame
count), here with made-up motion; upstream's data/prepare_data_humaneva.py turns them into data_3d_humaneva15.npz
and data_2d_humaneva15_gt.npz (chunks between the corrupt frames); the model is upstream's own TemporalModel with
torch's initialisation, saved as run.py saves it and, reshaped by torch alone, in the Ascend weight layout. Neither the
data files nor the weights pass through vp3d's code before its four stages read them.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from repo_paths import ROOT

import vp3d_infer
import vp3d_postprocess
import vp3d_preprocess
import vp3d_pth2onnx
from vp3d.facts.datasets import humaneva_takes

UPSTREAM = os.environ.get("VP3D_UPSTREAM")
pytestmark = [pytest.mark.skipif(not UPSTREAM, reason="set VP3D_UPSTREAM to an upstream VideoPose3D checkout at 1afb1ca"),
              pytest.mark.slow]
sys.path.insert(0, str(ROOT / "scripts"))
import make_golden  # noqa: E402  (its driver for run.py and its parser of what run.py prints)

TAKES = {"Validate/S1": ["Walking 1", "Jog 1", "Gestures 1", "Box 1"], "Validate/S2": ["Walking 1", "Jog 1", "Box 1"],
         "Validate/S3": ["Walking 1", "Jog 1", "Box 1"]}
SUBJECTS = ",".join(TAKES)

PREPARE = '''\
import os, runpy, sys, types
sys.modules['h5py'] = types.ModuleType('h5py')     # imported at the top, used only by the SH importer
sys.path.insert(0, '.')
sys.argv = ['prepare_data_humaneva.py', '-p', sys.argv[1], '--convert-3d']
runpy.run_path('prepare_data_humaneva.py', run_name='__main__')
'''

MODEL = '''\
import sys, torch
sys.path.insert(0, '.')
from common.model import TemporalModel
torch.manual_seed(26)
model = TemporalModel(15, 2, 15, filter_widths=[3, 3, 3], channels=32)
with torch.no_grad():                              # batch norms as a trained model has them
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.1, 0.1)
state = model.state_dict()
ascend = {'module.' + k: (v.unsqueeze(-1) if v.dim() == 3 else v) for k, v in state.items()}
for name, weights in (('upstream.bin', state), ('ascend.bin', ascend)):
    torch.save({'epoch': 1, 'lr': 0.001, 'random_state': None, 'optimizer': None, 'model_pos': weights,
                'model_traj': None, 'random_state_semi': None}, 'checkpoint/' + name)
'''


def write_mat_files(root, rng) -> None:
    """converted_15j/<Validate>/<S>/<Action>_1.mat as ConvertHumanEva.m writes them, with a corrupt stretch (NaN)
    in most takes: a body of 15 joints swaying and walking, seen by three pinhole cameras."""
    from scipy.io import savemat
    takes = humaneva_takes()
    for subject, names in TAKES.items():
        folder = root / subject
        folder.mkdir(parents=True)
        for name in names:
            start, end = takes[subject][name]
            t = end - start
            time = np.arange(t)[:, None, None] / 60.0
            rest = rng.normal(0, 250, (1, 15, 3)) + [0, 0, 1000]
            poses = rest + 80 * np.sin(2 * np.pi * rng.uniform(0.5, 2, (1, 15, 3)) * time + rng.uniform(0, 6, (1, 15, 3)))
            poses = poses + time * np.array([150.0, 60.0, 0.0])            # 0.16 m/s: stays in view
            views = []
            for c in range(3):
                angle = 2 * np.pi * c / 3 + rng.uniform(-0.3, 0.3)
                a, b = np.cos(angle), np.sin(angle)
                depth = 5000 + a * poses[..., 0] + b * poses[..., 1]
                views.append(np.stack([320 + 580 * (a * poses[..., 1] - b * poses[..., 0]) / depth,
                                       240 - 580 * (poses[..., 2] - 1000) / depth], axis=-1))
            views = np.stack(views)
            if rng.uniform() < 0.8:                        # corrupt mocap: chunk0, (chunk1 unlabelled), chunk2
                gap = int(rng.integers(10, t - 20))
                poses[gap:gap + int(rng.integers(1, 6))] = np.nan
                views[:, np.isnan(poses[:, 0, 0])] = np.nan
            savemat(folder / f"{name.replace(' ', '_')}.mat", {"poses_3d": poses, "poses_2d": views})


def test_upstreams_own_humaneva_files_and_evaluation_match_the_four_stages(tmp_path):
    pytest.importorskip("scipy.io")
    upstream = tmp_path / "VideoPose3D"
    shutil.copytree(UPSTREAM, upstream, ignore=shutil.ignore_patterns(".git", "*.npz", "__pycache__"))
    (upstream / "checkpoint").mkdir()
    write_mat_files(tmp_path / "converted_15j", np.random.default_rng(2026))

    def python(script: str, *args, cwd=upstream) -> str:
        (tmp_path / "script.py").write_text(script)
        run = subprocess.run([sys.executable, str(tmp_path / "script.py"), *map(str, args)], cwd=cwd,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        return run.stdout

    python(PREPARE, tmp_path / "converted_15j", cwd=upstream / "data")
    python(MODEL)
    data = upstream / "data"
    assert vp3d_preprocess.main(["-d", str(data), "--dataset", "humaneva15", "-k", "gt", "-ste", SUBJECTS,
                                 "-a", "Walk,Jog,Box", "-arc", "3,3,3", "-s", str(tmp_path / "prep")]) == 0
    chunks = json.loads((tmp_path / "prep" / "manifest.json").read_text())["entries"]
    assert any(e["action"].endswith("chunk2") for e in chunks)      # the corrupt stretches split the takes

    stdout = python(make_golden.DRIVER, tmp_path / "record.npz", "-d", "humaneva15", "-k", "gt", "-ste", SUBJECTS,
                    "-a", "Walk,Jog,Box", "--by-subject", "-arc", "3,3,3", "-ch", "32", "-c", "checkpoint",
                    "--evaluate", "upstream.bin")
    theirs = make_golden.parse_by_subject(stdout)
    assert list(theirs) == list(TAKES) and all(list(t[0]) == ["Walking", "Jog", "Box"] for t in theirs.values())

    for ckpt in ("upstream.bin", "ascend.bin"):
        out = tmp_path / ckpt
        assert vp3d_pth2onnx.main(["-m", str(upstream / "checkpoint" / ckpt), "-o", str(out / "m.onnx")]) == 0
        assert vp3d_infer.main(["--model", str(out / "m.onnx"), "--input", str(tmp_path / "prep" / "inputs"),
                                "--output", str(out / "res"), "--output_dirname", "run"]) == 0
        assert vp3d_postprocess.main(["--preprocess-data", str(tmp_path / "prep"), "--infer-results",
                                      str(out / "res" / "run"), "--by-subject", "--json", str(out / "r.json")]) == 0
        ours = json.loads((out / "r.json").read_text())["subjects"]
        assert list(ours) == list(theirs)
        for subject, (actions, averages) in theirs.items():
            assert list(ours[subject]["actions"]) == list(actions)
            for action, metrics in actions.items():
                for key, value in metrics.items():
                    assert ours[subject]["actions"][action][key] == pytest.approx(value, abs=0.01), \
                        (ckpt, subject, action, key)
            for key in averages:                     # run.py prints them rounded: the mean of what it printed per action
                mean = np.mean([m[key] for m in actions.values()])
                assert ours[subject]["average"][key] == pytest.approx(mean, abs=0.01), (ckpt, subject, key)
