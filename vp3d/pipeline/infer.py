"""Stage 3 anywhere: run a model over a directory of .bin inputs, laid out exactly as ais_bench does,
or on random data of the model's input shape (ais_bench's pure-inference mode).

OUTPUT/<%Y_%m_%d-%H_%M_%S or --output_dirname>/<input stem>_0.<bin|npy|txt>, and
OUTPUT/<dirname>_summary.json with ais_bench's timing keys (milliseconds) and the model's facts. In
pure-inference mode the one output file is <dirname>/pure_infer_data_0.<ext>, as ais_bench names it.

Inputs may differ in length (own-length or bucketed preprocessing): each input's shape comes from the
manifest beside its folder (checked against the file's size), or from the size alone; each runs on the
session that takes its length (several static models: one per bucket; or one with a dynamic time axis).
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import causal_kind
from vp3d.engines.backends import Session
from vp3d.io.files import file_shape, list_inputs, read_array, write_array, write_json
from vp3d.pipeline.predict import DEFAULT_CHUNK, run_windows
from vp3d.pipeline.sequences import INPUTS_DIR, MANIFEST, Manifest

OUTFMT_EXT = {"BIN": "bin", "NPY": "npy", "TXT": "txt"}
PURE_INFER_STEM = "pure_infer_data"


def timing_stats(times_ms: list[float]) -> dict[str, float]:
    """ais_bench's summary statistics of per-inference times (ms)."""
    t = np.asarray(times_ms, dtype=np.float64)
    return {"min": float(t.min()), "max": float(t.max()), "mean": float(t.mean()),
            "median": float(np.median(t)), "percentile(99%)": float(np.percentile(t, 99))}


def time_runs(session: Session, x: np.ndarray, loop: int, warmup: int = 0,
              chunk: int | None = None) -> tuple[list[float], np.ndarray]:
    """`warmup` untimed runs, then `loop` timed ones; returns (per-run times in ms, last output).
    A model taking any length runs inputs longer than `chunk` output frames in overlapping windows
    (predict.run_windows: the same result, memory bounded by the chunk)."""
    run = session.run
    if chunk and session.length is None and session.receptive_field:
        run = lambda a: run_windows(session.run, a, session.receptive_field, chunk)
    for _ in range(warmup):
        run(x)
    times, y = [], None
    for _ in range(loop):
        t0 = time.perf_counter()
        y = run(x)
        times.append((time.perf_counter() - t0) * 1000)
    return times, y


def random_input(shape: tuple, length: int | None = None, seed: int = 0) -> np.ndarray:
    """Uniform(-1, 1) float32 data of `shape` (normalised screen coordinates); an unknown L is `length`."""
    if None in shape and length is None:
        raise Vp3dError("the model takes any input length; give one (--length) for random input")
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


def find_manifest(input_dir: str | Path) -> tuple[Path, Manifest] | None:
    """(preprocess folder, its manifest) when `input_dir` is the inputs/ folder of a vp3d_preprocess.py
    output; None for a plain folder of input files."""
    d = Path(input_dir)
    if d.name == INPUTS_DIR and (d.parent / MANIFEST).is_file():
        return d.parent, Manifest.read(d.parent)
    return None


