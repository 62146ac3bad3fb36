#!/usr/bin/env python3
"""From a video to 3D poses: frames/s of each stage (decode, detect, lift, write) and end to end.

    python benchmarks/bench_video.py                                     # 1280x720, 120 frames, known-answer graphs
    python benchmarks/bench_video.py --detector-weights DET.zip POSE.zip  # OpenMMLab's files (add --device cuda)
    python benchmarks/bench_video.py --size 640x480 --frames 60 --channels 256   # a quick look

The video is written here (a moving dot, 30 fps, H.264). Without --detector-weights the detector is the
tests' known-answer pair (tests/detector_graphs.py: the published files' input and output shapes, almost
no arithmetic), so its row measures vp3d's own share of a detection (letterbox, normalisation, the crop,
the decode, ONNX Runtime's call overhead), not a real model: the real models' published costs are printed
beside it, marked as such. The lifting model is the full-size VideoPose3D (3,3,3,3,3, RF 243, 1024
channels, random weights: speed does not depend on them) as a checkpoint on torch, the path
`vp3d_lift.py clip.mp4 -m model.bin` takes. Stages are timed one after the other on the same frames;
"end to end" is vp3d_lift.main on the video (the model loaded, the detector opened, the 2D file and the
poses written; imports excluded). The machine, its CPU flags and the load average before and after are
printed with the table (markdown and JSON to --out).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from benchmarks.bench_backends import machine, random_checkpoint  # noqa: E402
from detector_graphs import write_dot_video, write_pair  # noqa: E402
import vp3d_lift  # noqa: E402
from vp3d import cli  # noqa: E402
from vp3d.detect.video import open_detector  # noqa: E402
from vp3d.facts.architecture import ModelConfig  # noqa: E402
from vp3d.io.detections import write_detections  # noqa: E402
from vp3d.io.files import atomic_path, write_json  # noqa: E402
from vp3d.io.formats import write_poses  # noqa: E402
from vp3d.io.video import prefetched, video_frames  # noqa: E402
from vp3d.lift import load_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# The real models' published costs (docs/detector.md): not measured here.
PUBLISHED = [
    ("YOLOX-s / -m / -l, 640x640 (Megvii's model zoo)", "9.0 / 25.3 / 54.2 M params; 26.8 / 73.8 / 155.6 GFLOPs per "
     "frame; 9.8 / 12.3 / 14.5 ms on a V100"),
    ("RTMPose-s / -m / -l, 256x192 (MMPose projects/rtmpose)", "5.47 / 13.59 / 27.66 M params; 0.68 / 1.93 / 4.16 "
     "GFLOPs per person; 4.48 / 11.06 / 18.85 ms per person, ONNX Runtime on an i7-11700; 1.39 / 2.29 / 3.46 ms "
     "TensorRT fp16 on a GTX 1660 Ti"),
]


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720", help="video frame size WxH")
    p.add_argument("--frames", type=cli.positive_int, default=120)
    p.add_argument("--channels", type=cli.positive_int, default=1024, help="the lifting model's channels")
    p.add_argument("--detector-weights", nargs=2, default=None, metavar=("DET", "POSE"),
                   help="OpenMMLab's detector and RTMPose files (.zip or .onnx) instead of the known-answer graphs")
    p.add_argument("--device", default="auto", help="where the detector runs (auto, cpu, cuda)")
    p.add_argument("--threads", type=cli.positive_int, default=None, help="threads (default: physical cores)")
    p.add_argument("--out", default=None, help="write the table (.md) and results (.json) here (default: benchmarks/results/)")
    return p


def rate(frames: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 3), "fps": round(frames / seconds, 1)}


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_dot_video(tmp / "clip.mp4", a.frames, (w, h), 30.0)
        weights = a.detector_weights or [str(p) for p in write_pair(tmp / "graphs")]
        config = ModelConfig((3, 3, 3, 3, 3), a.channels)
        random_checkpoint(config, tmp / "model.bin", seed=0)
        rows = {}

        start = time.perf_counter()
        frames = list(video_frames(tmp / "clip.mp4"))
        rows["decode (imageio-ffmpeg, one thread)"] = rate(len(frames), time.perf_counter() - start)

        detector = open_detector("rtmpose", weights=weights, device=a.device, threads=a.threads)
        detector(frames[0])                                       # sessions open, first-call costs paid
        start = time.perf_counter()
        found = [detector(f) for f in frames]
        label = "detect: the given files" if a.detector_weights else "detect: vp3d's share (known-answer graphs)"
        rows[label] = rate(len(frames), time.perf_counter() - start)

        start = time.perf_counter()
        for _ in prefetched(video_frames(tmp / "clip.mp4")):
            pass
        rows["decode on the background thread (as detection reads it)"] = rate(len(frames), time.perf_counter() - start)

        model = load_model(tmp / "model.bin", threads=a.threads)
        best = np.stack([d.keypoints[d.best()] for d in found])
        model.lift(best[:10], (w, h))                              # the engine's first-call costs paid
        start = time.perf_counter()
        poses = model.lift(best, (w, h), fps=30.0)
        rows[f"lift (RF {model.receptive_field}, {a.channels} ch, {model.description.split(' (')[0]}; 30 -> 50 fps)"] = \
            rate(len(frames), time.perf_counter() - start)

        start = time.perf_counter()
        write_detections(tmp / "w" / "clip.mp4.npz", found, (w, h), 30.0, {"video": {}, "detector": detector.record})
        write_poses(tmp / "w" / "clip.npz", {"clip": poses}, fps=30.0)
        rows["write (the 2D file and the poses, npz)"] = rate(len(frames), time.perf_counter() - start)

        argv = [str(tmp / "clip.mp4"), "-m", str(tmp / "model.bin"), "-o", str(tmp / "e2e" / "clip.npz"),
                "--detector-weights", *weights, "--device", a.device] + (["--threads", str(a.threads)] if a.threads else [])
        start = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                code = vp3d_lift.main(argv)
            finally:
                sys.stdout = stdout
        if code != 0:
            raise SystemExit(f"vp3d_lift.py failed ({code})")
        rows["end to end: vp3d_lift.py clip.mp4 (model load, detection, lift, writes)"] = \
            rate(len(frames), time.perf_counter() - start)

    result = {"date": datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "video": {"size": [w, h], "frames": a.frames, "fps": 30.0}, "detector": detector.description,
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows,
              "published": dict(PUBLISHED)}
    m = result["machine"]
    lines = [f"# bench_video.py, {result['date']}", "",
             f"{m['cpu']}, {m['physical_cores']} cores, {' '.join(m['isa'])}; load average before "
             f"{load_before[0]:.2f}, after {result['loadavg_after'][0]:.2f}", "",
             f"Video {w}x{h}, {a.frames} frames at 30 fps; {detector.description}.", "",
             "| stage | frames/s | seconds |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {r['fps']} | {r['seconds']} |" for name, r in rows.items()]
    lines += ["", "Published costs of the real models (not measured here):", "",
              "| model | published |", "| --- | --- |"]
    lines += [f"| {name} | {cost} |" for name, cost in PUBLISHED]
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(a.out) if a.out else RESULTS / f"bench_video_{datetime.now():%Y%m%d_%H%M%S}"
    with atomic_path(out.with_suffix(".md")) as tmp_md:
        tmp_md.write_text(table)
    write_json(out.with_suffix(".json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
