#!/usr/bin/env python3
"""Stage 1: Human3.6M test set -> fixed-length model inputs (.bin), ground truths, deltas, manifest.

    python vp3d_preprocess.py -d vp3d/Human3.6M/ -s vp3d/prep_dataset/
"""
import sys

from tqdm import tqdm

from vp3d import cli
from vp3d.preprocess import preprocess


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-d", "--dataset", required=True, help="directory holding data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz")
    p.add_argument("-s", "--save", required=True, help="output directory")
    p.add_argument("--subjects-test", type=cli.subjects, default="S9,S11", help="test subjects")
    p.add_argument("-k", "--keypoints", default="cpn_ft_h36m_dbb", help="2D detections name")
    p.add_argument("-arc", "--architecture", type=cli.widths, default="3,3,3,3,3", help="filter widths of the model")
    p.add_argument("--max-length", type=cli.positive_int, default=6115, help="frames per input file (L)")
    p.add_argument("--downsample", type=cli.positive_int, default=1, help="keep every n-th frame")
    p.add_argument("--causal", action="store_true", help="the model is causal (sees only past frames)")
    p.add_argument("--force", action="store_true", help="replace the contents of a non-empty output directory")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        m = preprocess(a.dataset, a.save, a.subjects_test, a.keypoints, a.architecture, a.max_length,
                       a.downsample, a.causal, a.force, progress=lambda it: tqdm(it, desc="preprocess", unit="file", disable=None))
        frames = sum(e.frames for e in m.entries)
        print(f"wrote {len(m.entries)} inputs of 2x{m.length}x{m.num_joints}x2 ({frames} frames, "
              f"receptive field {m.receptive_field}) to {a.save}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
