#!/usr/bin/env python3
"""Preprocess and postprocess at the real Human3.6M test-set size (236 inputs, 543,344 frames).

Synthetic data with the real sequence lengths (vp3d/data/h36m_test_lengths.tsv) stands in for
Human3.6M. Predictions are written as ais_bench would write them (2 x 5873 x 17 x 3 float32 per
input), from the ground truth plus noise, so that the postprocess timing does not include a model.
Baseline measured in the same run: the raw I/O floor, i.e. writing/reading the same bytes with numpy.

    python benchmarks/bench_pipeline.py [--work DIR] [--length L]
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vp3d.pipeline.evaluation import evaluate                      # noqa: E402
from vp3d.io.files import read_array, write_array           # noqa: E402
from vp3d.pipeline.preprocess import preprocess                    # noqa: E402
from vp3d.pipeline.sequences import DEFAULT_LENGTH, flip_augment  # noqa: E402
from vp3d.training.synthetic import generate, save_dataset         # noqa: E402


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--work", default=None, help="scratch directory (default: a temporary one, removed after)")
    p.add_argument("--length", type=int, default=DEFAULT_LENGTH, help="--max-length of the inputs")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"), help="where the JSON/markdown go")
    a = p.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="vp3d_bench_"))
    try:
        (pos3d, pos2d), t_gen = timed(lambda: generate(subjects=("S9", "S11"), lengths="real", seed=0))
        save_dataset(work / "data", pos3d, pos2d)
        manifest, t_pre = timed(lambda: preprocess(work / "data", work / "prep", ["S9", "S11"], lengths=[a.length], force=True))
        frames = sum(e.frames for e in manifest.entries)

        rng = np.random.default_rng(0)
        res = work / "results" / "2022_09_25-07_41_01"
        for e in manifest.entries:
            gt = read_array(work / "prep" / "ground_truths" / f"{e.name}.bin", (e.frames, 17, 3)).copy()
            gt[:, 0] = 0
            pred = gt + rng.normal(0, 0.03, gt.shape).astype(np.float32)
            pred = np.pad(pred, ((0, manifest.output_length(e) - e.frames), (0, 0), (0, 0)), mode="edge")
            write_array(res / f"{e.name}_0.bin", flip_augment(pred, manifest.joint_symmetry))
        results, t_post = timed(lambda: evaluate(work / "prep", res))

        # I/O floor: the same bytes written (inputs + ground truths) and read (predictions + ground truths)
        def write_floor():
            for e in manifest.entries:
                np.zeros((2, a.length, 17, 2), np.float32).tofile(work / "floor.bin")
                np.zeros((e.frames, 17, 3), np.float32).tofile(work / "floor.bin")
        def read_floor():
            for e in manifest.entries:
                np.fromfile(res / f"{e.name}_0.bin", np.float32)
                np.fromfile(work / "prep" / "ground_truths" / f"{e.name}.bin", np.float32)
        _, t_wfloor = timed(write_floor)
        _, t_rfloor = timed(read_floor)
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)

    report = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
        "inputs": len(manifest.entries), "frames": frames, "length": a.length,
        "seconds": {"generate_synthetic": t_gen, "preprocess": t_pre, "postprocess": t_post,
                    "io_floor_preprocess_writes": t_wfloor, "io_floor_postprocess_reads": t_rfloor},
        "mpjpe_mm_of_noisy_predictions": results.average["mpjpe"],
    }
    table = "\n".join([
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; {report['date']}",
        f"{len(manifest.entries)} inputs of 2x{a.length}x17x2, {frames} frames",
        "", "| stage | seconds | I/O floor (same run) | target |", "| --- | --- | --- | --- |",
        f"| preprocess | {t_pre:.1f} | {t_wfloor:.1f} | <= 60 |",
        f"| postprocess | {t_post:.1f} | {t_rfloor:.1f} | <= 60 |",
    ])
    print(table)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "pipeline.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
