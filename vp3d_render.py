#!/usr/bin/env python3
"""Render saved 3D poses as an animation (.gif or .mp4): 2D input, 3D prediction, ground truth.

    python vp3d_render.py predictions.npz --name 001_Directions --prep prep_dataset -o directions.gif
    python vp3d_render.py lifted.npz --keypoint-file clip.json --image-size 1920 1080 -o clip.mp4 --frames 500
"""
import sys

from tqdm import tqdm

from vp3d import cli
from vp3d.errors import Vp3dError
from vp3d.facts.skeleton import keypoint_layouts
from vp3d.io.animation import ANIMATION_WRITERS, check_output
from vp3d.io.formats import READERS, read_poses
from vp3d.io.poses import select
from vp3d.viz.inputs import LEVEL_UP, file_keypoints, prep_sequence
from vp3d.viz.render import DEFAULT_AZIMUTH, DEFAULT_SIZE, render


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("poses", help=f"poses file ({', '.join(READERS)}): (T, 17, 3) per sequence, metres, camera frame")
    p.add_argument("-o", "--output", required=True, help=f"animation file ({' or '.join(ANIMATION_WRITERS)})")
    p.add_argument("--name", help="the sequence to render (needed when the file holds several)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prep", help="vp3d_preprocess.py output folder: draws the sequence's 2D input and ground truth")
    src.add_argument("--keypoint-file", help="the 2D keypoint file that was lifted (any vp3d_lift.py input: upstream's "
                                         "in-the-wild npz, MMPose or COCO results JSON, CSV, or an npz of (T, J, 2) "
                                         "pixel arrays); its sequence of the same name is drawn")
    p.add_argument("--layout", choices=sorted(keypoint_layouts()), default=None,
                   help="keypoint order of --keypoint-file where the file does not say (default: coco)")
    cli.add_image_size(p, "image size of --keypoint-file, pixels, where the file does not say (the 2D panel then "
                          "shows the whole image; without one it fits the keypoints)")
    p.add_argument("--start", type=cli.non_negative_int, default=0, help="first frame to render")
    p.add_argument("--frames", type=cli.positive_int, help="frames to render (default: to the end)")
    p.add_argument("--fps", type=cli.positive_float, default=50.0, help="frames per second of the animation")
    p.add_argument("--azimuth", type=float, default=DEFAULT_AZIMUTH,
                   help="3D view angle about the vertical, degrees (0: from the recording camera)")
    p.add_argument("--size", type=cli.positive_int, default=DEFAULT_SIZE, help="pixels per (square) panel")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (("--image-size", args.image_size), ("--layout", args.layout)):
        if value and not args.keypoint_file:
            build_parser().error(f"{flag} goes with --keypoint-file")

    def body(a):
        check_output(a.output)                    # a bad suffix fails before anything is read
        name, poses = select(read_poses(a.poses), a.name, a.poses)
        if poses.shape[1] != 17:
            raise Vp3dError(f"{a.poses}: '{name}' has {poses.shape[1]} joints, expected the 17-joint skeleton")
        keypoints, truth, up = None, None, LEVEL_UP
        if a.prep:
            seq = prep_sequence(a.prep, name)
            keypoints, truth, up = seq.keypoints, seq.ground_truth, seq.up
        elif a.keypoint_file:
            keypoints = file_keypoints(a.keypoint_file, name, a.layout, a.image_size)
        for what, other in (("--prep ground truth", truth), (a.keypoint_file or "--prep 2D input",
                                                               None if keypoints is None else keypoints.points)):
            if other is not None and len(other) != len(poses):
                raise Vp3dError(f"{what}: '{name}' has {len(other)} frames, {a.poses} has {len(poses)}")
        if a.start >= len(poses):
            raise Vp3dError(f"{a.poses}: '{name}' has {len(poses)} frames, --start {a.start} is past the end")
        window = slice(a.start, a.start + a.frames if a.frames else None)
        if keypoints is not None:
            keypoints.points = keypoints.points[window]
        n = render(a.output, poses[window], keypoints, None if truth is None else truth[window], up=up,
                   fps=a.fps, size=a.size, azimuth=a.azimuth, title=name, first_frame=a.start,
                   progress=lambda it: tqdm(it, desc="render", unit="frame", disable=None))
        print(f"wrote {n} frames to {a.output}")
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
