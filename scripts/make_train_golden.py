#!/usr/bin/env python3
"""Regenerate tests/fixtures/train/: what upstream VideoPose3D's own run.py computes when it trains the parity case.

    python scripts/make_train_golden.py --upstream /path/to/VideoPose3D     # a checkout at commit 1afb1ca
    python scripts/make_train_golden.py --upstream /path/to/VideoPose3D --dataset humaneva15

1. tests/train_case.py writes the inputs into a temporary folder: synthetic Human3.6M-format data (S9, S11) and
   two starting checkpoints in upstream's format (start_supervised.bin, start_semi.bin).
2. The checkout is copied (without .git) into the temporary folder, so that nothing is written into it; the data
   go into the copy's data/, the starting checkpoints into its checkpoint/, and for each run this runs there
       python <tmp>/upstream_train_driver.py -d h36m -k cpn_ft_h36m_dbb -arc 3,3,3 -ch 32 -e 2 --dropout 0 \\
           -b 512 -str S9 -ste S11 [-sun S11 --warmup 1] -c checkpoint --resume START.bin --checkpoint-frequency 1
   The driver runs run.py unchanged (runpy) with one shim for today's PyTorch: torch.load with
   weights_only=False (PyTorch >= 2.6 refuses the pickled RandomState otherwise). Torch runs single-threaded.
3. Writes, in --out: upstream_weights.npz (run/epoch_N/model_pos|model_traj/<name>: every tensor of the
   checkpoint run.py saved after each epoch, float32), upstream_train.json (per run: the lines run.py printed
   for each epoch, their numbers parsed, and the action-wise averages of its final evaluation) and fixture.json
   (seed, the inputs' fingerprint, upstream's commit, the commands, the library versions).

--dataset humaneva15 does the same for the HumanEva-I run (train_case.HE_RUNS: upstream's README command for
HumanEva-I, --by-subject, -a Walk,Jog,Box, on COMMON's narrow model) into tests/fixtures/train_humaneva15/, keeping
also each subject's final tables as run.py prints them (final_by_subject).

tests/training/test_upstream_parity.py imports run_upstream() from here to train upstream live where
VP3D_UPSTREAM names a checkout. Upstream's code is never copied into this repository: only what it computes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts")]
import make_golden  # noqa: E402  (the checkout check and the subprocess runner)
import train_case  # noqa: E402

# Runs upstream's run.py (argv[1:] its arguments) with torch.load reading pickled RandomStates again.
DRIVER = '''\
import runpy, sys
import torch
sys.path.insert(0, '.')
torch.set_num_threads(1)
_load = torch.load
def load(*args, **kwargs):
    kwargs.setdefault('weights_only', False)      # shim: checkpoints hold a pickled RandomState
    return _load(*args, **kwargs)
torch.load = load
sys.argv = ['run.py'] + sys.argv[1:]
runpy.run_path('run.py', run_name='__main__')
'''
EPOCH_LINE = re.compile(r"^\[(\d+)\] time (\S+) lr (\S+) (.*)$", re.M)
AVERAGE = re.compile(r"^Protocol #1\s+\(MPJPE\) action-wise average: (\S+) mm$", re.M)


def parse_epochs(stdout: str) -> list[dict]:
    """run.py's per-epoch lines: [{'line': the line, 'epoch': N, 'lr': lr, '3d_train': mm, ...}] ('time' left out)."""
    out = []
    for m in EPOCH_LINE.finditer(stdout):
        values = m.group(4).split()
        record = {"line": m.group(0), "epoch": int(m.group(1)), "lr": float(m.group(3))}
        record.update({k: float(v) for k, v in zip(values[::2], values[1::2])})
        out.append(record)
    return out