def check_model(session: Session, model: str | Path, manifest: Manifest, prep_dir: str | Path) -> None:
    """Refuse a model that does not fit the inputs vp3d_preprocess.py prepared, naming both sides and
    what to redo: receptive field, causality, keypoint symmetry, keypoints in, the dataset's joints out."""
    c, inputs = session.config, f"inputs in {prep_dir} were prepared for"
    rf = session.receptive_field
    if rf is not None and rf != manifest.receptive_field:
        arc = f"-arc {c.widths_text}" if c else f"the model's -arc (receptive field {rf})"
        raise Vp3dError(f"{model}: model receptive field {rf}, {inputs} {manifest.receptive_field} "
                        f"— re-run vp3d_preprocess.py with {arc}")
    if c is not None and c.causal != manifest.causal:
        raise Vp3dError(f"{model}: {causal_kind(c.causal)} model, {inputs} {causal_kind(manifest.causal)} one — re-run "
                        f"vp3d_preprocess.py {'with' if c.causal else 'without'} --causal")
    if c is not None and c.symmetry is not None and c.symmetry != manifest.keypoint_symmetry:
        raise Vp3dError(f"{model}: model trained on keypoints with left/right {c.symmetry.to_json()}, {inputs} "
                        f"'{manifest.keypoints}' with {manifest.keypoint_symmetry.to_json()} — another keypoint "
                        f"layout; re-run vp3d_preprocess.py with the model's -k")
    joints = session.input_shape[2] if session.input_shape else None
    if joints is not None and joints != manifest.num_keypoints:
        raise Vp3dError(f"{model}: model takes {joints} keypoints, {inputs} {manifest.num_keypoints} "
                        f"('{manifest.keypoints}') — re-run vp3d_preprocess.py with the model's -k")
    joints_out = session.output_shape[2] if session.output_shape else None
    dataset = c.dataset if c is not None else None
    if (joints_out is not None and joints_out != manifest.num_joints) or (dataset and dataset != manifest.dataset):
        raise Vp3dError(f"{model}: model gives {joints_out} joints{f' ({dataset})' if dataset else ''}, {inputs} "
                        f"{manifest.dataset}'s {manifest.num_joints} — re-run vp3d_preprocess.py with the model's --dataset")


def pick_session(sessions: list[Session], shape: tuple[int, ...], path: Path) -> Session:
    """The session whose input length is `shape`'s L: a static model of that length, else one with a
    dynamic time axis. Vp3dError naming the file and both lengths otherwise."""
    for s in sorted(sessions, key=lambda s: s.length is None):
        if s.length in (shape[1], None):
            return s
    takes = ", ".join(str(s.length) for s in sessions)
    raise Vp3dError(f"{path}: input of L = {shape[1]} frames, but the model{'s take' if len(sessions) > 1 else ' takes'} "
                    f"L = {takes} — export one with --length {shape[1]} (or --dynamic), or re-run "
                    f"vp3d_preprocess.py with --max-length {takes}")


def input_shapes(files: list[Path], sessions: list[Session], found: tuple[Path, Manifest] | None) -> dict[Path, tuple]:
    """Each input file's shape (2, L, J, 2): from the manifest where there is one (read_array checks it
    against the file's size), else from the size and the model's shape."""
    if found is None:
        shape = sessions[0].input_shape if len({s.length for s in sessions}) == 1 else (2, None, *sessions[0].input_shape[2:])
        return {f: file_shape(f, shape) for f in files}
    prep_dir, manifest = found
    entries = {e.name: e for e in manifest.entries}
    unknown = [f for f in files if f.stem not in entries]
    if unknown:
        raise Vp3dError(f"{unknown[0]}: not an input of {prep_dir / MANIFEST} (a file left from another run?)")
    return {f: manifest.input_shape(entries[f.stem]) for f in files}


def model_facts(sessions: list[Session], model: str | Path | list) -> dict:
    """What the summary records of the model(s), for postprocess to check against the inputs."""
    s = sessions[0]
    return {"model": [str(m) for m in model] if isinstance(model, list) else str(model),
            "backend": s.backend, "device": s.device, "precision": s.precision, "receptive_field": s.receptive_field,
            "causal": s.config.causal if s.config else None,
            "lengths": [x.length for x in sessions], "model_args": s.config.to_json() if s.config else None}


