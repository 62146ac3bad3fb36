"""From a video to its 2D file: frames decoded on a background thread (io.video.prefetched), the detector on
every frame (a progress bar with frames/s), the detections written as upstream's infer_video_d2.py output
(io.detections) — or, where a run with the same video and detector wrote that file already, reused.

    detector = open_detector("rtmpose", size="m")                  # fetches the published weights once
    path, reused = detections_for_video("clip.mp4", two_d_path("clip.mp4", "out/clip.npz"), detector)
"""
from __future__ import annotations

import functools
import json
import os
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from vp3d.detect.keypointrcnn import KeypointRCNNDetector
from vp3d.detect.rtmpose import RTMPoseDetector, check_detector, check_pose
from vp3d.detect.weights import DEFAULT_SIZE, PUBLISHED, cached_model, read_model
from vp3d.errors import Vp3dError
from vp3d.io.detections import Detections, detections_record, write_detections
from vp3d.io.files import file_sha256
from vp3d.io.video import prefetched, video_frames, video_info

DETECTORS = ("rtmpose", "keypointrcnn")
SIZES = tuple(PUBLISHED)
DEFAULT_DETECTOR = "rtmpose"


def open_detector(name: str = DEFAULT_DETECTOR, size: str = DEFAULT_SIZE, weights: Iterable[str] = (),
                  device: str = "auto", threads: int | None = None, progress: bool | None = None):
    """A detector: frame (H, W, 3) uint8 RGB -> io.detections.Detections, with `record` (what identifies its
    output) and `layout` ('coco'). rtmpose: `weights` DET POSE (.onnx or onnx_sdk .zip), else the published
    pair of `size` (s, m, l), fetched once into the cache; keypointrcnn: `weights` one state dict .pth, else
    torchvision's. Vp3dError for an unknown name or size, or weights of the wrong number or kind."""
    weights = tuple(str(w) for w in weights)
    if name not in DETECTORS:
        raise Vp3dError(f"--detector {name}: unknown detector; choose from {', '.join(DETECTORS)}")
    if size not in PUBLISHED:
        raise Vp3dError(f"--detector-size {size}: choose from {', '.join(SIZES)}")
    if name == "keypointrcnn":
        if len(weights) > 1:
            raise Vp3dError(f"--detector-weights: keypointrcnn takes one state dict (.pth), got {len(weights)} files")
        return KeypointRCNNDetector(weights[0] if weights else None, device, threads, progress)
    if weights and len(weights) != 2:
        raise Vp3dError(f"--detector-weights: rtmpose takes two files, the person detector then RTMPose (DET POSE: "
                        f".onnx or onnx_sdk .zip), got {len(weights)}")
    if weights:
        det, pose = (read_model(w) for w in weights)
    else:
        det, pose = (cached_model(url, check, progress)
                     for url, check in zip(PUBLISHED[size], (check_detector, check_pose)))
    return RTMPoseDetector(det, pose, device, threads)


@dataclass(frozen=True)
class DetectorSpec:
    """open_detector's arguments as one value: the scripts build it from their flags, a corpus's workers each open
    their own detector from it (the first video they lift)."""

    name: str = DEFAULT_DETECTOR
    size: str = DEFAULT_SIZE
    weights: tuple[str, ...] = ()
    device: str = "auto"
    threads: int | None = None

    def open(self, progress: bool | None = None):
        return open_detector(self.name, self.size, self.weights, self.device, self.threads, progress)


@functools.lru_cache(maxsize=1)
def opened(spec: DetectorSpec):
    """spec's detector, opened once per process (a corpus opens it at its first video; its sessions at the first
    frame)."""
    return spec.open(progress=False)


def add_detector_arguments(p) -> None:
    """The detector's flags, shared by vp3d_detect.py and vp3d_lift.py (argparse parser or group)."""
    p.add_argument("--detector", default=DEFAULT_DETECTOR, metavar="NAME",
                   help=f"the 2D detector run on a video: {' or '.join(DETECTORS)} (rtmpose: a person detector and "
                        f"RTMPose on ONNX Runtime; keypointrcnn: torchvision's Keypoint R-CNN, needs a torchvision "
                        f"that works with your torch)")
    p.add_argument("--detector-size", default=DEFAULT_SIZE, metavar="SIZE",
                   help=f"rtmpose: which published pair ({', '.join(SIZES)}), fetched once into the cache "
                        f"($VP3D_CACHE, else $XDG_CACHE_HOME/vp3d or ~/.cache/vp3d)")
    p.add_argument("--detector-weights", nargs="+", default=None, metavar="FILE",
                   help="weights on this machine instead of fetching: rtmpose DET POSE (.onnx, or the onnx_sdk .zip "
                        "files as published), keypointrcnn one state dict .pth")
    p.add_argument("--redetect", action="store_true",
                   help="run the detector even where the 2D file of the same video and detector exists")


def detector_spec(a) -> DetectorSpec:
    """The detector from the parsed flags (add_detector_arguments, --device, --threads)."""
    return DetectorSpec(a.detector, a.detector_size, tuple(a.detector_weights or ()), a.device, a.threads)


