#!/usr/bin/env python3
"""Backends side by side on one input: PyTorch eager fp32 vs ONNX Runtime, OpenVINO f32/bf16 (and GPU providers).

    python benchmarks/bench_backends.py                                   # full model: 1024 ch, 3,3,3,3,3, L = 6115
    python benchmarks/bench_backends.py --weight-layouts conv2d_w,conv2d,conv1d  # also compare the weight layouts
    python benchmarks/bench_backends.py --channels 256 --length 1024      # a quick look

Same code paths as vp3d_infer.py: a checkpoint with random weights (fixed seed; no trained weights are
needed for speed) exported with vp3d_pth2onnx.py's default settings, open_session() per backend, and
vp3d.pipeline.infer.time_runs() for the timings: warm-up runs, then --repeat rounds that time each backend once
in turn (so a busy neighbour slows all of them alike); the median is reported, with the min. Reports ms per
inference, the Ascend recipe's frames/s (2*L/ms*1000), achieved GFLOP/s (vp3d.facts.architecture.count_flops), the fraction
of an fp32 GEMM peak measured in the same rounds (numpy and torch sgemm, the faster median), and the error
against PyTorch fp32: max |y - y_torch| / max |y_torch|. Writes JSON and markdown to --out.
"""
from __future__ import annotations

import gc
import os
import platform
import sys
import tempfile
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vp3d.engines import backends  # noqa: E402
from vp3d.model import checkpoint
from vp3d import cli
from vp3d.engines import devices
from vp3d.model.export import DEFAULT_WEIGHT_LAYOUT, DEFAULT_OPSET, export_onnx  # noqa: E402
from vp3d.io.files import atomic_path, write_json  # noqa: E402
from vp3d.pipeline.infer import random_input, time_runs  # noqa: E402
from vp3d.facts.architecture import WEIGHT_LAYOUTS, ModelConfig, count_flops  # noqa: E402
from vp3d.model.temporal import TemporalModel, randomize_batchnorm  # noqa: E402
from vp3d.pipeline.sequences import DEFAULT_LENGTH  # noqa: E402

