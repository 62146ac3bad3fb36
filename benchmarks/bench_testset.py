#!/usr/bin/env python3
"""The inference stage over a test set with Human3.6M's real length distribution, flow against flow.

    python benchmarks/bench_testset.py                       # camera 0 of every test sequence (59 inputs)
    python benchmarks/bench_testset.py --cameras 4           # the whole test set (236 inputs)
    python benchmarks/bench_testset.py --flows fixed,own --channels 256 --cameras 1   # a quick look

Synthetic S9/S11 data with the real sequence lengths (vp3d/data/h36m_test_lengths.tsv: mean 2302
frames, longest 5873) goes through the library's own stages: preprocess (fixed, own or bucketed
lengths), export (static, dynamic, one static model per bucket), optional quantization
(vp3d_quantize.py), then every input of the chosen cameras is run once per round on each flow, the
flows taking turns (a busy neighbour slows all alike); the median round is reported. What a deployment
does once ahead (OpenVINO's one-off preparation of each input length, one warm-up run per model) is
timed apart ('prepare s'), as ATC's compilation is. Flows:

    fixed     the Ascend recipe: every input padded to 6115 frames, one static model, ONNX Runtime f32
    own       every sequence at its own length (T + RF - 1), a dynamic-axis model, ONNX Runtime f32
    buckets   the smallest of 4 lengths that fits (chosen to compute the fewest frames), a static model each
    own-bf16  own lengths, OpenVINO with bf16 inference precision (CPUs with AVX512-BF16 or AMX)
    own-int8  own lengths, vp3d_quantize.py's int8 model (its defaults: calibrated on 32 of the own-length
              inputs, what stays fp32 chosen by its check against fp32), ONNX Runtime
    own-int8-ov  the same int8 file on OpenVINO, the parts left fp32 run in bf16 (CPUs with bf16)

Accuracy per flow: MPJPE etc. of the un-flipped predictions against the ground truth, as
vp3d_postprocess.py computes them, on the trained full-size model when it is there
(../shared/reference/trained/full243_synthetic.bin or --model), else on random weights (then only the
differences between flows mean anything). Reports wall time, useful frames/s (one 3D pose per input
frame), the recipe's frames/s (2*L/time), speed-up and MPJPE change against `fixed`, with the machine's
CPU, its flags and the library versions; JSON and markdown to --out.
"""
from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_backends import machine  # noqa: E402
from vp3d.model import checkpoint  # noqa: E402
from vp3d import cli
from vp3d.engines.backends import open_session  # noqa: E402
from vp3d.facts.datasets import h36m_test_lengths  # noqa: E402
from vp3d.pipeline.evaluation import ActionErrors  # noqa: E402
from vp3d.model.export import DEFAULT_WEIGHT_LAYOUT, export_onnx  # noqa: E402
from vp3d.io.files import atomic_path, read_array, write_json  # noqa: E402
from vp3d.pipeline.infer import pick_session, time_runs  # noqa: E402
from vp3d.facts.architecture import ModelConfig  # noqa: E402
from vp3d.model.temporal import TemporalModel, randomize_batchnorm  # noqa: E402
from vp3d.pipeline.preprocess import preprocess  # noqa: E402
from vp3d.pipeline.sequences import DEFAULT_LENGTH, best_buckets, GROUND_TRUTHS_DIR, INPUTS_DIR, Manifest, unflip_average  # noqa: E402
from vp3d.training.synthetic import generate, save_dataset  # noqa: E402

FLOWS = ("fixed", "own", "buckets", "own-bf16", "own-int8", "own-int8-ov")
TRAINED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "trained" / "full243_synthetic.bin"
RESULTS = Path(__file__).resolve().parent / "results"


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default=None,
                   help=f"checkpoint, or 'random' (default: {TRAINED.name} where present, else random weights)")
    p.add_argument("--channels", type=cli.positive_int, default=1024, help="channels of the random model")
    p.add_argument("--flows", default=",".join(FLOWS), help="comma-separated subset of " + ",".join(FLOWS))
    p.add_argument("--cameras", type=int, choices=(1, 2, 3, 4), default=1,
                   help="inputs of the first N cameras of every sequence (1: 59 inputs with the real lengths)")
    p.add_argument("--rounds", type=cli.positive_int, default=1, help="timed passes over the inputs per flow")
    p.add_argument("--buckets", type=cli.lengths, default=None,
                   help="bucket lengths (default: the 4 that compute the fewest frames, sequences.best_buckets)")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="threads (default: physical cores)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic data")
    p.add_argument("--work", default=None, help="keep the data, inputs and models here (default: a temporary folder)")
    p.add_argument("--out", default=str(RESULTS), help="directory for the JSON and markdown results")
    return p


