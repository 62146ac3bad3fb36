#!/usr/bin/env python3
"""A corpus of clips lifted in process and on Ray Data with 1 and 2 workers: files/s, frames/s, per-file cost.

    python benchmarks/bench_corpus.py                    # 200 clips of 300 frames (a quick run)
    python benchmarks/bench_corpus.py --full             # 2,000 clips of 300 frames
    python benchmarks/bench_corpus.py --clips 500 --workers 1,2 --format npz --out bench_corpus/

The clips are COCO keypoint results (.json; --format npz: np.savez arrays), written by the tests' own
writers (tests/keypoint_writers.py), 300 frames each as a Kinetics-400 skeleton clip; the model is the
demo's COCO shape (27 frames: -arc 3,3,3, 64 channels, random weights: only speed is measured), exported
to ONNX with a dynamic length and run by ONNX Runtime with 1 thread per worker. Runs, each into a fresh
folder through vp3d.corpus.lift_corpus (the code vp3d_lift.py runs):

    in-process   one process, one model, the files in turn (--threads 1)
    ray N        a local Ray cluster of 2 CPUs, an actor pool of N workers (1 CPU and 1 thread each)

With --rounds R the runs take turns R times (other processes on the cores slow each round alike) and
each run's median round (by files/s) is reported. Reported per run: wall time (for Ray from the first job submitted, actor start-up and model loads
included; the cluster's own start-up apart), files/s and frames/s over it; the time to the first report
row (start-up); the steady rate (files/s from the first report row to the last); the mean time lift_one
takes per file (read + lift + write, timed inside the worker), and the per-file overhead: workers / steady
rate minus that mean (what scheduling, batching and result passing add to each file on a worker), and
against the in-process loop: workers / steady rate minus the in-process run's 1 / steady rate. Outputs of every
run are compared byte for byte with the in-process run's. Also printed: the machine (CPU, ISA flags,
versions) and the load average before and after (other processes on the cores slow every run).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchmarks.bench_backends import machine  # noqa: E402
from keypoint_writers import video_keypoints, write_coco_json  # noqa: E402
from vp3d import corpus  # noqa: E402
from vp3d.facts.architecture import ModelConfig  # noqa: E402
from vp3d.model.export import export_onnx  # noqa: E402
from vp3d.model.temporal import TemporalModel, randomize_batchnorm  # noqa: E402

W, H = 340, 256          # Kinetics-400's frame size (its skeleton releases normalise by it)


def write_clips(folder: Path, clips: int, frames: int, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(clips):
        kps = video_keypoints(frames, W, H, seed=i)
        if fmt == "json":
            write_coco_json(folder / f"clip{i:06d}.json", kps)
        else:
            np.savez(folder / f"clip{i:06d}.npz", **{f"clip{i:06d}": kps})


def timed_run(jobs, out: Path, spec, options, ray: str | None, workers: int | None) -> dict:
    arrived = []
    start = time.perf_counter()
    summary = corpus.lift_corpus(jobs, out, spec, options, ray=ray, workers=workers, threads_per_worker=1,
                                 progress=False, on_row=lambda row: arrived.append(time.perf_counter()))
    wall = time.perf_counter() - start
    rows = summary.rows
    assert not summary.failed, summary.failed[:2]
    per_file = statistics.fmean(r["seconds"] for r in rows)
    n, frames, k = len(rows), sum(r["frames"] for r in rows), workers or 1
    # steady state: from the first report rows to the last (actor start-up and model loads before them); Ray's
    # rows come back a block at a time, so the first rows are those arriving within 10 ms of the first
    first = next((i for i, t in enumerate(arrived) if t > arrived[0] + 0.01), 0)
    steady = (n - first) / (arrived[-1] - arrived[first - 1]) if first else n / wall
    return {"run": "in-process" if ray is None else f"ray {workers}", "workers": k, "files": n, "frames": frames,
            "wall_s": round(wall, 3), "files_per_s": round(n / wall, 2), "frames_per_s": round(frames / wall),
            "first_row_s": round(arrived[0] - start, 3), "steady_files_per_s": round(steady, 2),
            "lift_one_ms": round(1e3 * per_file, 2), "overhead_ms": round(1e3 * (k / steady - per_file), 2)}


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.npz"))
    return names == sorted(p.name for p in b.glob("*.npz")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=200)
    p.add_argument("--full", action="store_true", help="2,000 clips")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--format", choices=("json", "npz"), default="json", help="the clips' file format")
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--workers", default="1,2", help="Ray actor pool sizes to run")
    p.add_argument("--no-ray", action="store_true")
    p.add_argument("--rounds", type=int, default=1, help="runs in turn this often; each run's median round is reported")
    p.add_argument("--out", type=Path, default=None, help="write bench_corpus.json here")
    p.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp one)")
    a = p.parse_args(argv)
    clips = 2000 if a.full else a.clips
    work = a.keep or Path(tempfile.mkdtemp(prefix="bench_corpus_"))
    try:
        load_before = os.getloadavg()
        model = work / "model.onnx"
        net = randomize_batchnorm(TemporalModel(ModelConfig((3, 3, 3), a.channels)), 0).eval()
        export_onnx(net, model, length=None)
        start = time.perf_counter()
        write_clips(work / "clips", clips, a.frames, a.format)
        print(f"[INFO] wrote {clips} clips of {a.frames} frames ({a.format}) in {time.perf_counter() - start:.1f} s")
        jobs_for = lambda out: corpus.plan_jobs(corpus.expand_inputs([str(work / "clips")]), out)  # noqa: E731
        spec, options = corpus.ModelSpec(str(model), threads=1), corpus.LiftOptions(image_size=(W, H))
        runs = [(None, None)] + ([] if a.no_ray else [(corpus.LOCAL, int(k)) for k in a.workers.split(",")])
        ray_start, rounds = None, []
        if not a.no_ray:
            import ray
            start = time.perf_counter()
            ray.init(address=corpus.LOCAL, num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_start = round(time.perf_counter() - start, 2)
            ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            for n in range(a.rounds):          # the runs take turns: a busy neighbour slows each round alike
                for address, k in runs:
                    out = work / ("local" if address is None else f"ray{k}")
                    row = timed_run(jobs_for(out), out, spec, options, address, k)
                    row.update(round=n + 1, load_1min=round(os.getloadavg()[0], 2))
                    if address is not None:
                        row["identical_to_in_process"] = same_outputs(work / "local", out)
                    rounds.append(row)
                    print(json.dumps(row))
        finally:
            if not a.no_ray:
                ray.shutdown()
        results = []                            # per run, its median round by files/s
        for name in dict.fromkeys(r["run"] for r in rounds):
            mine = sorted((r for r in rounds if r["run"] == name), key=lambda r: r["files_per_s"])
            results.append(mine[(len(mine) - 1) // 2])
        report = {"machine": machine(), "load_average_before": [round(v, 2) for v in load_before],
                  "load_average_after": [round(v, 2) for v in os.getloadavg()],
                  "clips": clips, "frames_per_clip": a.frames, "format": a.format,
                  "model": f"27 frames (3,3,3), {a.channels} channels, ONNX Runtime, 1 thread per worker",
                  "ray_init_s": ray_start, "rounds": a.rounds, "runs": results, "every_round": rounds}
        by = {r["run"]: r for r in results}
        for r in results[1:]:      # a file's time on a Ray worker beyond its time in the in-process loop
            r["overhead_vs_in_process_ms"] = round(1e3 * (r["workers"] / r["steady_files_per_s"]
                                                          - 1 / by["in-process"]["steady_files_per_s"]), 2)
        if "ray 1" in by and "ray 2" in by:
            report["ray_2_over_1"] = round(by["ray 2"]["files_per_s"] / by["ray 1"]["files_per_s"], 2)
            report["ray_2_over_1_steady"] = round(by["ray 2"]["steady_files_per_s"] / by["ray 1"]["steady_files_per_s"], 2)
        print(json.dumps({k: v for k, v in report.items() if k not in ("runs", "every_round")}, indent=1))
        print("\n| run | files/s | frames/s | first row s | steady files/s | lift_one ms/file | overhead ms/file "
              "| vs in-process ms/file |")
        print("|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['run']} | {r['files_per_s']} | {r['frames_per_s']} | {r['first_row_s']} | "
                  f"{r['steady_files_per_s']} | {r['lift_one_ms']} | {r['overhead_ms']} | "
                  f"{r.get('overhead_vs_in_process_ms', '')} |")
        if a.out:
            a.out.mkdir(parents=True, exist_ok=True)
            (a.out / "bench_corpus.json").write_text(json.dumps(report, indent=1) + "\n")
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
