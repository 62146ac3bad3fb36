#!/usr/bin/env python3
"""Live streaming per frame: cached state (vp3d.stream, on each installed engine: engines.stream_layers) against
re-running the receptive-field window per frame (ONNX Runtime fp32, the flip pair (2, RF, J, 2) per call)
and offline whole-sequence lifting.

    python benchmarks/bench_stream.py                              # full model: 1024 ch, 3,3,3,3,3 (RF 243)
    python benchmarks/bench_stream.py --channels 256 --frames 100  # a quick look

A random-weight checkpoint with non-trivial batch norm (speed does not depend on training), exported with
vp3d_pth2onnx.py's defaults (dynamic time axis). The streaming pushes and the window runs are timed
one block after the other (ONNX Runtime's spinning threads would slow an interleaved stream); p50/p99 of the per-frame latency and frames/s
for 1 and --tracks tracks (one batch per frame), each engine in its own block, and each engine's largest
deviation from the numpy fp32 stream on the same frames (random weights: accuracy on a trained model is
bench_lookahead.py --engines). The machine, its CPU flags and the load average are printed with the
table (markdown and JSON to --out).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_backends import machine, random_checkpoint  # noqa: E402
from vp3d import cli  # noqa: E402
from vp3d.engines.backends import open_session  # noqa: E402
from vp3d.engines.stream_layers import ENGINES, available  # noqa: E402
from vp3d.facts.architecture import ModelConfig  # noqa: E402
from vp3d.io.files import atomic_path, write_json  # noqa: E402
from vp3d.lift import load_model  # noqa: E402
from vp3d.model import checkpoint  # noqa: E402
from vp3d.model.export import DEFAULT_WEIGHT_LAYOUT, export_onnx  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = ("onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16")   # the exported step graph on


def measure_steps(folded, tmp: Path, kind: str, rows: int, frames: int, rf: int, threads) -> dict:
    """The exported streaming step (rows = 2 x tracks) on `kind`: per-call times after RF warm-up calls,
    and the largest deviation (mm) of its outputs from the numpy stream's on the same random frames."""
    from vp3d.model.stream_export import StepSession, export_stream
    from vp3d.pipeline.stream import StatePool
    path = tmp / f"step{rows}.onnx"
    if not path.exists():
        export_stream(folded, path, rows)
    if kind.endswith("int8"):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantized = tmp / f"step{rows}.int8.onnx"
        if not quantized.exists():
            quantize_dynamic(path, quantized, weight_type=QuantType.QInt8, per_channel=True)
        path = quantized
    session, pool = StepSession(path, kind.removesuffix("-int8"), threads), StatePool(folded, rows)
    rng = np.random.default_rng(3)
    times, dev = [], 0.0
    for t in range(rf + frames):
        x = rng.uniform(-0.5, 0.5, (rows, folded.channels_in)).astype(np.float32)
        start = time.perf_counter()
        y = session.step(x)
        if t >= rf:
            times.append(time.perf_counter() - start)
        dev = max(dev, float(np.abs(y - pool.step(np.arange(rows), x)).max()) * 1e3)
    return {**stats(times, rows // 2), "dev_mm": dev}


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--widths", type=cli.widths, default=(3, 3, 3, 3, 3), help="filter widths")
    p.add_argument("--channels", type=cli.positive_int, default=1024)
    p.add_argument("--frames", type=cli.positive_int, default=300, help="timed frames per measurement")
    p.add_argument("--tracks", type=cli.positive_int, default=8, help="tracks of the batched measurement")
    p.add_argument("--offline-frames", type=cli.positive_int, default=2000, help="sequence length lifted offline")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="threads (default: physical cores)")
    p.add_argument("--engines", default=",".join(ENGINES), help="stream engines to time (those installed)")
    p.add_argument("--steps", default=",".join(STEPS), help="step-graph runs to time (vp3d_pth2onnx.py --stream)")
    p.add_argument("--checkpoint", default=None, help="time (and compare) this checkpoint's weights instead of random ones")
    p.add_argument("--out", default=str(RESULTS), help="directory for the JSON and markdown results")
    return p


def stats(times: list[float], frames_per_call: int) -> dict:
    t = np.asarray(times)
    return {"p50_ms": float(np.median(t) * 1e3), "p99_ms": float(np.percentile(t, 99) * 1e3),
            "frames_per_s": float(frames_per_call / np.mean(t))}


def measure(stream, window, rf: int, frames: int, tracks: int, seed: int = 0) -> tuple[list, list, np.ndarray]:
    """Per-frame times (s) of stream.push over `tracks` tracks, then of window.run (None: skipped): one after
    the other, not interleaved, since ONNX Runtime's worker threads spin for a while after each run and
    would take the cores from the stream's BLAS. Also returns track 0's poses (frames, 17, 3) of the timed pushes."""
    rng = np.random.default_rng(seed)
    walk = lambda n: np.cumsum(rng.normal(0, 0.003, (n, 17, 2)), axis=0).astype(np.float32) + \
        rng.uniform(-0.3, 0.3, (1, 17, 2)).astype(np.float32)
    seqs = [walk(frames + rf) for _ in range(tracks)]
    for t in range(rf):                                          # past the start: every push a full step
        stream.push({i: s[t] for i, s in enumerate(seqs)})
    push_times, window_times, poses = [], [], []
    pair = np.stack([seqs[0][:rf], seqs[0][:rf]])
    for t in range(rf, rf + frames):
        batch = {i: s[t] for i, s in enumerate(seqs)}
        start = time.perf_counter()
        out = stream.push(batch)
        push_times.append(time.perf_counter() - start)
        poses += [p for _, p in out[0]]
    for t in range(rf, rf + frames if window is not None else rf):
        if window is not None:
            pair = np.ascontiguousarray(np.concatenate([pair[:, 1:], pair[:, -1:]], axis=1))
            start = time.perf_counter()
            window.run(pair)
            window_times.append(time.perf_counter() - start)
    stream.flush_all()
    return push_times, window_times, np.stack(poses)


def table(report: dict) -> str:
    m, r = report["machine"], report["rows"]
    lines = [f"Machine: {m.get('cpu')}, {m['physical_cores']} cores, ISA {' '.join(m.get('isa', []))}; "
             f"load average before/after {report['load_before']} / {report['load_after']}; "
             f"model {report['model']}; stream state {report['state_mib']:.2f} MiB per track",
             "", "| path | tracks | p50 ms/frame | p99 ms/frame | frames/s | max dev. from numpy fp32 (mm) |",
             "|---|---|---|---|---|---|"]
    num = lambda v, f: "" if v is None else format(v, f)
    for row in r:
        lines.append(f"| {row['path']} | {row['tracks']} | {num(row.get('p50_ms'), '.2f')} | "
                     f"{num(row.get('p99_ms'), '.2f')} | {row['frames_per_s']:.0f} | {num(row.get('dev_mm'), '.3f')} |")
    s = {row["path"] + str(row["tracks"]): row for row in r}
    win = s["re-run RF window (ONNX Runtime fp32)1"]
    lines.append("")
    for engine in report["engines"]:
        one, many = s[f"stream ({engine})1"], s[f"stream ({engine}){report['tracks']}"]
        lines.append(f"- {engine}: p50 {win['p50_ms'] / one['p50_ms']:.1f}x below re-running the window; "
                     f"{report['tracks']} tracks {many['frames_per_s'] / one['frames_per_s']:.1f}x one track's frames/s")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        config = ModelConfig(filter_widths=a.widths, channels=a.channels)
        rf = config.receptive_field
        load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
        with tempfile.TemporaryDirectory() as tmp:
            ckpt, onnx = Path(a.checkpoint or Path(tmp) / "model.bin"), Path(tmp) / "model.onnx"
            if a.checkpoint is None:
                random_checkpoint(config, ckpt, seed=0)
            model = checkpoint.load(ckpt, weight_layout=DEFAULT_WEIGHT_LAYOUT)
            config, rf = model.config, model.config.receptive_field
            export_onnx(model, onnx, None)
            lifter = load_model(onnx, threads=a.threads)
            engines = [e for e in a.engines.split(",") if e in ENGINES and available(e)]
            streams = {e: lifter.stream(normalized=True, engine=e, threads=a.threads) for e in engines}
            window = open_session(onnx, "onnxruntime", a.threads)
            rows, reference = [], None
            for e in engines:
                push, win, poses = measure(streams[e], window if e == engines[0] else None, rf, a.frames, 1)
                reference = poses if reference is None else reference
                rows.append({"path": f"stream ({e})", "tracks": 1, **stats(push, 1),
                             "dev_mm": float(np.abs(poses - reference).max() * 1e3)})
                if win:
                    rows.append({"path": "re-run RF window (ONNX Runtime fp32)", "tracks": 1, **stats(win, 1)})
            push, _, _ = measure(lifter.stream(normalized=True, lookahead=0, engine=engines[0], threads=a.threads),
                                 None, rf, a.frames, 1)
            rows.append({"path": f"stream ({engines[0]}), lookahead 0", "tracks": 1, **stats(push, 1)})
            for e in engines:
                push, _, _ = measure(streams[e], None, rf, a.frames, a.tracks, seed=1)
                rows.append({"path": f"stream ({e})", "tracks": a.tracks, **stats(push, a.tracks)})
            stream = streams[engines[0]]
            from vp3d.model.folded import from_torch
            folded = from_torch(model)
            for kind in [k for k in a.steps.split(",") if k in STEPS and available(k.removesuffix("-int8"))]:
                for tracks in (1, a.tracks):
                    rows.append({"path": f"step graph ({kind})", "tracks": tracks,
                                 **measure_steps(folded, Path(tmp), kind, 2 * tracks, a.frames, rf, a.threads)})
            seq = np.random.default_rng(2).uniform(-0.5, 0.5, (a.offline_frames, 17, 2)).astype(np.float32)
            lifter.lift(seq[:rf], normalized=True)                                   # warm-up
            start = time.perf_counter()
            lifter.lift(seq, normalized=True)
            rows.append({"path": f"offline lift() of {a.offline_frames} frames (ONNX Runtime fp32)", "tracks": 1,
                         "frames_per_s": a.offline_frames / (time.perf_counter() - start)})
        report = {"date": datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                  "model": f"{config.widths_text}, {config.channels} channels, RF {rf}"
                           f"{', ' + str(a.checkpoint) if a.checkpoint else ', random weights'}", "tracks": a.tracks,
                  "engines": engines,
                  "state_mib": stream.state_bytes() / 2 ** 20, "load_before": load_before,
                  "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg()), "rows": rows}
        text = table(report)
        print(text)
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "bench_stream.json", report)
        with atomic_path(out / "bench_stream.md") as tmp:
            Path(tmp).write_text(text + "\n")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