ENGINES = ("torch", "onnxruntime", "openvino", "openvino-bf16")
RESULTS = Path(__file__).resolve().parent / "results"


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--channels", type=cli.positive_int, default=1024, help="hidden channels")
    p.add_argument("--widths", type=cli.widths, default=(3, 3, 3, 3, 3), help="filter widths (RF = product)")
    p.add_argument("--length", type=cli.positive_int, default=DEFAULT_LENGTH, help="input frames L (input 2xLx17x2)")
    p.add_argument("--repeat", type=cli.positive_int, default=5, help="timed runs per backend (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per backend first")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="threads for every engine (default: physical cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and input")
    p.add_argument("--weight-layouts", default=None,
                   help=f"comma-separated weight layouts for the ONNX engines, from {','.join(WEIGHT_LAYOUTS)} "
                        f"(default: vp3d_pth2onnx.py's default)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    p.add_argument("--gemm-size", type=cli.positive_int, default=4096, help="n of the n x n x n sgemm peak measurement")
    p.add_argument("--out", default=str(RESULTS), help="directory for the JSON and markdown results")
    return p


def random_checkpoint(config: ModelConfig, path: Path, seed: int) -> None:
    """Random weights (fixed seed) with non-trivial batch-norm statistics, saved as upstream run.py does."""
    torch.manual_seed(seed)
    model = randomize_batchnorm(TemporalModel(config), seed)
    checkpoint.save(path, model.eval())


class Sgemm:
    """An n x n x n float32 matrix product in numpy (its BLAS) or torch, shaped like a session so that
    it is timed in the same rounds as the backends: the fp32 GEMM peak under the same conditions."""

    def __init__(self, library: str, n: int):
        rng = np.random.default_rng(0)
        self.a, self.b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        if library == "torch":
            self.a, self.b = torch.from_numpy(self.a), torch.from_numpy(self.b)
        self.library, self.flops = library, 2 * n ** 3

    def run(self, x):
        return self.a @ self.b


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "physical_cores": devices.physical_cores(), "logical_cpus": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
        field = lambda name: next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.split(":")[0].strip() == name)
        info["cpu"] = f"{field('model name')} (family {field('cpu family')}, model {field('model')})"
        flags = set(next(l.split(":", 1)[1].split() for l in text.splitlines() if l.startswith("flags")))
        info["isa"] = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    versions = {"numpy": np.__version__, "torch": torch.__version__}
    for mod in ("onnxruntime", "openvino"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    info["versions"] = versions
    return info


def plan(engines: list[str], weight_layouts: list[str]) -> list[dict]:
    """The rows to time: (label, backend, device, precision, weight_layout)."""
    rows = []
    if "torch" in engines:
        rows.append(dict(label="PyTorch eager", engine="torch", device="cpu", precision="f32", weight_layout="conv1d"))
        if torch.cuda.is_available():
            rows.append(dict(label="PyTorch eager CUDA", engine="torch", device="cuda", precision="f32", weight_layout="conv1d"))
    for wl in weight_layouts:
        if "onnxruntime" in engines:
            rows.append(dict(label="ONNX Runtime", engine="onnxruntime", device="cpu", precision="f32",
                             weight_layout=wl))
            for dev in [d for d in devices.onnxruntime_devices() if d != "cpu"]:
                rows.append(dict(label=f"ONNX Runtime {dev}", engine="onnxruntime", device=dev, precision="f32", weight_layout=wl))
        if "openvino" in engines:
            rows.append(dict(label="OpenVINO", engine="openvino", device="cpu", precision="f32", weight_layout=wl))
        if "openvino-bf16" in engines:
            rows.append(dict(label="OpenVINO", engine="openvino", device="cpu", precision="bf16", weight_layout=wl))
    return rows


def open_row(row: dict, model_path: Path, args):
    """The session for a planned row, or the reason it is skipped (a string)."""
    if row["engine"] == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError:
            return "openvino is not installed"
        if row["precision"] == "bf16":
            ok, caps = backends.openvino_bf16_supported()
            if not ok:
                return f"this CPU has no bf16 (OpenVINO CPU capabilities: {caps})"
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a silent precision fallback would mislabel the row
        return backends.open_session(model_path, row["engine"], args.threads, row["device"], row["precision"],
                                    length=args.length if row["engine"] == "torch" else None)


def time_interleaved(sessions: list, x: np.ndarray, repeat: int, warmup: int) -> tuple[list[list[float]], list]:
    """Warm every session up, then `repeat` rounds of one timed run each (vp3d.pipeline.infer.time_runs), so that
    whatever else the machine does falls on all backends alike. Returns (times per session in ms,
    outputs per session)."""
    outputs = []
    for s in sessions:
        outputs.append(time_runs(s, x, 1, warmup)[1])
    times = [[] for _ in sessions]
    for r in range(repeat):
        for i, s in enumerate(sessions):
            t, _ = time_runs(s, x, 1)
            times[i] += t
        print(f"  round {r + 1}/{repeat}: " + ", ".join(f"{t[-1]:.0f}" for t in times) + " ms", flush=True)
    return times, outputs


def table(result: dict) -> str:
    rows = result["rows"]
    base = next((r["median_ms"] for r in rows if r["engine"] == "torch" and r["device"] == "cpu" and "median_ms" in r), None)
    lines = ["| backend | weight layout | precision | median ms | min ms | frames/s (2L) | GFLOP/s | % of sgemm peak "
             "| speed-up vs PyTorch | max rel. error |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = r["label"] + ("" if r["device"] == "cpu" or r["label"].endswith(r["device"]) else f" {r['device']}")
        if r.get("skipped"):
            lines.append(f"| {name} | {r['weight_layout']} | {r['precision']} | skipped: {r['skipped']} | | | | | | |")
            continue
        speedup = f"{base / r['median_ms']:.2f}x" if base else "n/a"
        ms = lambda v: f"{v:.0f}" if v >= 100 else f"{v:.2f}"
        lines.append(f"| {name} | {r['weight_layout']} | {r['precision']} | {ms(r['median_ms'])} | {ms(r['min_ms'])} "
                     f"| {r['frames_per_second']:,.0f} | {r['gflops']:.1f} | {100 * r['gemm_fraction']:.0f} % "
                     f"| {speedup} | {r['max_rel_error']:.2e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := sorted(set(engines) - set(ENGINES)):
        parser.error(f"--engines: unknown {unknown}; choose from {','.join(ENGINES)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if "torch" not in engines:
        parser.error("--engines must include torch: it is the baseline and the reference output")
    weight_layouts = [s.strip() for s in (args.weight_layouts or DEFAULT_WEIGHT_LAYOUT).split(",") if s.strip()]
    if bad := [s for s in weight_layouts if s not in WEIGHT_LAYOUTS]:
        parser.error(f"--weight-layouts: unknown {bad}; choose from {','.join(WEIGHT_LAYOUTS)}")
    config = ModelConfig(filter_widths=args.widths, channels=args.channels)
    if args.length < config.receptive_field:
        parser.error(f"--length {args.length} is shorter than the receptive field {config.receptive_field}")

    def body(a):
        threads = a.threads or devices.physical_cores()
        flops = count_flops(config, a.length, batch=2)
        result = {"date": datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                  "model": {"filter_widths": list(config.filter_widths), "channels": config.channels,
                            "length": a.length, "input_shape": [2, a.length, 17, 2], "flops": flops},
                  "settings": {"repeat": a.repeat, "warmup": a.warmup, "threads": threads, "seed": a.seed,
                               "export_opset": DEFAULT_OPSET, "default_weight_layout": DEFAULT_WEIGHT_LAYOUT},
                  "loadavg_start": list(os.getloadavg())}
        print(f"model {','.join(map(str, config.filter_widths))} x {config.channels} ch, input 2x{a.length}x17x2: "
              f"{flops / 1e9:.1f} GFLOP per inference; {threads} threads; {result['machine'].get('cpu')}", flush=True)
        with tempfile.TemporaryDirectory(prefix="vp3d_bench_") as tmp:
            tmp = Path(tmp)
            ckpt = tmp / "model.bin"
            random_checkpoint(config, ckpt, a.seed)
            onnx = {}
            for wl in weight_layouts:                    # vp3d_pth2onnx.py's export, its default opset
                onnx[wl] = tmp / f"vp3d_{wl}.onnx"
                export_onnx(checkpoint.load(ckpt, weight_layout=wl), onnx[wl], a.length, DEFAULT_OPSET)
            x = random_input((2, a.length, 17, 2), seed=a.seed)
            rows, sessions = [], []
            for row in plan(engines, weight_layouts):
                session = open_row(row, ckpt if row["engine"] == "torch" else onnx[row["weight_layout"]], a)
                if isinstance(session, str):
                    print(f"{row['label']} {row['precision']} {row['weight_layout']}: skipped: {session}", flush=True)
                    rows.append({**row, "skipped": session})
                else:
                    print(f"{row['label']} {row['weight_layout']}: {session.describe()}", flush=True)
                    rows.append(row)
                    sessions.append(session)
            timed = [r for r in rows if not r.get("skipped")]
            torch.set_num_threads(threads)
            probes = [Sgemm("numpy", a.gemm_size), Sgemm("torch", a.gemm_size)]
            times, outputs = time_interleaved(sessions + probes, x, a.repeat, a.warmup)
            gemm = {p.library: p.flops / float(np.median(t)) / 1e6 for p, t in zip(probes, times[len(sessions):])}
            print(f"sgemm {a.gemm_size}^3: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items()), flush=True)
            reference = outputs[0].astype(np.float64)             # PyTorch eager fp32 on the CPU: planned first
            for row, t, y in zip(timed, times, outputs):
                diff = np.abs(y.astype(np.float64) - reference)
                row.update(times_ms=t, median_ms=float(np.median(t)), min_ms=float(np.min(t)),
                           max_abs_error_m=float(diff.max()), max_rel_error=float(diff.max() / np.abs(reference).max()))
            del sessions
            gc.collect()
        peak = max(gemm.values())
        for r in rows:
            if "median_ms" in r:
                r["gflops"] = flops / r["median_ms"] / 1e6
                r["gemm_fraction"] = r["gflops"] / peak
                r["frames_per_second"] = 2 * a.length / r["median_ms"] * 1000
                r["useful_frames_per_second"] = (a.length - config.receptive_field + 1) / r["median_ms"] * 1000
        result.update(gemm={"n": a.gemm_size, "gflops": gemm, "peak_gflops": peak},
                      rows=rows, loadavg_end=list(os.getloadavg()))
        md = table(result)
        header = (f"{result['date']}, {result['machine'].get('cpu')} ({threads} threads; "
                  f"{' '.join(result['machine'].get('isa', []))}); model {','.join(map(str, config.filter_widths))} "
                  f"x {config.channels} ch, input 2x{a.length}x17x2, {flops / 1e9:.1f} GFLOP/inference; median of "
                  f"{a.repeat} after {a.warmup} warm-up; sgemm peak {peak:.1f} GFLOP/s; load average "
                  f"{result['loadavg_start'][0]:.1f} -> {result['loadavg_end'][0]:.1f}")
        print("\n" + header + "\n\n" + md)
        out = Path(a.out)
        stem = f"bench_backends_{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        write_json(out / f"{stem}.json", result)
        with atomic_path(out / f"{stem}.md") as t:
            t.write_text(header + "\n\n" + md + "\n")
        print(f"\nwrote {out / stem}.json and .md")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
