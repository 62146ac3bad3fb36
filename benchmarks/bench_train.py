#!/usr/bin/env python3
"""Time per training epoch: vp3d_train.py against upstream VideoPose3D's run.py, same data, same batches, same run.

    python benchmarks/bench_train.py --upstream /path/to/VideoPose3D            # a checkout at 1afb1ca
    python benchmarks/bench_train.py --upstream ../VideoPose3D --configs 27x256 --epochs 2   # a quick look

Synthetic Human3.6M-format data (vp3d_synthesize.py's, --lengths frames per take) is written once; for each
model configuration (widths x channels) both programs train --epochs epochs on it with the same flags
(upstream's: -d h36m -k cpn_ft_h36m_dbb -arc ... -ch ... -b ... -e ... -str S1,S5 -ste S9), each in its own
process, taking turns, --rounds times (a busy neighbour slows both alike). Upstream runs unchanged from a copy of
the checkout (torch.load(..., weights_only=False), unused here, is the one shim). An epoch's time is the time
between consecutive per-epoch lines as they arrive ('[N] time ...'; the first from the line printed just
before the loop): training and the per-epoch evaluation (3d_eval, 3d_valid) both programs do; data loading
and start-up are left out. The median epoch of every round, then the median round, per program. Threads:
torch's default in both (this machine's physical cores), unless --threads. Prints the machine, its CPU flags,
the library versions and a markdown table; JSON to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from benchmarks.bench_backends import machine  # noqa: E402
from make_golden import check_upstream  # noqa: E402
from vp3d.training.synthetic import generate, save_dataset  # noqa: E402

EPOCH = re.compile(r"^\[(\d+)\] time ")
LOOP_START = ("** The final evaluation", "** Note: reported losses")   # upstream's last line before the loop; vp3d's
UPSTREAM_DRIVER = '''\
import runpy, sys
import torch
sys.path.insert(0, '.')
_load = torch.load
torch.load = lambda *a, **k: _load(*a, **{'weights_only': False, **k})
sys.argv = ['run.py'] + sys.argv[1:]
runpy.run_path('run.py', run_name='__main__')
'''


def epoch_seconds(cmd: list[str], cwd: Path, env: dict) -> tuple[list[float], str]:
    """Run `cmd`, timestamping its stdout lines as they arrive: the seconds of each epoch, and the output."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    marks, lines, last = [], [], None
    for line in proc.stdout:
        now = time.monotonic()
        lines.append(line)
        if line.startswith(LOOP_START):
            last = now
        elif EPOCH.match(line) and last is not None:
            marks.append(now - last)
            last = now
    if proc.wait():
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{''.join(lines[-30:])}")
    return marks, "".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--upstream", required=True, type=Path, help="an upstream VideoPose3D checkout at 1afb1ca")
    p.add_argument("--configs", default="27x256,243x128",
                   help="receptive field x channels, comma-separated: 27 (-arc 3,3,3), 81 (3,3,3,3), 243 (3,3,3,3,3)")
    p.add_argument("--lengths", type=int, default=120, help="frames per synthetic take")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=1024, help="-b, both programs")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads, both programs (default: torch's)")
    p.add_argument("--out", type=Path, default=None, help="JSON results")
    args = p.parse_args(argv)
    check_upstream(args.upstream)
    arcs = {"27": "3,3,3", "81": "3,3,3,3", "243": "3,3,3,3,3"}
    configs = [(arcs[c.split("x")[0]], int(c.split("x")[1])) for c in args.configs.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="vp3d_bench_train_"))
    try:
        data = tmp / "data"
        pos3d, pos2d = generate(["S1", "S5", "S9"], None, str(args.lengths), seed=0)
        save_dataset(data, pos3d, pos2d)
        frames = sum(len(x) for s in ("S1", "S5") for x in pos3d[s].values()) * 4
        upstream = tmp / "VideoPose3D"
        shutil.copytree(args.upstream, upstream, ignore=shutil.ignore_patterns(".git", "*.npz", "__pycache__"))
        for f in data.iterdir():
            shutil.copy(f, upstream / "data" / f.name)
        (tmp / "driver.py").write_text(UPSTREAM_DRIVER)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        if args.threads:
            env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        rows = []
        for arc, channels in configs:
            flags = ["-k", "cpn_ft_h36m_dbb", "-arc", arc, "-ch", str(channels), "-b", str(args.batch),
                     "-e", str(args.epochs), "-str", "S1,S5", "-ste", "S9"]
            runs = {"upstream run.py": [sys.executable, str(tmp / "driver.py"), "-d", "h36m", *flags,
                                        "-c", str(tmp / "ckpt_upstream")],
                    "vp3d_train.py": [sys.executable, str(ROOT / "vp3d_train.py"), "-d", str(data), *flags,
                                      "-o", str(tmp / "ckpt_vp3d" / "last.bin")]}
            if args.threads:
                runs["vp3d_train.py"] += ["--threads", str(args.threads)]
            times = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, cmd in runs.items():
                    marks, _ = epoch_seconds(cmd, upstream if name.startswith("upstream") else tmp, env)
                    times[name].append(statistics.median(marks))
            med = {name: statistics.median(t) for name, t in times.items()}
            rf = 3 ** len(arc.split(","))
            rows.append({"model": f"{rf} frames, {channels} channels", "arc": arc, "channels": channels,
                         "training_frames": frames, "batch": args.batch, "epochs": args.epochs,
                         "upstream_s": med["upstream run.py"], "vp3d_s": med["vp3d_train.py"],
                         "speedup": med["upstream run.py"] / med["vp3d_train.py"], "rounds": times})
            print(f"{rows[-1]['model']}: upstream {med['upstream run.py']:.2f} s/epoch, vp3d "
                  f"{med['vp3d_train.py']:.2f} s/epoch ({rows[-1]['speedup']:.2f}x)", flush=True)
        info = {"date": datetime.now().isoformat(timespec="minutes"), "machine": machine(),
                "load_average": os.getloadavg(), "threads": args.threads or "torch default", "rows": rows}
        m = info["machine"]
        print(f"\n{m['cpu']}, {m['physical_cores']} cores, {' '.join(m['isa'])}; torch {m['versions']['torch']}; "
              f"{info['date']}; load average at the end {info['load_average'][0]:.1f}")
        print(f"training subjects S1, S5: {frames} frames (x2 mirrored examples), batch {args.batch}, "
              f"{args.epochs} epochs, median epoch\n")
        print("| model | upstream run.py s/epoch | vp3d_train.py s/epoch | speed-up |\n| --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['model']} | {r['upstream_s']:.2f} | {r['vp3d_s']:.2f} | {r['speedup']:.2f}x |")
        if args.out:
            args.out.write_text(json.dumps(info, indent=1) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
