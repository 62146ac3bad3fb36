#!/usr/bin/env python3
"""Render saved 3D poses as an animation (.gif or .mp4): 2D input, 3D prediction, ground truth.

    python vp3d_render.py predictions.npz --name 001_Directions --prep prep_dataset -o directions.gif
    python vp3d_render.py lifted.npz --keypoint-file clip.json --image-size 1920 1080 -o clip.mp4 --frames 500
    python vp3d_render.py lifted.npz --keypoint-file clip.json --video clip.mp4 --people all -o over.mp4
"""
import re
import sys
from pathlib import Path

from vp3d import cli  # first: a missing dependency is one line (vp3d.errors.check_core)
from vp3d.errors import Vp3dError
from vp3d.facts.datasets import skeleton_of
from vp3d.facts.limits import MAX_PANEL
from vp3d.facts.skeleton import keypoint_layouts
from vp3d.io.files import refuse_overwrite
from vp3d.io.animation import ANIMATION_WRITERS, check_output
from vp3d.io.formats import ASSUMED_FPS, READERS, read_poses
from vp3d.io.poses import select
from vp3d.viz.inputs import LEVEL_UP, file_keypoint_sequences, file_keypoints, prep_sequence
from vp3d.viz.render import DEFAULT_AZIMUTH, DEFAULT_SIZE, Track, render, render_over_video
from tqdm import tqdm


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("poses", help=f"poses file ({', '.join(READERS)}): (T, J, 3) per sequence (17 joints, or HumanEva-I's "
                   f"15), metres, camera frame")
    p.add_argument("-o", "--output", required=True, help=f"animation file ({' or '.join(ANIMATION_WRITERS)})")
    p.add_argument("--name", help="the sequence to render (needed when the file holds several)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prep", help="vp3d_preprocess.py output folder: draws the sequence's 2D input and ground truth")
    src.add_argument("--keypoint-file", help="the 2D keypoint file that was lifted (any vp3d_lift.py input: upstream's "
                                         "in-the-wild npz, MMPose or COCO results JSON, CSV, or an npz of (T, J, 2) "
                                         "pixel arrays); its sequence of the same name is drawn")
    p.add_argument("--layout", choices=sorted(keypoint_layouts()), default=None,
                   help="keypoint order of --keypoint-file where the file does not say (default: coco)")
    p.add_argument("--video", help="draw --keypoint-file's keypoints over this video's own frames (frame i of a "
                                   "sequence = video frame i, after its first frame where the file gives one)")
    p.add_argument("--people", choices=("all",), default=None,
                   help="with --video: every sequence whose name starts with the video's stem (e.g. "
                        "<video>_person1, <video>_person2), drawn together, one colour per person")
    cli.add_image_size(p, "image size of --keypoint-file, pixels, where the file does not say (the 2D panel then "
                          "shows the whole image; without one it fits the keypoints)")
    p.add_argument("--start", type=cli.non_negative_int, default=0, help="first frame to render")
    p.add_argument("--frames", type=cli.positive_int, help="frames to render (default: to the end)")
    p.add_argument("--fps", type=cli.positive_float, default=None,
                   help="frames per second of the animation (default: the rate the poses file records, else "
                        f"--video's, else {ASSUMED_FPS:g})")
    p.add_argument("--azimuth", type=float, default=DEFAULT_AZIMUTH,
                   help="3D view angle about the vertical, degrees (0: from the recording camera)")
    p.add_argument("--size", type=cli.bounded_int(16, MAX_PANEL), default=DEFAULT_SIZE,
                   help=f"pixels per (square) panel, 16 to {MAX_PANEL}")
    return p


