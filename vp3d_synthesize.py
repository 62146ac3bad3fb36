#!/usr/bin/env python3
"""Write synthetic Human3.6M or HumanEva-I data in upstream's file formats.

    python vp3d_synthesize.py -o demo_run/data --subjects S9,S11 --lengths real
    python vp3d_synthesize.py -o demo_run/data --layout coco     # data_2d_h36m_detectron_pt_coco.npz
    python vp3d_synthesize.py -o he_data --dataset humaneva15    # data_3d_humaneva15.npz, data_2d_humaneva15_{gt,detectron_pt_coco}.npz
    python vp3d_synthesize.py -o my_data --cameras random         # your own data's format: cameras in the 3D file
"""
import sys

from vp3d import cli
from vp3d.training import synthetic, synthetic_humaneva

def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--dataset", choices=("h36m", "humaneva15"), default="h36m",
                   help="h36m: data_3d_h36m.npz and one 2D file; humaneva15: as upstream's prepare_data_humaneva.py, "
                        "data_3d_humaneva15.npz, data_2d_humaneva15_gt.npz (15 joints) and "
                        "data_2d_humaneva15_detectron_pt_coco.npz (COCO-17, with 'Unlabeled/' entries)")
    p.add_argument("--subjects", type=cli.subjects, default=None,
                   help=f"subjects to generate (default: {','.join(synthetic.SUBJECTS)}; for humaneva15 "
                        f"{','.join(synthetic_humaneva.takes())})")
    p.add_argument("--actions", type=cli.subjects, default=None, metavar="TAKES",
                   help="comma-separated take names, e.g. 'Walking,Walking 1' (humaneva15: 'Walking 1,Box 1'); "
                        "none = every take (for h36m a few with --lengths tiny)")
    p.add_argument("--lengths", default="tiny",
                   help="tiny (60-120 frames, for h36m a few takes), real (S9/S11's real lengths; humaneva15: "
                        "upstream's frame ranges), or a frame count N")
    p.add_argument("--seed", type=int, default=0, help="random seed (non-negative)")
    p.add_argument("--layout", choices=("h36m", "coco"), default="h36m",
                   help="h36m only: 2D keypoint order, h36m (the 17 evaluation joints, as CPN) or coco (COCO-17, as "
                        "Detectron)")
    p.add_argument("-k", "--keypoints", default=None,
                   help="h36m only: 2D file is data_2d_h36m_<NAME>.npz; none given: " +
                        ", ".join(f"{v} for {k}" for k, v in synthetic.KEYPOINT_NAMES.items()))
    p.add_argument("--no-noise", action="store_true", help="2D = exact projections, no detector noise")
    p.add_argument("--cameras", choices=("h36m", "random"), default="h36m",
                   help="h36m only: Human3.6M's calibration (not written: readers know it), or random: cameras of "
                        "your own (1920x1080), written into data_3d_h36m.npz as a dataset of your own carries them")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset == "humaneva15" and (args.layout != "h36m" or args.keypoints is not None or args.cameras != "h36m"):
        parser.error("--layout, -k and --cameras choose Human3.6M's files: --dataset humaneva15 writes both of "
                     "upstream's (gt and detectron_pt_coco), for its own cameras")

    def body(a):
        if a.dataset == "humaneva15":
            pos3d, pos2d = synthetic_humaneva.generate(a.subjects, a.actions, a.lengths, a.seed, noise=not a.no_noise)
            paths = synthetic_humaneva.save_dataset(a.out, pos3d, pos2d)
            cameras, frames2d = 3, sum(len(x) for views in pos2d["gt"].values() for v in views.values() for x in v)
        else:
            subjects = a.subjects or synthetic.SUBJECTS
            own = synthetic.random_cameras(subjects, a.seed) if a.cameras == "random" else None
            pos3d, pos2d = synthetic.generate(subjects, a.actions, a.lengths, a.seed, noise=not a.no_noise,
                                              layout=a.layout, cameras=own)
            paths = synthetic.save_dataset(a.out, pos3d, pos2d, a.keypoints or synthetic.KEYPOINT_NAMES[a.layout],
                                           a.layout, own)
            cameras, frames2d = 4, sum(len(x) for takes in pos2d.values() for views in takes.values() for x in views)
        sequences = sum(len(takes) for takes in pos3d.values())
        frames = sum(len(x) for takes in pos3d.values() for x in takes.values())
        for path in paths:
            print(f"wrote {path}")
        print(f"{len(pos3d)} subjects, {sequences} sequences, {frames} frames "
              f"({frames2d} 2D frames over {cameras} cameras)")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
