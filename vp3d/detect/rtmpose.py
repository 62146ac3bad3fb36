"""--detector rtmpose: a person detector (YOLOX or RTMDet) then RTMPose (COCO-17) on each person, from the
ONNX files OpenMMLab publishes, on ONNX Runtime.

    detector  input `input` (1, 3, H, W): the frame letterboxed (imaging.letterbox, pad 114);
              outputs `dets` (1, N, 5) x1, y1, x2, y2, score in input pixels and `labels` (1, N), NMS inside
    RTMPose   input `input` (B, 3, h, w): one crop per person box (imaging.center_scale, padding 1.25,
              imaging.crop); outputs `simcc_x` (B, 17, w r), `simcc_y` (B, 17, h r), r the SimCC split ratio

The preprocessing follows each file's pipeline.json (MMDeploy's record of the model's own pipeline) where
it comes with one, and otherwise the models' published configurations (docs/detector.md), which say:
YOLOX takes OpenCV's BGR frame as it is (no mean/std), RTMDet BGR with mean (103.53, 116.28, 123.675) and
std (57.375, 57.12, 58.395), RTMPose RGB (bgr_to_rgb=True) with mean (123.675, 116.28, 103.53) and std
(58.395, 57.12, 57.375). Boxes of class 0 (person) scored at least the box threshold (pipeline.json's
ResizeBBox score_thr, else 0.3, as MMPose's demos) are kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vp3d.detect import imaging
from vp3d.detect.weights import ModelFile
from vp3d.engines import devices
from vp3d.engines.backends import ort_session
from vp3d.errors import Vp3dError
from vp3d.io.detections import Detections
from vp3d.io.onnx_meta import graph_io, load_onnx_bytes

JOINTS = 17                   # COCO-17: what the lifting models take
PERSON = 0                    # the person class of COCO-trained detectors
BOX_THRESHOLD = 0.3           # MMPose's demos' --bbox-thr; pipeline.json's ResizeBBox score_thr where given
CROP_PADDING = 1.25           # MMPose's GetBBoxCenterScale default for RTMPose
VERSION = 1                   # of this pre- and post-processing: part of a 2D file's detector record


@dataclass(frozen=True)
class Preprocess:
    """How a model's input is made from an RGB frame: channel order, mean and std in that order (None: the
    0..255 values as they are), letterbox pad value."""

    rgb: bool
    mean: tuple | None = None
    std: tuple | None = None
    pad: float = 114.0


YOLOX = Preprocess(rgb=False)
RTMDET = Preprocess(rgb=False, mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395))
RTMPOSE = Preprocess(rgb=True, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


def _steps(pipeline: dict | None, transforms: bool = True, postprocess: bool = True) -> list[dict]:
    """The transform and/or postprocess entries of an SDK pipeline.json, in order."""
    out = []
    for task in (pipeline or {}).get("pipeline", {}).get("tasks", []):
        if isinstance(task, dict):
            out += [t for t in task.get("transforms", []) if isinstance(t, dict)] if transforms else []
            if postprocess and "component" in task:
                out.append({"type": task["component"], **(task.get("params") or {})})
    return out


def _preprocess(model: ModelFile, default: Preprocess) -> Preprocess:
    """The model's Preprocess from its pipeline.json's transforms (Normalize: mean, std, to_rgb; Pad:
    pad_val), else `default`. SDK transforms without Normalize feed the frame as loaded: BGR, unscaled."""
    steps = {s.get("type"): s for s in _steps(model.pipeline, postprocess=False)}
    if not steps:
        return default
    norm, pad = steps.get("Normalize"), steps.get("Pad", {}).get("pad_val", default.pad)
    pad = pad.get("img", default.pad) if isinstance(pad, dict) else pad
    pad = float(pad[0] if isinstance(pad, (list, tuple)) else pad)
    try:
        if norm is None:
            return Preprocess(False, None, None, pad)
        return Preprocess(bool(norm.get("to_rgb", False)), tuple(map(float, norm["mean"])),
                          tuple(map(float, norm["std"])), pad)
    except (KeyError, TypeError, ValueError):
        raise Vp3dError(f"{model.where}: pipeline.json's Normalize has no mean and std") from None


def _setting(model: ModelFile, step: str, key: str, default: float) -> float:
    for s in _steps(model.pipeline):
        if s.get("type") == step and isinstance(s.get(key), (int, float)):
            return float(s[key])
    return default


def _signature(model: ModelFile) -> tuple[dict, dict]:
    return graph_io(load_onnx_bytes(model.onnx, model.where))


DETECTOR_SIGNATURE = "input 'input' (1, 3, H, W) -> 'dets' (1, N, 5), 'labels' (1, N) (an OpenMMLab end2end.onnx detector)"
POSE_SIGNATURE = "input 'input' (B, 3, h, w) -> 'simcc_x' (B, 17, w r), 'simcc_y' (B, 17, h r) (an RTMPose end2end.onnx)"


def check_detector(model: ModelFile) -> tuple[int, int]:
    """The detector's input size (W, H); Vp3dError naming the file where its signature is not DETECTOR_SIGNATURE."""
    inputs, outputs = _signature(model)
    shape = next(iter(inputs.values()), ())
    dets, labels = outputs.get("dets"), outputs.get("labels")
    if len(inputs) != 1 or len(shape) != 4 or shape[0] not in (1, None) or shape[1] != 3 or None in shape[2:] \
            or dets is None or len(dets) != 3 or dets[2] != 5 or labels is None or len(labels) != 2:
        raise Vp3dError(f"{model.where}: inputs {_shapes(inputs)}, outputs {_shapes(outputs)}; expected "
                        f"{DETECTOR_SIGNATURE}")
    return shape[3], shape[2]