def infer_directory(sessions: Session | list[Session], input_dir: str | Path, output_root: str | Path | None,
                    output_dirname: str | None = None, outfmt: str = "BIN", loop: int = 1,
                    warmup: int = 1, progress=None, force: bool = False,
                    resume: bool = False, model: str | Path | list = "model",
                    chunk: int | None = DEFAULT_CHUNK) -> tuple[Path | None, dict]:
    """Run every input file `loop` times (after `warmup` untimed runs per session); write outputs.

    Returns (output directory, summary dict); with output_root None nothing is written and the
    directory is None. Each input runs on the session of its length (pick_session). When `input_dir`
    is a preprocess folder's inputs/, its manifest gives the shapes and the models are checked against
    it first (check_model). An existing, non-empty output directory is refused unless `force`
    (overwrite) or `resume` (skip inputs whose outputs are complete, redo the rest); the summary's
    'skipped' counts the inputs skipped. `chunk`: see time_runs.
    """
    sessions = sessions if isinstance(sessions, list) else [sessions]
    files = list_inputs(input_dir)
    found = find_manifest(input_dir)
    if found is not None:
        for s in sessions:
            check_model(s, model, found[1], found[0])
    shapes = input_shapes(files, sessions, found)
    route = {f: pick_session(sessions, shapes[f], f) for f in files}
    useful = {e.name: e.frames for e in found[1].entries} if found else {}
    out_dir = _output_dir(output_root, output_dirname, force or resume)
    times, filesinfo, frames_in, frames_out, skipped = [], {}, [], [], 0
    output_path = lambda f: out_dir / f"{f.stem}_0.{OUTFMT_EXT[outfmt]}"
    if resume and out_dir is not None:
        done = [f for f in files if is_complete(output_path(f), output_shape_for(route[f], shapes[f]))]
        skipped, files = len(done), [f for f in files if f not in done]
    if not files:
        return out_dir, {"skipped": skipped}
    if warmup:
        for s in dict.fromkeys(route[f] for f in files):
            first = next(f for f in files if route[f] is s)
            time_runs(s, read_array(first, shapes[first]), 0, warmup, chunk)
    for i, f in enumerate(progress(files) if progress else files):
        x = read_array(f, shapes[f])
        t, y = time_runs(route[f], x, loop, chunk=chunk)
        times += t
        frames_in += [x.shape[0] * x.shape[1]] * loop
        frames_out += [useful.get(f.stem, y.shape[1])] * loop
        info = {"infiles": [str(f)], "outfiles": []}
        if out_dir is not None:
            write_array(output_path(f), y, outfmt)
            info["outfiles"] = [str(output_path(f))]
        filesinfo[str(i)] = info
    summary = summary_dict(times, 1, frames_in, frames_out) | model_facts(sessions, model)
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


def summary_dict(times_ms: list[float], batchsize: int = 1, frames_in: list[int] | int | None = None,
                 frames_out: list[int] | int | None = None) -> dict:
    """The timing summary (ms; throughput in inferences/s, as ais_bench computes it), plus frame rates
    given, per timed inference, the input frames (N*L = 2*L: the sequence and its mirror) and the useful
    output frames (the sequence's own T where known, else L - RF + 1): frames_per_second =
    sum(2 L) / sum(ms) * 1000, which for one fixed L is the Ascend recipe's 2*L/mean_ms*1000, and
    useful_frames_per_second.

    Of ais_bench's own keys only those true of any device are kept (throughput, and filesinfo added
    by the callers); its NPU_compute_time / npu_compute_time_list would claim an NPU that this run
    did not use, so the times are under compute_time / compute_time_list, and the callers add the
    backend and device that ran."""
    stats = timing_stats(times_ms)
    summary = {"compute_time": stats, "throughput": 1000 * batchsize / stats["mean"],
               "compute_time_list": list(times_ms)}
    total_s = float(np.sum(times_ms)) / 1000
    per_run = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), (len(times_ms),)).sum()
    if frames_in is not None:
        summary["frames_per_second"] = float(per_run(frames_in) / total_s)
    if frames_out is not None:
        summary["useful_frames_per_second"] = float(per_run(frames_out) / total_s)
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
        lines.append(f"[INFO] frames/s (N*L/compute_time*1000, the Ascend ModelZoo recipe's figure): "
                     f"{summary['frames_per_second']:.1f}")
    if "useful_frames_per_second" in summary:
        lines.append(f"[INFO] useful frames/s (one 3D pose per input frame, padding excluded): "
                     f"{summary['useful_frames_per_second']:.1f}")
    lines.append("[INFO] ------------------------------------------------------")
    return lines
