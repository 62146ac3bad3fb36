#!/usr/bin/env python3
"""Write synthetic Human3.6M data (data_3d_h36m.npz, data_2d_h36m_<keypoints>.npz) in upstream's formats.

    python vp3d_synthesize.py -o demo_run/data --subjects S9,S11 --lengths real
    python vp3d_synthesize.py -o demo_run/data --layout coco     # data_2d_h36m_detectron_pt_coco.npz
    python vp3d_synthesize.py -o my_data --cameras random         # your own data's format: cameras in the 3D file
"""
import sys

from vp3d import cli
from vp3d.facts.skeleton import keypoint_layouts
from vp3d.training.synthetic import KEYPOINT_NAMES, SUBJECTS, generate, random_cameras, save_dataset


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--subjects", type=cli.subjects, default=",".join(SUBJECTS), help="subjects to generate")
    p.add_argument("--actions", type=cli.subjects, default=None, metavar="TAKES",
                   help="comma-separated take names, e.g. 'Walking,Walking 1'; none = every take "
                        "(a few with --lengths tiny)")
    p.add_argument("--lengths", default="tiny",
                   help="tiny (60-120 frames, a few takes), real (S9/S11's real lengths), or a frame count N")
    p.add_argument("--seed", type=int, default=0, help="random seed (non-negative)")
    p.add_argument("--layout", choices=sorted(keypoint_layouts()), default="h36m",
                   help="2D keypoint order: h36m (the 17 evaluation joints, as CPN) or coco (COCO-17, as Detectron)")
    p.add_argument("-k", "--keypoints", default=None,
                   help="2D file is data_2d_h36m_<NAME>.npz; none given: " +
                        ", ".join(f"{v} for {k}" for k, v in KEYPOINT_NAMES.items()))
    p.add_argument("--no-noise", action="store_true", help="2D = exact projections, no detector noise")
    p.add_argument("--cameras", choices=("h36m", "random"), default="h36m",
                   help="h36m: Human3.6M's calibration (not written: readers know it); random: cameras of your own "
                        "(1920x1080), written into data_3d_h36m.npz as a dataset of your own carries them")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        cameras = random_cameras(a.subjects, a.seed) if a.cameras == "random" else None
        pos3d, pos2d = generate(a.subjects, a.actions, a.lengths, a.seed, noise=not a.no_noise, layout=a.layout,
                                cameras=cameras)
        path3d, path2d = save_dataset(a.out, pos3d, pos2d, a.keypoints or KEYPOINT_NAMES[a.layout], a.layout,
                                      cameras)
        sequences = sum(len(takes) for takes in pos3d.values())
        frames = sum(len(x) for takes in pos3d.values() for x in takes.values())
        frames2d = sum(len(x) for takes in pos2d.values() for views in takes.values() for x in views)
        print(f"wrote {path3d}")
        print(f"wrote {path2d}")
        print(f"{len(pos3d)} subjects, {sequences} sequences, {frames} frames "
              f"({frames2d} 2D frames over 4 cameras)")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
