#!/usr/bin/env python3
"""Stage 3 anywhere: ais_bench-compatible inference with ONNX Runtime, OpenVINO, PyTorch or ais_bench itself.

    python vp3d_infer.py --model vp3d_work/vp3d.onnx --input vp3d_work/prep_dataset/inputs/ --output vp3d_work/infer_results/
    python vp3d_infer.py --model vp3d_work/vp3d.onnx --loop 20                        # pure inference, random input
    python vp3d_infer.py --model vp3d_work/vp3d.onnx --backend openvino --precision bf16 --loop 20
    python vp3d_infer.py --model vp3d_work/model_best.bin --loop 5 --length 6115      # PyTorch eager baseline
    python vp3d_infer.py --model vp3d_L2048.onnx --model vp3d_L6115.onnx --input ...  # buckets: one model per length
    python vp3d_infer.py --model vp3d_work/vp3d_seq6115.om --input ... --output ...   # runs ais_bench on the NPU
"""
import sys

from vp3d import cli  # first: a missing dependency is one line (vp3d.errors.check_core)
from vp3d.engines.ais_bench import ais_bench_command, require_ais_bench, run_ais_bench
from vp3d.engines.backends import BACKENDS, PRECISIONS, REGISTRY, check_precision, open_session, resolve_backend
from vp3d.engines.devices import DEVICES
from vp3d.pipeline.infer import OUTFMT_EXT, find_manifest, infer_directory, infer_random, summary_lines
from vp3d.pipeline.predict import DEFAULT_CHUNK
from vp3d.pipeline.sequences import DEFAULT_LENGTH
from tqdm import tqdm


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, action="append",
                   help="ONNX model (.onnx), OpenVINO IR (.xml), checkpoint (.bin/.pth/.pt) or Ascend .om; "
                        "repeat for buckets (one static model per input length)")
    p.add_argument("--input", default=None, help="directory of input .bin files (default: random data of the model's input shape)")
    p.add_argument("--output", default=None, help="directory under which results go (default: write nothing)")
    p.add_argument("--output_dirname", default=None, help="subdirectory name (default: start time, %%Y_%%m_%%d-%%H_%%M_%%S)")
    p.add_argument("--outfmt", choices=list(OUTFMT_EXT), default="BIN", help="output file format")
    p.add_argument("--batchsize", type=cli.positive_int, default=1, help="inputs per run (only 1: the model's batch is the flip pair)")
    p.add_argument("--loop", type=cli.positive_int, default=1, help="timed runs per input file (or of the random input)")
    p.add_argument("--warmup_count", type=int, default=1, help="untimed runs before timing")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference engine; auto: onnxruntime for .onnx, openvino for .xml, torch for checkpoints, ais_bench for .om")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="auto: a GPU if onnxruntime-gpu (or CUDA torch) sees one, the NPU for ais_bench, else the CPU")
    p.add_argument("--precision", choices=PRECISIONS, default="f32",
                   help="bf16: openvino on CPUs with bf16 (AVX512-BF16/AMX), or torch (autocast); fp16: torch on cuda")
    p.add_argument("--threads", type=cli.threads, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--length", type=cli.positive_int, default=None,
                   help=f"input frames L for a checkpoint (torch): default from the --input files, else {DEFAULT_LENGTH}")
    p.add_argument("--causal", action="store_true",
                   help="the checkpoint is causal (torch backend; default: what the checkpoint or the inputs' manifest says)")
    p.add_argument("--chunk", type=cli.positive_int, default=DEFAULT_CHUNK,
                   help="for a model taking any length (--dynamic, checkpoints): output frames per model call; longer "
                        "inputs run in windows overlapping by RF-1 frames (same result, memory bounded by the chunk)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--force", action="store_true", help="overwrite the outputs in an existing output directory")
    p.add_argument("--resume", action="store_true",
                   help="in an existing --output_dirname, skip inputs whose outputs are complete and run the rest")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batchsize != 1:
        parser.error("--batchsize must be 1: each input already holds its flipped twin as batch index 1")
    if args.warmup_count < 0:
        parser.error(f"--warmup_count must be >= 0, got {args.warmup_count}")
    if args.output_dirname and not args.output:
        parser.error("--output_dirname needs --output")
    if args.force and args.resume:
        parser.error("--force and --resume exclude each other")
    if args.resume and not (args.input and args.output_dirname):
        parser.error("--resume needs --input and the --output_dirname of the run to finish")
    try:
        backends = {resolve_backend(m, args.backend) for m in args.model}
        if len(backends) > 1:
            raise cli.Vp3dError(f"the --model files need different backends ({', '.join(sorted(backends))}); "
                                f"give models of one kind")
        backend = backends.pop()
        check_precision(backend, args.precision)
    except cli.Vp3dError as e:
        parser.error(str(e))
    if len(args.model) > 1 and not args.input:
        parser.error("several --model files (buckets) need --input: each input runs on the model of its length")
    if backend == "ais_bench" and (args.force or args.resume):
        parser.error("--force and --resume do not apply to ais_bench: it always writes a new directory")
    if backend == "ais_bench" and (args.threads or args.length or len(args.model) > 1):
        parser.error("--threads, --length and several --model do not apply to ais_bench: the .om fixes its own shape")
    if args.causal and backend != "torch":
        parser.error("--causal is for checkpoints (torch backend): exported models record it themselves")

    def body(a):
        if backend == "ais_bench":
            require_ais_bench(a.model[0])
            REGISTRY[backend].resolve_device(a.device)
            return run_ais_bench(ais_bench_command(a.model[0], a.input, a.output, a.output_dirname, a.outfmt,
                                                   a.loop, a.warmup_count, a.batchsize))
        found = find_manifest(a.input) if a.input else None
        causal = True if a.causal else (found[1].causal if found and backend == "torch" else None)
        length = a.length or (None if a.input else DEFAULT_LENGTH)   # None: each input file's own
        sessions = [open_session(m, backend, a.threads, a.device, a.precision, length, causal) for m in a.model]
        for m, s in zip(a.model, sessions):
            if a.length and s.length not in (None, a.length):
                raise cli.Vp3dError(f"{m}: the model takes L = {s.length} frames, not --length {a.length}")
            print(f"[INFO] {s.describe()}")
        if a.input:
            out_dir, summary = infer_directory(sessions, a.input, a.output, a.output_dirname, a.outfmt, a.loop,
                                               a.warmup_count, lambda it: tqdm(it, desc="infer", unit="file", disable=None),
                                               a.force, a.resume, model=a.model if len(a.model) > 1 else a.model[0],
                                               chunk=a.chunk)
            if summary.get("skipped"):
                print(f"[INFO] skipped {summary['skipped']} inputs whose outputs in {out_dir} are complete")
            if "compute_time" not in summary:
                return 0
        else:
            out_dir, summary = infer_random(sessions[0], a.loop, a.warmup_count, a.output, a.output_dirname, a.outfmt,
                                            a.length or DEFAULT_LENGTH, a.seed, a.force)
        print("\n".join(summary_lines(summary, a.batchsize)))
        if out_dir is not None:
            print(f"[INFO] results: {out_dir}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
