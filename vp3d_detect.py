#!/usr/bin/env python3
"""Run a 2D keypoint detector on every frame of a video: the 2D file vp3d_lift.py lifts (and upstream's tools read).

    python vp3d_detect.py clip.mp4 -o clip.mp4.npz                          # rtmpose, weights fetched once
    python vp3d_detect.py clip.mp4 -o clip.mp4.npz --detector-weights det.zip pose.zip   # no internet
    python vp3d_lift.py clip.mp4.npz -m pretrained_h36m_detectron_coco.bin -o clip_poses.npz

The file is upstream's inference/infer_video_d2.py output (every person's box and COCO-17 keypoints per
frame, the frame size) with the video's frame rate and what identifies the video and the detector; run
again with the same video and detector, it is reused (--redetect runs the detector again).
"""
import sys

from vp3d import cli
from vp3d.detect.video import add_detector_arguments, detections_for_video, detector_of
from vp3d.engines.devices import DEVICES


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("video", help="the video (any format ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="the 2D file to write (.npz)")
    add_detector_arguments(p)
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the detector runs (cuda: onnxruntime-gpu, or torch for keypointrcnn)")
    p.add_argument("--threads", type=cli.threads, default=None, help="CPU threads (default: physical cores)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def body(a):
        if not a.output.lower().endswith(".npz"):
            raise cli.Vp3dError(f"{a.output}: the 2D file is an .npz (upstream's infer_video_d2.py format)")
        detections_for_video(a.video, a.output, detector_of(a), a.redetect)
    return cli.run(body, args)


if __name__ == "__main__":
    sys.exit(main())
