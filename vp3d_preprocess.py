#!/usr/bin/env python3
"""Stage 1: a dataset's test set (Human3.6M, HumanEva-I) -> model inputs (.bin), ground truths, deltas, manifest.

    python vp3d_preprocess.py -d vp3d_work/Human3.6M/ -s vp3d_work/prep_dataset/                    # fixed L = 6115
    python vp3d_preprocess.py -d vp3d_work/Human3.6M/ -s vp3d_work/prep_own/ --max-length 0         # own lengths
    python vp3d_preprocess.py -d vp3d_work/Human3.6M/ -s vp3d_work/prep_buckets/ --max-length 2048,4096,6115
    python vp3d_preprocess.py -d vp3d_work/HumanEva/ --dataset humaneva15 -k gt -a Walk,Jog,Box -arc 3,3,3 -s prep_he/
"""
import argparse
import sys

from vp3d import cli  # first: a missing dependency is one line (vp3d.errors.check_core)
from vp3d.facts.architecture import ModelConfig
from vp3d.facts.datasets import datasets
from vp3d.io.datasets import resolve_dataset
from vp3d.pipeline.preprocess import preprocess
from vp3d.pipeline.sequences import default_length
from tqdm import tqdm


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    known = datasets().values()
    p.add_argument("-d", "--data-dir", default=None,
                   help="directory holding the dataset's files: " + ", ".join(
                       f"{d.file_3d} and {d.file_2d('<keypoints>')}" for d in known) + " (default: data/, as upstream)")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"which dataset ({', '.join(d.name for d in known)}: upstream's -d names); default: the one "
                        f"whose files the directory holds. --dataset DIR, the Ascend recipe's spelling of -d, works too")
    p.add_argument("-s", "--save", required=True, help="output directory")
    p.add_argument("-ste", "--subjects-test", type=cli.subjects, default=None,
                   help="test subjects (default: the dataset's: " + "; ".join(
                       f"{','.join(d.subjects_test)} for {d.name}" for d in known) + ")")
    p.add_argument("-k", "--keypoints", default=None, help="2D detections name, data_2d_<dataset>_<NAME>.npz (default: " +
                   "; ".join(f"{d.keypoints} for {d.name}" for d in known) + ")")
    p.add_argument("-a", "--actions", type=cli.actions, default=None, metavar="PREFIXES",
                   help="keep only the actions starting with one of these, as upstream's -a (e.g. Walk,Jog,Box); default: all")
    p.add_argument("-arc", "--architecture", type=cli.widths, default=ModelConfig().widths_text,
                   help="filter widths of the model")
    p.add_argument("--max-length", type=cli.lengths, default=argparse.SUPPRESS,    # absent: the dataset's default
                   help="frames per input file L: one length for all (one static model), several like 2048,4096,6115 "
                        "(buckets: each sequence gets the smallest that fits; one static model each), or 0 (every "
                        "sequence at its own length: for a model exported with --dynamic; no padding computed) "
                        "(default: the dataset's longest sequence + 242: " +
                        ", ".join(f"{default_length(d.name)} for {d.name}" for d in known) + ")")
    p.add_argument("--buckets", type=cli.positive_int, default=None, metavar="N",
                   help="instead of --max-length: N bucket lengths chosen from the data to compute the fewest frames "
                        "(printed, for vp3d_pth2onnx.py --length)")
    p.add_argument("--downsample", type=cli.positive_int, default=1, help="keep every n-th frame")
    p.add_argument("--causal", action="store_true", help="the model is causal (sees only past frames)")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty output directory")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.buckets and hasattr(args, "max_length"):
        parser.error("--buckets chooses the lengths itself: give it or --max-length, not both")

    def body(a):
        folder, facts = resolve_dataset(a.data_dir, a.dataset)
        m = preprocess(folder, a.save, a.subjects_test, a.keypoints, a.architecture,
                       getattr(a, "max_length", None),
                       a.downsample, a.causal, a.force, progress=lambda it: tqdm(it, desc="preprocess", unit="file", disable=None),
                       buckets=a.buckets, dataset=facts.name, actions=a.actions)
        frames = sum(e.frames for e in m.entries)
        computed = sum(e.length for e in m.entries)
        shapes = (f"2xLx{m.num_keypoints}x2, L = T + {m.receptive_field - 1} (own length)" if not m.lengths else
                  f"2x{'|'.join(map(str, m.lengths))}x{m.num_keypoints}x2")
        print(f"wrote {len(m.entries)} inputs of {shapes} ({frames} frames, {computed} input frames; "
              f"receptive field {m.receptive_field}; {datasets()[m.dataset].title} {','.join(m.subjects)}, "
              f"{m.keypoints}) to {a.save}")
        if a.buckets:
            print(f"buckets: export with vp3d_pth2onnx.py --length {m.length_rule}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