def check_pose(model: ModelFile) -> tuple[tuple[int, int], float, bool]:
    """(the pose model's input size (w, h), its SimCC split ratio, whether it takes several crops at once);
    Vp3dError naming the file where its signature is not POSE_SIGNATURE or its keypoints are not COCO-17."""
    inputs, outputs = _signature(model)
    shape = next(iter(inputs.values()), ())
    x, y = outputs.get("simcc_x"), outputs.get("simcc_y")
    if len(inputs) != 1 or len(shape) != 4 or shape[1] != 3 or None in shape[2:] or x is None or y is None \
            or len(x) != 3 or len(y) != 3:
        raise Vp3dError(f"{model.where}: inputs {_shapes(inputs)}, outputs {_shapes(outputs)}; expected {POSE_SIGNATURE}")
    if x[1] != JOINTS or y[1] != JOINTS:
        raise Vp3dError(f"{model.where}: gives {x[1]} keypoints per person; vp3d's lifting models take COCO-17 "
                        f"(an RTMPose body model with 17 keypoints)")
    h, w = shape[2:]
    ratio = _setting(model, "SimCCLabelDecode", "simcc_split_ratio", x[2] / w if x[2] else 2.0)
    if (x[2] and x[2] != round(w * ratio)) or (y[2] and y[2] != round(h * ratio)):
        raise Vp3dError(f"{model.where}: SimCC vectors of {x[2]} and {y[2]} bins for a {w}x{h} input; expected "
                        f"{round(w * ratio)} and {round(h * ratio)} (split ratio {ratio:g})")
    return (w, h), ratio, shape[0] != 1


def _shapes(io: dict) -> str:
    return ", ".join(f"{n!r} {tuple('?' if d is None else d for d in s)}" for n, s in io.items()) or "none"


