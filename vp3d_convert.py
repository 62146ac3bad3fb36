#!/usr/bin/env python3
"""Convert saved 3D poses (.npz, .json, .csv: what vp3d_lift.py and vp3d_postprocess.py write) to another
format, chosen by the output's suffix (.bvh, .npz, .json, .csv).

    python vp3d_convert.py predictions.npz --name 001_Directions -o directions.bvh --fps 50
    python vp3d_convert.py lifted.json -o lifted.csv
"""
import sys

from vp3d import cli
from vp3d.io.files import refuse_overwrite
from vp3d.io.bvh import DEFAULT_ORIGIN, DEFAULT_UNITS, ORIGINS, UNITS
from vp3d.io.formats import ASSUMED_FPS, READERS, WRITERS, read_poses, write_poses, writer_for
from vp3d.io.poses import select


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("poses", help=f"poses file ({', '.join(READERS)}): (T, 17, 3) per sequence, metres, camera frame")
    p.add_argument("-o", "--output", required=True, help=f"output file; its suffix picks the format ({', '.join(WRITERS)})")
    p.add_argument("--name", help="the sequence to write (needed by one-motion formats when the file holds several)")
    p.add_argument("--fps", type=cli.positive_float, default=None,
                   help="frames per second of the poses (default: the rate the file records; BVH's frame time is "
                        "1/FPS)")
    p.add_argument("--units", choices=sorted(UNITS), default=None,
                   help=f"BVH lengths in metres or centimetres (BVH default: {DEFAULT_UNITS})")
    p.add_argument("--origin", choices=ORIGINS, default=None,
                   help=f"BVH root placement: 'floor' starts above the origin with the lowest joint on y = 0; "
                        f"'camera' keeps the camera's position (BVH default: {DEFAULT_ORIGIN})")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        writer_for(a.output)                      # a bad suffix fails before anything is read
        refuse_overwrite([("-o", a.output)], [("POSES", a.poses)])
        poses = read_poses(a.poses)
        if a.name is not None:
            select(poses, a.name, a.poses)            # an unknown name is the poses file's fault
        if a.fps is None and poses.fps is None and writer_for(a.output) is WRITERS[".bvh"]:
            print(f"[INFO] {a.poses} records no frame rate: BVH frame time 1/{ASSUMED_FPS:g} s (give the real "
                  f"rate with --fps F)")
        write_poses(a.output, poses, fps=a.fps, name=a.name, units=a.units, origin=a.origin)
        print(f"wrote {a.output}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