def detector_of(a, progress: bool | None = None):
    """open_detector from the parsed flags."""
    return detector_spec(a).open(progress)


def check_detector_layout(detector, layout: str, source) -> None:
    """Vp3dError where the detector's keypoint order is not `layout`, the model's: before detecting."""
    if detector.layout != layout:
        raise Vp3dError(f"{source}: the {detector.name} detector gives {detector.layout}-order keypoints, but the "
                        f"model takes {layout} order; lift with a {detector.layout}-order model (such as upstream's "
                        f"pretrained_h36m_detectron_coco.bin)")


def corpus_keypoints_path(video: str | Path, output: str | Path) -> Path:
    """Where a corpus keeps the 2D file of `video` lifted into `output`: beside it, <output stem><video
    suffix>.npz (out/clip.npz -> out/clip.mp4.npz), unique as the outputs are."""
    output = Path(output)
    return output.with_name(f"{output.stem}{Path(video).suffix}.npz")


def detect_frames(detector, frames: Iterator[np.ndarray], total: int | None = None,
                  progress: bool | None = None) -> list[Detections]:
    """Every frame's Detections, frames decoded on a background thread; a tqdm bar in frames/s (progress
    None: only on a terminal)."""
    from tqdm import tqdm
    with closing(prefetched(frames)) as decoded, tqdm(decoded, total=total, desc="detect", unit="frame",
                                                     disable=None if progress is None else not progress) as bar:
        return [detector(frame) for frame in bar]


def two_d_path(video: str | Path, out: str | Path) -> Path:
    """Where the 2D file of `video` goes beside the output `out` (a file, or a folder: no suffix or ending
    in '/'): <out's folder>/<video file name>.npz, as upstream's infer_video_d2.py names it."""
    out_dir = Path(out) if (str(out).endswith(("/", os.sep)) or not Path(out).suffix) else Path(out).parent
    return out_dir / f"{Path(video).name}.npz"


def video_record(video: str | Path) -> dict:
    """What identifies a video file: its name, size and sha256 (content, not path or time)."""
    video = Path(video)
    return {"name": video.name, "bytes": video.stat().st_size, "sha256": file_sha256(video)}


def detections_for_video(video: str | Path, path: str | Path, detector, redetect: bool = False,
                         progress: bool | None = None, say: Callable[[str], None] = print) -> tuple[Path, bool]:
    """(path, reused): the 2D file of `video` at `path`. Reused where it records this video and detector
    (unless redetect); otherwise the detector runs on every frame and the file is written (atomically: a
    killed run leaves none). Vp3dError where the video cannot be read or has no frames, and where `path`
    holds a file vp3d did not write (it is never replaced)."""
    video, path = Path(video), Path(path)
    info = video_info(video)                        # a file that is not a video fails here, before any work
    record = {"video": video_record(video), "detector": detector.record}
    found = detections_record(path)
    if found is None and path.exists():
        raise Vp3dError(f"{path}: exists and is not a 2D file vp3d's detector wrote; lift it directly, or move "
                        f"it away to detect {video.name} again")
    if found == record and not redetect:
        say(f"[INFO] reused {path}: the 2D keypoints of {video.name} by the same detector (--redetect runs it again)")
        return path, True
    if found is not None and not redetect:
        say(f"[INFO] {path} holds another {'video' if found['video'] != record['video'] else 'detector'}'s "
            f"keypoints: detecting again")
    say(f"[INFO] {detector.description}")
    frames = detect_frames(detector, video_frames(video), info.frames, progress)
    if not frames:
        raise Vp3dError(f"{video}: no frames could be decoded; expected a video with at least one frame")
    people = sum(len(d) > 0 for d in frames)
    write_detections(path, frames, info.size, info.fps, record)
    say(f"[INFO] {video.name}: {len(frames)} frames ({info.size[0]}x{info.size[1]}, {info.fps:g} fps), a person in "
        f"{people}; 2D keypoints in {path}")
    return path, False


def stream_lines(detector, frames: Iterator[np.ndarray], people: str = "best") -> Iterator[str]:
    """One JSON line per frame with a person, as vp3d.stream.json_lines reads them, produced as frames are decoded
    (on a background thread): people 'best', {"frame": i, "keypoints": the best-scored person's [[x, y], ...]};
    'all', every person tracked as they come (io.tracking.PeopleTracker), {"frame_id": i, "instances":
    [{"keypoints": ..., "track_id": "person<k>"}, ...]}."""
    if people == "all":
        from vp3d.io.tracking import PeopleTracker
    tracker = None
    with closing(prefetched(frames)) as decoded:
        for i, frame in enumerate(decoded):
            found = detector(frame)
            if not len(found):
                continue
            if people == "all" and tracker is None:
                tracker = PeopleTracker(found.keypoints.shape[1])
            if tracker is None:
                yield json.dumps({"frame": i, "keypoints": np.round(found.keypoints[found.best()], 3).tolist()})
            else:
                ids = tracker.step(i, found.keypoints)
                yield json.dumps({"frame_id": i, "instances": [
                    {"keypoints": kps, "track_id": f"person{k}"}
                    for kps, k in zip(np.round(found.keypoints, 3).tolist(), ids.tolist(), strict=True)]})