def run_upstream(upstream: Path, tmp: Path, inputs: train_case.TrainInputs, run: str) -> dict:
    """Train `run` with upstream's run.py in a copy under `tmp`: {'stdout', 'epochs' (parse_epochs),
    'final_mpjpe' (its final evaluation's printed action-wise MPJPE, mm), 'weights' {epoch: {'model_pos': state,
    'model_traj': state or None}}}."""
    make_golden.check_upstream(upstream)
    copy = make_golden.copy_upstream(upstream, tmp / f"VideoPose3D_{run}", inputs.data, inputs.starts.values())
    driver = tmp / "upstream_train_driver.py"
    driver.write_text(DRIVER)
    env_threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        stdout = make_golden.run([sys.executable, str(driver), *train_case.upstream_args(run)], copy)
    finally:
        for k, v in env_threads.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    epochs = parse_epochs(stdout)
    if [e["epoch"] for e in epochs] != list(range(1, train_case.EPOCHS + 1)):
        sys.exit(f"run.py printed epochs {[e['epoch'] for e in epochs]}:\n{stdout}")
    weights = {}
    for epoch in range(1, train_case.EPOCHS + 1):
        saved = torch.load(copy / "checkpoint" / f"epoch_{epoch}.bin", map_location="cpu", weights_only=False)
        if saved["epoch"] != epoch:
            sys.exit(f"epoch_{epoch}.bin records epoch {saved['epoch']}")
        weights[epoch] = {key: None if saved[key] is None else {k: v.numpy() for k, v in saved[key].items()}
                          for key in ("model_pos", "model_traj")}
    final = AVERAGE.search(stdout)
    out = {"stdout": stdout, "epochs": epochs, "final_mpjpe": float(final.group(1)) if final else None,
           "weights": weights}
    if "Evaluating on subject" in stdout:          # --by-subject: each subject's final tables
        out["final_by_subject"] = {subject: {"actions": actions, "average": averages} for subject, (actions, averages)
                                   in make_golden.parse_by_subject(stdout).items()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, type=Path,
                   help=f"an upstream VideoPose3D checkout at {make_golden.UPSTREAM_COMMIT[:7]}")
    p.add_argument("--dataset", choices=("h36m", "humaneva15"), default="h36m",
                   help="which case: Human3.6M's supervised and semi-supervised runs, or HumanEva-I's run")
    p.add_argument("--out", type=Path, default=None,
                   help=f"fixture folder (default: {train_case.FIXTURE} or {train_case.HE_FIXTURE})")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = p.parse_args(argv)
    make_golden.check_upstream(args.upstream)

    with make_golden.work_folder("vp3d_train_golden_", args.keep) as tmp:
        humaneva = args.dataset == "humaneva15"
        inputs = (train_case.write_humaneva_train_inputs if humaneva else train_case.write_train_inputs)(tmp / "inputs")
        runs = train_case.HE_RUNS if humaneva else train_case.RUNS
        out = args.out or (train_case.HE_FIXTURE if humaneva else train_case.FIXTURE)
        results, arrays = {}, {}
        for run in runs:
            r = run_upstream(args.upstream, tmp, inputs, run)
            print(r["stdout"][r["stdout"].index("** Note"):] if "** Note" in r["stdout"] else r["stdout"])
            results[run] = {"epochs": r["epochs"], "final_mpjpe": r["final_mpjpe"]}
            if "final_by_subject" in r:
                results[run]["final_by_subject"] = r["final_by_subject"]
            for epoch, models in r["weights"].items():
                for key, state in models.items():
                    for name, value in (state or {}).items():
                        if value.dtype == np.float32:      # num_batches_tracked counts batches: not a weight
                            arrays[f"{run}/epoch_{epoch}/{key}/{name}"] = value
        fixture = {
            "seed": train_case.HE_SEED if humaneva else train_case.SEED, "filters": list(train_case.FILTER_WIDTHS),
            "channels": train_case.CHANNELS,
            "epochs": train_case.EPOCHS, "fingerprint": inputs.fingerprint,
            "upstream": {"repository": "https://github.com/facebookresearch/VideoPose3D",
                         "commit": make_golden.UPSTREAM_COMMIT,
                         "commands": {run: "python run.py " + " ".join(train_case.upstream_args(run))
                                      for run in runs},
                         "shims": ["torch.load(..., weights_only=False)", "torch.set_num_threads(1)"]},
            "environment": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                            "machine": platform.machine()},
        }
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "upstream_weights.npz", **arrays)
        (out / "upstream_train.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "fixture.json").write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"wrote {out}: {', '.join(sorted(f.name for f in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