def people_of(poses: dict, video: str) -> list[str]:
    """The sequences of `video`: names starting with its stem, in natural order (person2 before person10)."""
    stem = Path(video).stem
    return sorted((n for n in poses if n.startswith(stem)),
                  key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (("--image-size", args.image_size), ("--layout", args.layout)):
        if value and not args.keypoint_file:
            build_parser().error(f"{flag} goes with --keypoint-file")
    if args.video and not args.keypoint_file:
        build_parser().error("--video draws --keypoint-file's keypoints over the video: give --keypoint-file")
    if args.people and not args.video:
        build_parser().error("--people goes with --video")
    if args.video and (args.start or args.frames):
        build_parser().error("--start and --frames are not for --video: the render follows the video's frames")

    def body(a):
        check_output(a.output)                    # a bad suffix fails before anything is read
        refuse_overwrite([("-o", a.output)], [("POSES", a.poses), ("--keypoint-file", a.keypoint_file),
                                              ("--video", a.video)])
        if a.video:
            return over_video(a)
        all_poses = read_poses(a.poses)
        name, poses = select(all_poses, a.name, a.poses)
        skeleton_of(poses.shape[1], f"{a.poses}: '{name}'")          # 17 (Human3.6M) or 15 (HumanEva-I) joints
        keypoints, truth, up, prep_fps = None, None, LEVEL_UP, None
        if a.prep:
            seq = prep_sequence(a.prep, name)
            keypoints, truth, up, prep_fps = seq.keypoints, seq.ground_truth, seq.up, seq.fps
        elif a.keypoint_file:
            keypoints = file_keypoints(a.keypoint_file, name, a.layout, a.image_size)
        for what, other in (("--prep ground truth", truth), (a.keypoint_file or "--prep 2D input",
                                                               None if keypoints is None else keypoints.points)):
            if other is not None and len(other) != len(poses):
                raise Vp3dError(f"{what}: '{name}' has {len(other)} frames, {a.poses} has {len(poses)}")
        if a.start >= len(poses):
            raise Vp3dError(f"{a.poses}: '{name}' has {len(poses)} frames, --start {a.start} is past the end")
        window = slice(a.start, a.start + a.frames if a.frames else None)
        filled = (all_poses.filled or {}).get(name)            # the frames without a detection, drawn pale
        if filled is None and keypoints is not None:
            filled = keypoints.filled
        if keypoints is not None:
            keypoints.points, keypoints.filled = keypoints.points[window], None
        n = render(a.output, poses[window], keypoints, None if truth is None else truth[window], up=up,
                   fps=a.fps or all_poses.fps or prep_fps or assumed_rate(a.poses), size=a.size, azimuth=a.azimuth,
                   title=name, first_frame=a.start, progress=lambda it: tqdm(it, desc="render", unit="frame", disable=None),
                   filled=None if filled is None else filled[window])
        print(f"wrote {n} frames to {a.output}")
    return cli.run(body, args)


def assumed_rate(path) -> float:
    """ASSUMED_FPS, said in one line: the poses file records no rate and none was given."""
    print(f"[INFO] {path} records no frame rate: rendering at {ASSUMED_FPS:g} fps (give the real one with --fps F)")
    return ASSUMED_FPS


def over_video(a):
    """--video: the named (or only) sequence, or with --people all every one of the video's, over its frames."""
    all_poses = read_poses(a.poses)
    if a.people:
        names = people_of(all_poses, a.video)
        if not names:
            raise Vp3dError(f"{a.poses}: no sequence named {Path(a.video).stem}* (have {', '.join(list(all_poses)[:5])})")
    else:
        names = [select(all_poses, a.name, a.poses)[0]]
    keypoints = file_keypoint_sequences(a.keypoint_file, names, a.layout, a.image_size)
    for n in names:                                   # the poses file's filled frames, where it records them
        if n in (all_poses.filled or {}):
            keypoints[n].filled = all_poses.filled[n]
    tracks = [Track(n, all_poses[n], keypoints[n]) for n in names]
    n = render_over_video(a.output, tracks, a.video, a.fps or all_poses.fps, a.size, a.azimuth,
                          progress=lambda it: tqdm(it, desc="render", unit="frame", disable=None))
    print(f"wrote {n} frames of {len(tracks)} {'person' if len(tracks) == 1 else 'people'} to {a.output}")


if __name__ == "__main__":
    sys.exit(main())
