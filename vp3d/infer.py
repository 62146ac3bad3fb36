"""Stage 3 anywhere: run a model over a directory of .bin inputs, laid out exactly as ais_bench does,
or on random data of the model's input shape (ais_bench's pure-inference mode).

OUTPUT/<%Y_%m_%d-%H_%M_%S or --output_dirname>/<input stem>_0.<bin|npy|txt>, and
OUTPUT/<dirname>_summary.json with ais_bench's timing keys (milliseconds). In pure-inference mode
the one output file is <dirname>/pure_infer_data_0.<ext>, as ais_bench names it.
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
PURE_INFER_STEM = "pure_infer_data"


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


def file_shape(path: str | Path, shape: tuple) -> tuple[int, ...]:
    """`shape` with its one unknown (None) axis, the length L, read off the file's size."""
    if None not in shape:
        return tuple(shape)
    path = Path(path)
    if path.suffix == ".npy":
        try:
            count = int(np.load(path, mmap_mode="r", allow_pickle=False).size)
        except (ValueError, OSError) as e:
            raise Vp3dError(f"{path}: not a readable .npy file ({e})") from None
    else:
        size = path.stat().st_size
        count = size // 4 if size % 4 == 0 else -1
    known = int(np.prod([d for d in shape if d is not None]))
    pattern = "x".join("L" if d is None else str(d) for d in shape)
    if count <= 0 or count % known:
        raise Vp3dError(f"{path}: {path.stat().st_size} bytes, expected a float32 array of shape {pattern} "
                        f"(a multiple of {known * 4} bytes)")
    return tuple(count // known if d is None else d for d in shape)


def time_runs(session: Session, x: np.ndarray, loop: int, warmup: int = 0) -> tuple[list[float], np.ndarray]:
    """`warmup` untimed runs, then `loop` timed ones; returns (per-run times in ms, last output)."""
    for _ in range(warmup):
        session.run(x)
    times, y = [], None
    for _ in range(loop):
        t0 = time.perf_counter()
        y = session.run(x)
        times.append((time.perf_counter() - t0) * 1000)
    return times, y


def random_input(shape: tuple, length: int | None = None, seed: int = 0) -> np.ndarray:
    """Uniform(-1, 1) float32 data of `shape` (normalised screen coordinates); an unknown L is `length`."""
    if None in shape and length is None:
        raise Vp3dError(f"the model takes any input length; give one (--length) for random input")
    shape = tuple(length if d is None else d for d in shape)
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def output_shape_for(session: Session, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape (2, L - RF + 1, J, 3) for an input of `input_shape` (2, L, J, 2)."""
    if None not in session.output_shape:
        return tuple(session.output_shape)
    rf = session.receptive_field
    return (input_shape[0], input_shape[1] - rf + 1, *session.output_shape[2:])


def is_complete(path: Path, shape: tuple[int, ...]) -> bool:
    """An output file that exists and holds a whole array of `shape`."""
    if not path.is_file():
        return False
    try:
        read_array(path, shape)
        return True
    except Vp3dError:
        return False


def infer_directory(session: Session, input_dir: str | Path, output_root: str | Path | None,
                    output_dirname: str | None = None, outfmt: str = "BIN", loop: int = 1,
                    warmup: int = 1, progress=None, force: bool = False,
                    resume: bool = False) -> tuple[Path | None, dict]:
    """Run every input file `loop` times (after `warmup` untimed runs on the first); write outputs.

    Returns (output directory, summary dict); with output_root None nothing is written and the
    directory is None. Every input must match the model's input shape. An existing, non-empty
    output directory is refused unless `force` (overwrite) or `resume` (skip inputs whose outputs
    are complete, redo the rest); the summary's 'skipped' counts the inputs skipped.
    """
    files = list_inputs(input_dir)
    out_dir = _output_dir(output_root, output_dirname, force or resume)
    times, filesinfo, frames_in, frames_out, skipped = [], {}, [], [], 0
    if resume and out_dir is not None:
        todo = []
        for f in files:
            out = out_dir / f"{f.stem}_0.{OUTFMT_EXT[outfmt]}"
            if is_complete(out, output_shape_for(session, file_shape(f, session.input_shape))):
                skipped += 1
            else:
                todo.append(f)
        files = todo
    if not files:
        return out_dir, {"skipped": skipped}
    if warmup:
        time_runs(session, read_array(files[0], file_shape(files[0], session.input_shape)), 0, warmup)
    for i, f in enumerate(progress(files) if progress else files):
        x = read_array(f, file_shape(f, session.input_shape))
        t, y = time_runs(session, x, loop)
        times += t
        frames_in += [x.shape[0] * x.shape[1]] * loop
        frames_out += [y.shape[1]] * loop
        info = {"infiles": [str(f)], "outfiles": []}
        if out_dir is not None:
            out = out_dir / f"{f.stem}_0.{OUTFMT_EXT[outfmt]}"
            write_array(out, y, outfmt)
            info["outfiles"] = [str(out)]
        filesinfo[str(i)] = info
    summary = summary_dict(times, 1, float(np.mean(frames_in)), float(np.mean(frames_out)))
    summary.update(backend=session.backend, device=session.device)
    summary["filesinfo"] = filesinfo
    summary["skipped"] = skipped
    _write_summary(out_dir, summary)
    return out_dir, summary


def infer_random(session: Session, loop: int = 1, warmup: int = 1, output_root: str | Path | None = None,
                 output_dirname: str | None = None, outfmt: str = "BIN", length: int | None = None,
                 seed: int = 0, force: bool = False) -> tuple[Path | None, dict]:
    """ais_bench's pure-inference mode: `loop` timed runs on random data of the model's input shape
    (L = `length` where the model takes any). Writes the last output and the summary when
    `output_root` is given. Returns (output directory or None, summary dict)."""
    x = random_input(session.input_shape, length, seed)
    times, y = time_runs(session, x, loop, warmup)
    out_dir = _output_dir(output_root, output_dirname, force)
    summary = summary_dict(times, 1, x.shape[0] * x.shape[1], y.shape[1])
    summary.update(backend=session.backend, device=session.device)
    info = {"infiles": [PURE_INFER_STEM], "outfiles": []}
    if out_dir is not None:
        out = out_dir / f"{PURE_INFER_STEM}_0.{OUTFMT_EXT[outfmt]}"
        write_array(out, y, outfmt)
        info["outfiles"] = [str(out)]
    summary["filesinfo"] = {"0": info}
    _write_summary(out_dir, summary)
    return out_dir, summary


def _output_dir(output_root, output_dirname, reuse: bool = False) -> Path | None:
    """OUTPUT/<dirname or start time>, created; an existing non-empty one only when `reuse`."""
    if output_root is None:
        return None
    out_dir = Path(output_root) / (output_dirname or datetime.now().strftime("%Y_%m_%d-%H_%M_%S"))
    if out_dir.is_dir() and any(out_dir.iterdir()) and not reuse:
        raise Vp3dError(f"{out_dir}: output directory is not empty (use --resume to finish an "
                        f"interrupted run, --force to overwrite)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _write_summary(out_dir: Path | None, summary: dict) -> None:
    if out_dir is not None:
        write_json(out_dir.parent / f"{out_dir.name}_summary.json", summary)


def summary_dict(times_ms: list[float], batchsize: int = 1, frames_in: float | None = None,
                 frames_out: float | None = None) -> dict:
    """The timing summary (ms; throughput in inferences/s, as ais_bench computes it), plus, given the
    input frames per inference (N*L = 2*L: the sequence and its mirror) and the useful output frames
    per inference (L - RF + 1: one prediction per frame), the Ascend recipe's frames/s
    N*L/mean_ms*1000 and useful frames/s.

    Of ais_bench's own keys only those true of any device are kept (throughput, and filesinfo added
    by the callers); its NPU_compute_time / npu_compute_time_list would claim an NPU that this run
    did not use, so the times are under compute_time / compute_time_list, and the callers add the
    backend and device that ran."""
    stats = timing_stats(times_ms)
    summary = {"compute_time": stats, "throughput": 1000 * batchsize / stats["mean"],
               "compute_time_list": list(times_ms)}
    if frames_in is not None:
        summary["frames_per_second"] = frames_in / stats["mean"] * 1000
    if frames_out is not None:
        summary["useful_frames_per_second"] = frames_out / stats["mean"] * 1000
    return summary


def summary_lines(summary: dict, batchsize: int = 1) -> list[str]:
    """ais_bench's Performance Summary lines, in its format and units, plus the frame rates."""
    t = summary["compute_time"]
    lines = ["[INFO] -----------------Performance Summary------------------",
             f"[INFO] compute_time (ms): min = {t['min']:.4f}, max = {t['max']:.4f}, mean = {t['mean']:.4f}, "
             f"median = {t['median']:.4f}, percentile(99%) = {t['percentile(99%)']:.4f}",
             f"[INFO] throughput 1000*batchsize.mean({batchsize})/compute_time.mean({t['mean']:.4f}): "
             f"{summary['throughput']:.4f}"]
    if "frames_per_second" in summary:
        lines.append(f"[INFO] frames/s (N*L/compute_time.mean*1000, the Ascend recipe's figure): "
                     f"{summary['frames_per_second']:.1f}")
    if "useful_frames_per_second" in summary:
        lines.append(f"[INFO] useful output frames/s ((L-RF+1)/compute_time.mean*1000): "
                     f"{summary['useful_frames_per_second']:.1f}")
    lines.append("[INFO] ------------------------------------------------------")
    return lines
