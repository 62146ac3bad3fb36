"""Stage 3 anywhere: run a model over a directory of .bin inputs, laid out exactly as ais_bench does.

OUTPUT/<%Y_%m_%d-%H_%M_%S or --output_dirname>/<input stem>_0.<bin|npy|txt>, and
OUTPUT/<dirname>_summary.json with ais_bench's timing keys (milliseconds).
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np

from . import Vp3dError
from .fileio import read_array, write_array, write_json
from .runtime import Session

OUTFMT_EXT = {"BIN": "bin", "NPY": "npy", "TXT": "txt"}


def timing_stats(times_ms: list[float]) -> dict[str, float]:
    """ais_bench's summary statistics of per-inference times (ms)."""
    t = np.asarray(times_ms, dtype=np.float64)
    return {"min": float(t.min()), "max": float(t.max()), "mean": float(t.mean()),
            "median": float(np.median(t)), "percentile(99%)": float(np.percentile(t, 99))}


def list_inputs(input_dir: str | Path) -> list[Path]:
    d = Path(input_dir)
    if not d.is_dir():
        raise Vp3dError(f"{d}: no such input directory")
    files = sorted(p for p in d.iterdir() if p.suffix in (".bin", ".npy") and p.is_file())
    if not files:
        raise Vp3dError(f"{d}: no .bin or .npy input files")
    return files


def infer_directory(session: Session, input_dir: str | Path, output_root: str | Path,
                    output_dirname: str | None = None, outfmt: str = "BIN", loop: int = 1,
                    warmup: int = 1, progress=None) -> tuple[Path, dict]:
    """Run every input file `loop` times (after `warmup` untimed runs on the first); write outputs.

    Returns (output directory, summary dict). Every input must match the model's input shape.
    """
    files = list_inputs(input_dir)
    shape = tuple(session.input_shape)
    dirname = output_dirname or datetime.now().strftime("%Y_%m_%d-%H_%M_%S")
    out_dir = Path(output_root) / dirname
    out_dir.mkdir(parents=True, exist_ok=True)
    times, filesinfo = [], {}
    for k in range(warmup):
        session.run(read_array(files[0], shape))
    for i, f in enumerate(progress(files) if progress else files):
        x = read_array(f, shape)
        for _ in range(loop):
            t0 = time.perf_counter()
            y = session.run(x)
            times.append((time.perf_counter() - t0) * 1000)
        out = out_dir / f"{f.stem}_0.{OUTFMT_EXT[outfmt]}"
        write_array(out, y, outfmt)
        filesinfo[str(i)] = {"infiles": [str(f)], "outfiles": [str(out)]}
    summary = summary_dict(times, batchsize=1)
    summary["filesinfo"] = filesinfo
    write_json(Path(output_root) / f"{dirname}_summary.json", summary)
    return out_dir, summary


def summary_dict(times_ms: list[float], batchsize: int = 1) -> dict:
    stats = timing_stats(times_ms)
    return {"NPU_compute_time": stats, "compute_time": stats,
            "throughput": 1000 * batchsize / stats["mean"], "npu_compute_time_list": list(times_ms)}