class RTMPoseDetector:
    """A person detector and RTMPose on ONNX Runtime: frame (H, W, 3) uint8 RGB -> Detections (COCO-17).
    The files' signatures and settings are checked at once; the sessions open on the first frame (a 2D
    file that is reused needs only `record`)."""

    name = "rtmpose"
    layout = "coco"

    def __init__(self, det: ModelFile, pose: ModelFile, device: str = "auto", threads: int | None = None):
        self.det_size = check_detector(det)
        self.pose_size, self.split_ratio, self.batched = check_pose(pose)
        self.det_prep = _preprocess(det, RTMDET if "rtmdet" in det.where.lower() else YOLOX)
        self.pose_prep = _preprocess(pose, RTMPOSE)
        self.box_threshold = _setting(det, "ResizeBBox", "score_thr", BOX_THRESHOLD)
        self.padding = _setting(pose, "TopDownGetBboxCenterScale", "padding", CROP_PADDING)
        self.device = devices.resolve_device(device, devices.onnxruntime_devices(), ("cpu", "cuda", "tensorrt"),
                                             "the rtmpose detector (ONNX Runtime)", "needs onnxruntime-gpu and an "
                                             "NVIDIA GPU for cuda")
        self.threads = threads or devices.physical_cores()
        self.files = (det, pose)
        self.sessions = None

    @property
    def description(self) -> str:
        det, pose = self.files
        return (f"rtmpose detector: {det.where} ({self.det_size[0]}x{self.det_size[1]}) then {pose.where} "
                f"({self.pose_size[0]}x{self.pose_size[1]}) on ONNX Runtime ({self.device})")

    def _run(self, which: int, outputs: list[str], x: np.ndarray) -> list[np.ndarray]:
        if self.sessions is None:
            self.sessions = [ort_session(f.onnx, self.threads, self.device, f.where, spin=False)   # numpy between
                             for f in self.files]
        session = self.sessions[which]
        return session.run(outputs, {session.get_inputs()[0].name: x})

    @property
    def record(self) -> dict:
        """What identifies this detector's output: weights and settings (a 2D file's 'detector' record)."""
        return {"name": self.name, "version": VERSION, "weights": [f.sha256 for f in self.files],
                "box_threshold": self.box_threshold}

    def boxes(self, frame: np.ndarray) -> np.ndarray:
        """(N, 5) person boxes x1, y1, x2, y2, score in frame pixels, score >= box_threshold, best first."""
        image, scale = imaging.letterbox(frame, self.det_size, self.det_prep.pad)
        x = imaging.normalize(image[None], self.det_prep.mean, self.det_prep.std, self.det_prep.rgb)
        dets, labels = self._run(0, ["dets", "labels"], x)
        dets, labels = np.asarray(dets, np.float64)[0], np.asarray(labels)[0]
        keep = (labels == PERSON) & (dets[:, 4] >= self.box_threshold) & np.isfinite(dets).all(axis=1)
        boxes = dets[keep]
        boxes[:, :4] /= np.tile(scale, 2)
        return boxes[np.argsort(-boxes[:, 4], kind="stable")]

    def __call__(self, frame: np.ndarray) -> Detections:
        boxes = self.boxes(frame)
        if not len(boxes):
            return Detections.none(JOINTS)
        w, h = self.pose_size
        centers, scales = imaging.center_scale(boxes[:, :4], self.padding, w / h)
        crops = imaging.crop(frame, centers, scales, self.pose_size)
        x = imaging.normalize(crops, self.pose_prep.mean, self.pose_prep.std, self.pose_prep.rgb)
        runs = [x] if self.batched else np.split(x, len(x))
        outs = [self._run(1, ["simcc_x", "simcc_y"], part) for part in runs]
        simcc_x, simcc_y = (np.concatenate([o[i] for o in outs]) for i in (0, 1))
        points, scores = imaging.decode_simcc(simcc_x, simcc_y, self.split_ratio)
        keypoints = imaging.to_frame(points, centers, scales, self.pose_size)
        return Detections(boxes.astype(np.float32), keypoints.astype(np.float32), scores.astype(np.float32))
