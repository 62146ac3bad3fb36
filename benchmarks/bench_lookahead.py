#!/usr/bin/env python3
"""What a stream's lookahead costs in accuracy: MPJPE of the poses answered N frames after their frame,
against the ground truth and against offline lifting of the whole sequence, on a trained model.

    python vp3d_synthesize.py -o DATA --lengths 800 --seed 11
    python benchmarks/bench_lookahead.py -d DATA -m /work/shared/reference/trained/full243_synthetic.bin

The test subjects' sequences of one camera stream as tracks of one batch (vp3d.stream: the unseen rest of
each window filled with the newest frame). MPJPE root-relative, millimetres, over every frame; "vs offline"
is the mean per-joint distance from lift() of the whole sequence. --engines: also the exact stream (lookahead
(RF - 1) / 2) on each of those stream engines (engines.stream_layers), the accuracy of bf16 and int8 products.
Markdown and JSON to --out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vp3d import cli  # noqa: E402
from vp3d.facts.metrics import mpjpe  # noqa: E402
from vp3d.io.files import atomic_path, write_json  # noqa: E402
from vp3d.io.datasets import load_dataset  # noqa: E402
from vp3d.lift import load_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-d", "--data", required=True, help="Human3.6M-format dataset directory")
    p.add_argument("-m", "--model", required=True, help="trained checkpoint or .onnx")
    p.add_argument("--layout", default="h36m", help="the model's 2D keypoint order")
    p.add_argument("--subjects", default="S9,S11")
    p.add_argument("--camera", type=int, default=0)
    p.add_argument("--every", type=cli.positive_int, default=1, help="every n-th sequence (a quicker look)")
    p.add_argument("--lookaheads", type=lookaheads, default=(0, 1, 3, 6, 13, 27, 60, 121))
    p.add_argument("--engines", default="", help="comma-separated stream engines to compare at the full lag")
    p.add_argument("--out", default=str(RESULTS))
    return p


def lookaheads(text: str) -> tuple[int, ...]:
    """argparse type for '0,1,3'."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated frame counts >= 0 like 0,1,3, got {text!r}")
    return values


def root_relative(p: np.ndarray) -> np.ndarray:
    return p - p[..., :1, :]


def stream_all(lifter, seqs: list, lookahead: int | None, engine: str = "numpy") -> list[np.ndarray]:
    """Every sequence (T_i, J, 2) normalised as one track of a batch -> [(T_i, 17, 3)] in frame order."""
    stream = lifter.stream(normalized=True, lookahead=lookahead, engine=engine)
    got = [dict() for _ in seqs]
    for t in range(max(len(s) for s in seqs)):
        for i, pairs in stream.push({i: s[t] for i, s in enumerate(seqs) if t < len(s)}).items():
            got[i].update(pairs)
    for i, pairs in stream.flush_all().items():
        got[i].update(pairs)
    return [np.stack([g[f] for f in range(len(s))]) for g, s in zip(got, seqs)]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
        lifter = load_model(a.model, layout=a.layout)
        data = load_dataset(a.data)
        seqs = [s for s in data.sequences(a.subjects.split(",")) if s.camera == a.camera][::a.every]
        kps = [s.poses_2d for s in seqs]
        truth = np.concatenate([s.poses_3d for s in seqs])
        truth[:, 0] = 0                                     # joints are relative to the root, which keeps the path
        offline = np.concatenate([lifter.lift(k, normalized=True) for k in kps])
        rows = [{"lookahead": "offline lift()", "mpjpe_mm": 1e3 * mpjpe(root_relative(offline), truth),
                 "vs_offline_mm": 0.0}]
        runs = [(n, "numpy") for n in a.lookaheads] + [(None, e) for e in a.engines.split(",") if e]
        for n, engine in runs:
            start = time.perf_counter()
            poses = np.concatenate(stream_all(lifter, kps, n, engine))
            distance = np.linalg.norm(root_relative(poses) - root_relative(offline), axis=-1)
            rows.append({"lookahead": n if n is not None else (lifter.receptive_field - 1) // 2, "engine": engine,
                         "mpjpe_mm": 1e3 * mpjpe(root_relative(poses), truth), "vs_offline_mm": float(1e3 * distance.mean()),
                         "vs_offline_max_mm": float(1e3 * distance.max()), "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
        lines = [f"{len(seqs)} sequences ({a.subjects}, camera {a.camera}), {len(truth)} frames; model "
                 f"{lifter.description}, RF {lifter.receptive_field}; load average before "
                 f"{load_before}, after {' '.join(f'{v:.2f}' for v in os.getloadavg())}", "",
                 "| lookahead N (frames) | stream engine | answered after (ms at 50 fps) | MPJPE mm | "
                 "vs offline lift(): mean mm | max mm |", "|---|---|---|---|---|---|"]
        for r in rows:
            n = r["lookahead"]
            after = f"{1000 * n / lifter.fps:.0f}" if isinstance(n, int) else "whole sequence"
            lines.append(f"| {n} | {r.get('engine', '')} | {after} | {r['mpjpe_mm']:.1f} | {r['vs_offline_mm']:.2f} | "
                         f"{r.get('vs_offline_max_mm', 0):.2f} |")
        text = "\n".join(lines)
        print(text)
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "bench_lookahead.json", {"date": datetime.now().isoformat(timespec="seconds"),
                                                   "model": str(a.model), "rows": rows})
        with atomic_path(out / "bench_lookahead.md") as tmp:
            Path(tmp).write_text(text + "\n")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