def prepare(flow: str, work: Path, ckpt: Path, buckets: list[int] | None, quantize_from: Path | None):
    """(preprocess folder, model files, backend, precision) of one flow; built once, reused."""
    lengths = {"fixed": [DEFAULT_LENGTH], "buckets": buckets}.get(flow, [])
    prep = work / f"prep_{flow.split('-')[0]}"
    if not (prep / "manifest.json").is_file() or Manifest.read(prep).lengths != sorted(lengths):
        preprocess(work / "data", prep, ["S9", "S11"], filter_widths=checkpoint.load(ckpt).config.filter_widths,
                   lengths=lengths, force=True)
    # loaded where an export needs it
    model = functools.cache(lambda: checkpoint.load(ckpt, weight_layout=DEFAULT_WEIGHT_LAYOUT))
    if flow.startswith("own-int8"):
        import vp3d_quantize
        out = work / "own_int8.onnx"
        if not out.is_file():
            rc = vp3d_quantize.main(["--model", str(quantize_from), "--calibration", str(prep), "-o", str(out)])
            if rc:
                raise SystemExit(f"vp3d_quantize.py failed ({rc})")
        return prep, [out], *(("openvino", "bf16") if flow == "own-int8-ov" else ("onnxruntime", "f32"))
    if flow == "buckets":
        files = [work / f"buckets_L{n}.onnx" for n in buckets]
        for f, n in zip(files, buckets):
            if not f.is_file():
                export_onnx(model(), f, n)
        return prep, files, "onnxruntime", "f32"
    f = work / ("fixed.onnx" if flow == "fixed" else "own.onnx")
    if not f.is_file():
        export_onnx(model(), f, DEFAULT_LENGTH if flow == "fixed" else None)
    return prep, [f], ("openvino" if flow == "own-bf16" else "onnxruntime"), ("bf16" if flow == "own-bf16" else "f32")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    flows = [f.strip() for f in args.flows.split(",") if f.strip()]
    unknown = sorted(set(flows) - set(FLOWS))
    if unknown or not flows:
        parser.error(f"unknown flows {unknown}; choose from {', '.join(FLOWS)}")

    def body(a):
        tmp = None if a.work else tempfile.TemporaryDirectory(prefix="vp3d_bench_testset_")
        work = Path(a.work or tmp.name)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "data" / "data_3d_h36m.npz").is_file():
            pos3d, pos2d = generate(subjects=("S9", "S11"), lengths="real", seed=a.seed)
            save_dataset(work / "data", pos3d, pos2d)
        random = a.model == "random" or (a.model is None and not TRAINED.is_file())
        ckpt = work / f"random{a.channels}.bin" if random else Path(a.model or TRAINED)
        trained = not random
        if random and not ckpt.is_file():
            torch.manual_seed(0)
            checkpoint.save(ckpt, randomize_batchnorm(TemporalModel(ModelConfig(channels=a.channels))).eval())
        rf = checkpoint.load(ckpt).config.receptive_field
        lengths = [n + rf - 1 for takes in h36m_test_lengths().values() for n in takes.values()]
        buckets = a.buckets or best_buckets(lengths, 4)
        print(f"model {ckpt} ({'trained' if trained else 'random weights'}), receptive field {rf}; buckets {buckets}")
        built = {}
        for flow in flows:
            t0 = time.perf_counter()
            quantize_from = prepare("own", work, ckpt, buckets, None)[1][0] if flow.startswith("own-int8") else None
            built[flow] = prepare(flow, work, ckpt, buckets, quantize_from)
            print(f"prepared {flow} in {time.perf_counter() - t0:.1f} s")
        sessions = {f: [open_session(m, backend, a.threads, "cpu", precision) for m in models]
                    for f, (_, models, backend, precision) in built.items()}
        manifests = {f: Manifest.read(prep) for f, (prep, *_) in built.items()}
        entries = {f: [e for e in m.entries if e.camera < a.cameras] for f, m in manifests.items()}
        inputs = {f: {e.name: read_array(built[f][0] / INPUTS_DIR / f"{e.name}.bin", manifests[f].input_shape(e))
                      for e in entries[f]} for f in flows}
        compile_s = {}
        for f in flows:               # ahead of timing, as ATC is: each length's first run (OpenVINO), one warm-up run
            t0 = time.perf_counter()
            for s in sessions[f]:
                mine = [e for e in entries[f] if pick_session(sessions[f], manifests[f].input_shape(e), Path(e.name)) is s]
                if hasattr(s, "prepare"):
                    s.prepare([e.length for e in mine])
                time_runs(s, inputs[f][mine[0].name], 0, 1)
            compile_s[f] = time.perf_counter() - t0
        seconds = {f: [] for f in flows}
        predictions = {f: {} for f in flows}
        for r in range(a.rounds):
            for f in flows:
                total = 0.0
                for e in entries[f]:
                    x = inputs[f][e.name]
                    times, y = time_runs(pick_session(sessions[f], x.shape, Path(e.name)), x, 1)
                    total += times[0] / 1000
                    predictions[f][e.name] = unflip_average(y[:, :e.frames], manifests[f].joint_symmetry)
                seconds[f].append(total)
                print(f"round {r + 1}: {f:9s} {total:8.1f} s")
        rows = []
        for f in flows:
            errors = ActionErrors()
            for e in entries[f]:
                gt = read_array(built[f][0] / GROUND_TRUTHS_DIR / f"{e.name}.bin", (e.frames, 17, 3))
                errors.add(e.group, predictions[f][e.name], gt)
            res = errors.results()
            s = statistics.median(seconds[f])
            frames = sum(e.frames for e in entries[f])
            rows.append({"flow": f, "backend": built[f][2],
                         "precision": sessions[f][0].precision,
                         "models": [m.name for m in built[f][1]], "inputs": len(entries[f]), "frames": frames,
                         "input_frames": sum(2 * e.length for e in entries[f]), "seconds": s,
                         "seconds_rounds": seconds[f], "prepare_seconds": compile_s[f], "useful_fps": frames / s,
                         "recipe_fps": sum(2 * e.length for e in entries[f]) / s, **res.average})
        base = next((r for r in rows if r["flow"] == "fixed"), rows[0])
        for r in rows:
            r["speedup"] = base["seconds"] / r["seconds"]
            r["mpjpe_change"] = r["mpjpe"] - base["mpjpe"]
        report = {"date": datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                  "model": str(ckpt), "trained": trained, "receptive_field": rf, "buckets": buckets,
                  "cameras": a.cameras, "rounds": a.rounds, "rows": rows}
        md = markdown(report)
        print(md)
        out = Path(a.out)
        stem = f"testset_{datetime.now():%Y%m%d_%H%M%S}"
        write_json(out / f"{stem}.json", report)
        with atomic_path(out / f"{stem}.md") as p:
            p.write_text(md + "\n")
        print(f"wrote {out / stem}.json and .md")
        if tmp:
            tmp.cleanup()
    return cli.run(body, args)


def markdown(report: dict) -> str:
    m = report["machine"]
    rows = report["rows"]
    lines = [f"{m.get('cpu')}, {m['physical_cores']} cores, flags {' '.join(m.get('isa', []))}; "
             f"{report['date']}; {'trained' if report['trained'] else 'random-weight'} model, receptive field "
             f"{report['receptive_field']}; {rows[0]['inputs']} inputs ({report['cameras']} camera(s) of every test "
             f"sequence, {rows[0]['frames']:,} frames); median of {report['rounds']} round(s)", "",
             "| flow | engine | precision | input frames | seconds | useful frames/s | recipe frames/s (2L) "
             "| speed-up | MPJPE mm | Δ MPJPE mm | MPJVE mm | prepare s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['flow']} | {r['backend']} | {r['precision']} | {r['input_frames']:,} | {r['seconds']:.1f} "
                     f"| {r['useful_fps']:,.0f} | {r['recipe_fps']:,.0f} | {r['speedup']:.2f}× | {r['mpjpe']:.3f} "
                     f"| {r['mpjpe_change']:+.3f} | {r['mpjve']:.2f} | {r['prepare_seconds']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
