#!/usr/bin/env python3
"""Stage 3 anywhere: ais_bench-compatible inference over a directory of .bin inputs.

    python vp3d_infer.py --model vp3d/vp3d.onnx --input vp3d/prep_dataset/inputs/ --output vp3d/infer_results/
"""
import sys

from tqdm import tqdm

from vp3d import cli
from vp3d.infer import OUTFMT_EXT, infer_directory
from vp3d.runtime import BACKENDS, open_session


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="ONNX model")
    p.add_argument("--input", required=True, help="directory of input .bin files")
    p.add_argument("--output", required=True, help="directory under which results go")
    p.add_argument("--output_dirname", default=None, help="subdirectory name (default: start time, %%Y_%%m_%%d-%%H_%%M_%%S)")
    p.add_argument("--outfmt", choices=list(OUTFMT_EXT), default="BIN", help="output file format")
    p.add_argument("--batchsize", type=cli.positive_int, default=1, help="inputs per run (only 1: the model's batch is the flip pair)")
    p.add_argument("--loop", type=cli.positive_int, default=1, help="runs per input file")
    p.add_argument("--warmup_count", type=int, default=1, help="untimed runs before timing")
    p.add_argument("--backend", choices=BACKENDS, default="onnxruntime", help="inference engine")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="CPU threads (default: physical cores)")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batchsize != 1:
        parser.error("--batchsize must be 1: each input already holds its flipped twin as batch index 1")

    def body(a):
        session = open_session(a.model, a.backend, a.threads)
        out_dir, summary = infer_directory(session, a.input, a.output, a.output_dirname, a.outfmt, a.loop,
                                           a.warmup_count, progress=lambda it: tqdm(it, desc="infer", unit="file", disable=None))
        t = summary["compute_time"]
        frames = session.input_shape[0] * session.input_shape[1]
        print("[INFO] -----------------Performance Summary------------------")
        print(f"[INFO] compute_time (ms): min = {t['min']:.4f}, max = {t['max']:.4f}, mean = {t['mean']:.4f}, "
              f"median = {t['median']:.4f}, percentile(99%) = {t['percentile(99%)']:.4f}")
        print(f"[INFO] throughput 1000*batchsize.mean({a.batchsize})/compute_time.mean({t['mean']:.4f}): "
              f"{summary['throughput']:.4f}")
        print(f"[INFO] frames/s (2*L/mean_ms*1000): {frames / t['mean'] * 1000:.1f}")
        print(f"[INFO] results: {out_dir}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
