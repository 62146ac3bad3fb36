"""Lifting users' own 2D keypoints to 3D poses, from a checkpoint or an exported model.

    model = vp3d.load_model("pretrained_h36m_detectron_coco.bin")          # or an .onnx / .xml
    poses = model.lift(keypoints, image_size=(1920, 1080))                  # (T, J, 3) metres (17 joints; 15 for
    videos = model.lift_file("clip.json", image_size=(1920, 1080))          # {name: (T, J, 3)}   HumanEva models)
    poses = model.lift(keypoints, image_size=(1920, 1080), fps=30)         # a 30 fps video, same T

The path is upstream's in-the-wild one (run.py --render --viz-export): pixels normalised by the image
width (cameras.normalize_screen_coordinates), edge padding, the mirrored copy run beside the input and
un-flipped into the average (predict.predict_sequence, in chunks: bounded memory for any length); a
checkpoint that also holds a trajectory model adds its root trajectory (same padding and flip, x negated)
to every joint. The poses are camera-frame metres: root-relative, or absolute with a trajectory model.
Keypoints at another frame rate than the model was trained at are resampled to its rate, lifted, and the
poses taken back at the input's frames (pipeline.resample): the model's receptive field then spans the
time it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vp3d.engines.backends import TorchSession, open_session, resolve_backend
from vp3d.errors import Vp3dError
from vp3d.facts.architecture import H36M_FPS
from vp3d.facts.cameras import check_image_size, check_within_image, normalize_screen_coordinates
from vp3d.facts.datasets import dataset_with_joints, skeleton_of
from vp3d.facts.skeleton import (DEFAULT_LAYOUT, NO_SYMMETRY, KeypointLayout, Skeleton, Symmetry, h36m_skeleton17,
                                  keypoint_layouts, layout_with)
from vp3d.io.files import refuse_empty
from vp3d.io.keypoints import KeypointSequence, read_keypoints
from vp3d.io.poses import Poses
from vp3d.pipeline.predict import DEFAULT_CHUNK, Runner, predict_sequence
from vp3d.pipeline.resample import resample



@dataclass
class Lifter:
    """A loaded model ready to lift 2D keypoint sequences; see load_model."""

    run: Runner                         # (2, L, J_in, 2) -> (2, L - RF + 1, J, 3), metres
    receptive_field: int
    causal: bool
    layout: KeypointLayout              # order and symmetry of the keypoints the model takes
    length: int | None = None           # fixed input length L of an exported model; None: any
    trajectory: Runner | None = None    # (2, L, J_in, 2) -> (2, L - RF + 1, 1, 3): the root, camera frame
    chunk: int = DEFAULT_CHUNK
    description: str = ""
    fps: float = H36M_FPS               # frame rate the model was trained at
    folded: Callable[[], tuple] | None = None   # () -> (pose, trajectory or None) FoldedModels, for stream()
    skeleton: Skeleton = field(default_factory=h36m_skeleton17)   # the J joints it gives (17 Human3.6M, 15 HumanEva)

    @property
    def joint_symmetry(self) -> Symmetry:
        return self.skeleton.symmetry

    def lift(self, keypoints: np.ndarray, image_size: tuple[int, int] | None = None,
             normalized: bool = False, progress: bool | None = False, desc: str = "",
             fps: float | None = None, max_frames: int | None = None) -> np.ndarray:
        """(T, J, 2) keypoints in pixels of an image of image_size (w, h) — or normalised screen coordinates
        with normalized=True — in the model's keypoint layout -> (T, J, 3) float32 poses, metres, camera
        frame. fps: the keypoints' frame rate (None: the model's, self.fps); at another rate they are
        resampled to the model's, lifted, and the poses interpolated back to the T input frames, refused
        where that makes more than max_frames frames (None: facts.limits.frame_limit's default).
        progress: a tqdm bar (None: only on a terminal)."""
        kps = np.asarray(keypoints)
        j = len(self.layout.names)
        if kps.ndim != 3 or kps.shape[1:] != (j, 2) or kps.shape[0] < 1 or not np.issubdtype(kps.dtype, np.number):
            raise Vp3dError(f"keypoints of shape {kps.shape}: expected (T, {j}, 2), {self.layout.name} order")
        if not np.isfinite(kps).all():
            raise Vp3dError(f"keypoints: non-finite values, first at frame {int(np.argwhere(~np.isfinite(kps))[0, 0])}")
        kps = kps.astype(np.float32)
        if not normalized:
            if image_size is None:
                raise Vp3dError("pixel keypoints need image_size=(width, height); or pass normalized=True")
            w, h = check_image_size(image_size)
            check_within_image(kps, (w, h), desc or "keypoints")
            kps = normalize_screen_coordinates(kps, w, h)
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise Vp3dError(f"fps must be a positive frame rate, got {fps}")
        frames, fps = len(kps), self.fps if fps is None else float(fps)
        try:
            kps = resample(kps, fps, self.fps, max_frames=max_frames)   # the model's rate (itself when equal)
        except Vp3dError as e:
            raise Vp3dError(f"{desc or 'keypoints'}: {e}") from None
        from tqdm import tqdm
        passes = 2 if self.trajectory is not None else 1
        with tqdm(total=passes * len(kps), desc=desc or "lift", unit="frame", disable=None if progress is None
                  else not progress, leave=False) as bar:
            args = (self.receptive_field, self.causal, self.layout.symmetry)
            kwargs = {"length": self.length} if self.length else {"chunk": self.chunk}
            poses = predict_sequence(_counting(self.run, bar), kps, *args, self.joint_symmetry, **kwargs)
            if self.trajectory is not None:
                poses += predict_sequence(_counting(self.trajectory, bar), kps, *args, NO_SYMMETRY, **kwargs)
        poses = resample(poses, self.fps, fps, frames)                  # back at the input's frames
        return poses.astype(np.float32, copy=False)

    def stream(self, image_size: tuple[int, int] | None = None, lookahead: int | None = None,
               normalized: bool = False, engine: str | None = None, threads: int | None = None,
               fps: float | None = None):
        """A live stream.Stream: push one frame's (J, 2) pixel keypoints at a time, get final poses back.
        Symmetric models answer frame t on the push of frame t + lag (lag = lookahead, default
        (RF - 1) / 2: exactly lift()'s poses); causal models answer at once. engine: what runs the matrix
        products (engines.stream_layers.ENGINES; None: engines.stream_layers.default_engine()). fps: the keypoints' rate
        (None: the model's); another is resampled as lift(fps=...) does, and `lag` grows. See vp3d.stream."""
        from vp3d.stream import Stream
        if self.folded is None:
            raise Vp3dError(f"{self.description}: streaming needs a checkpoint or an .onnx export (it reads "
                            f"their weights), not this model file")
        pose, trajectory = self.folded()
        return Stream(self, pose, trajectory, image_size, lookahead, normalized, engine, threads, fps)

    def check(self, seq: KeypointSequence, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """The image size (w, h) to normalise `seq` with: the file's own, else `image_size`; Vp3dError where
        the file and the model disagree (layout, symmetry, keypoint count) or no size is known."""
        where = seq.where
        if seq.layout is not None and seq.layout != self.layout.name:
            raise Vp3dError(f"{where}: the file holds {seq.layout}-order keypoints, but the model takes "
                            f"{self.layout.name} order; lift them with a {seq.layout}-order model")
        if seq.symmetry is not None and seq.symmetry != self.layout.symmetry:
            raise Vp3dError(f"{where}: keypoints_symmetry {seq.symmetry.to_json()} differs from the "
                            f"{self.layout.name} layout's {self.layout.symmetry.to_json()}")
        if seq.keypoints.shape[1] != len(self.layout.names):
            raise Vp3dError(f"{where}: {seq.keypoints.shape[1]} keypoints per frame, the model takes "
                            f"{len(self.layout.names)} ({self.layout.name} order)")
        return image_size_for(seq, image_size)

    def lift_sequences(self, seqs: list[KeypointSequence], image_size: tuple[int, int] | None = None,
                       progress: bool | None = False, fps: float | None = None,
                       max_frames: int | None = None) -> Poses:
        """Read sequences -> Poses {name: (T, J, 3) metres} with their facts: each sequence's first frame
        and filled frames, the frame rate (rate_of). Every one is checked (check) before any is lifted, each at
        fps, else the rate its file records, else the Poses' rate; max_frames as lift."""
        sizes = [self.check(seq, image_size) for seq in seqs]
        rate = self.rate_of(seqs, fps)
        return Poses({seq.name: self.lift(seq.keypoints, size, progress=progress, desc=seq.where,
                                          fps=fps or seq.fps or rate, max_frames=max_frames)
                      for seq, size in zip(seqs, sizes)}, first_frames={seq.name: seq.first_frame for seq in seqs},
                     fps=rate, filled={seq.name: seq.filled_frames for seq in seqs})

    def rate_of(self, seqs: list[KeypointSequence], fps: float | None = None) -> float:
        """The frame rate of sequences' poses: fps, else the first rate their files record, else the model's."""
        return fps or next((seq.fps for seq in seqs if seq.fps), self.fps)

    def lift_file(self, path: str | Path, image_size: tuple[int, int] | None = None,
                  progress: bool | None = False, fps: float | None = None, people: str = "best",
                  min_score: float | None = None, min_frames: int | None = None,
                  max_frames: int | None = None) -> Poses:
        """Every sequence in a keypoint file or folder (io.keypoints.FORMATS; people, min_score, min_frames,
        max_frames as io.keypoints.read_keypoints) -> Poses {name: (T, J, 3) metres}, with each sequence's
        first frame; fps, max_frames as lift."""
        return self.lift_sequences(read_keypoints(path, people, min_score, min_frames, max_frames), image_size,
                                   progress, fps, max_frames)


def _folded_of(session, path: str | Path, causal: bool) -> Callable[[], tuple] | None:
    """() -> (pose, trajectory or None) model.folded.FoldedModels of a loaded session: a checkpoint's torch
    models, or an .onnx file's initializers; None for other files."""
    from vp3d.model import folded
    if isinstance(session, TorchSession):
        traj = session.trajectory
        return lambda: (folded.from_torch(session.model), folded.from_torch(traj.model) if traj else None)
    if Path(path).suffix.lower() == ".onnx":
        return lambda: (folded.from_onnx(path, causal), None)
    return None


def _counting(run: Runner, bar) -> Runner:
    """`run`, advancing `bar` by the output frames of each call (not past its total: padded last windows)."""
    def counted(x: np.ndarray) -> np.ndarray:
        y = run(x)
        bar.update(min(y.shape[1], bar.total - bar.n))
        return y
    return counted


def image_size_for(seq: KeypointSequence, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (w, h) to normalise `seq` with: the file's own (upstream's npz), else `image_size`; Vp3dError if
    neither, or where the keypoints lie far outside that image (check_within_image)."""
    where = seq.where
    if seq.image_size is not None:
        size = check_image_size(seq.image_size)
    elif image_size is None:
        raise Vp3dError(f"{where}: the file gives no image size; give the frame size: image_size=(w, h) "
                        f"(vp3d_lift.py: --image-size W H, or --video FILE)")
    else:
        size = check_image_size(image_size)
    check_within_image(seq.keypoints, size, where)
    return size


def layout_of(config, layout: str | None, path: str | Path, num_keypoints: int | None = None) -> KeypointLayout:
    """The keypoint layout to lift with: `layout` ('coco', 'h36m', 'humaneva15'), checked against the symmetry the
    model records (vp3d's checkpoints and exports carry it); None: the recorded one, else DEFAULT_LAYOUT, or for a
    model taking another number of keypoints (`num_keypoints`: 15, HumanEva's) the layout with that many."""
    layouts = keypoint_layouts()
    if layout is not None and layout not in layouts:
        raise Vp3dError(f"unknown keypoint layout {layout!r}; choose from {', '.join(layouts)}")
    recorded = config.symmetry if config is not None else None
    match = layout_with(recorded) if recorded is not None else None
    if layout is None:
        default = layouts[DEFAULT_LAYOUT]
        if match or num_keypoints in (None, len(default.names)):
            return match or default
        return next((kl for kl in layouts.values() if len(kl.names) == num_keypoints), default)
    if recorded is not None and layouts[layout].symmetry != recorded:
        raise Vp3dError(f"{path}: the model was trained on keypoints with left/right {recorded.to_json()} "
                        f"({match.name if match else 'another layout'}), not the {layout} layout")
    return layouts[layout]


def _step_lifter(path: str | Path, meta: dict, layout: str | None) -> Lifter:
    """A Lifter of a streaming-step export (vp3d_pth2onnx.py --stream): stream() only, its weights read back
    (model.stream_export.from_step_onnx); lift() is refused."""
    from vp3d.facts.architecture import ModelConfig
    from vp3d.model.stream_export import from_step_onnx
    config = ModelConfig.from_json(meta["model_args"]) if "model_args" in meta else None

    def refuse(x):
        raise Vp3dError(f"{path}: a streaming-step export lifts frame by frame: use .stream() (vp3d_lift.py - "
                        f"--stream), or lift from the checkpoint or its window export")
    keypoints = config.num_joints_in if config else None
    return Lifter(refuse, meta["receptive_field"], bool(meta["causal"]), layout_of(config, layout, path, keypoints),
                  description=f"streaming-step export {path}", fps=config.fps if config else H36M_FPS,
                  folded=lambda: (from_step_onnx(path), None),
                  skeleton=skeleton_of(config.num_joints_out, f"{path}: the model's output") if config else h36m_skeleton17())


@dataclass(frozen=True)
class ModelSpec:
    """load_model's arguments as one value (the scripts build it from their flags; a Ray actor loads its own
    copy from it)."""

    path: str
    layout: str | None = None           # the 2D keypoint order the model takes (None: what it records)
    backend: str = "auto"
    device: str = "auto"
    precision: str = "f32"
    threads: int | None = None
    causal: bool | None = None
    chunk: int = DEFAULT_CHUNK

    def load(self, threads: int | None = None) -> Lifter:
        """The Lifter; `threads` overrides the spec's CPU threads (a Ray actor's share)."""
        return load_model(self.path, layout=self.layout, backend=self.backend, device=self.device,
                          precision=self.precision, threads=threads or self.threads, causal=self.causal,
                          chunk=self.chunk)


def load_model(path: str | Path, layout: str | None = None, backend: str = "auto", device: str = "auto",
               precision: str = "f32", threads: int | None = None, causal: bool | None = None,
               chunk: int = DEFAULT_CHUNK) -> Lifter:
    """A Lifter for a checkpoint (.bin/.pth/.pt/.tar, any weight layout; with its trajectory model where it holds
    one) or an exported model (.onnx, .xml: ONNX Runtime / OpenVINO): 17 joints out (Human3.6M's skeleton) or 15
    (HumanEva-I's). layout: the 2D keypoint order the model was trained on, 'coco', 'h36m' or 'humaneva15' (None:
    what the model records, else coco, as upstream's in-the-wild model, or humaneva15 for 15 keypoints in); causal: what the model records, else this (upstream files cannot tell). backend,
    device, precision, threads: as vp3d_infer.py (engines.backends.open_session). Vp3dError names the file
    and what is wrong."""
    if int(chunk) < 1:
        raise Vp3dError(f"chunk must be a positive number of frames, got {chunk}")
    refuse_empty(path, "a checkpoint (.bin, .pth) or an exported model (.onnx, .xml)")
    if resolve_backend(path, backend) == "ais_bench":
        raise Vp3dError(f"{path}: ais_bench runs whole input directories on an NPU; lift with onnxruntime, "
                        f"openvino or torch")
    if Path(path).suffix.lower() == ".onnx" and Path(path).is_file():
        from vp3d.model.stream_export import stream_metadata
        meta = stream_metadata(path)
        if meta is not None:
            return _step_lifter(path, meta, layout)
    session = open_session(path, backend, threads, device, precision, causal=causal)
    if session.receptive_field is None:
        raise Vp3dError(f"{path}: cannot tell the model's receptive field from its input and output shapes "
                        f"{session.input_shape} -> {session.output_shape}; export it with vp3d_pth2onnx.py")
    c = session.config
    if c is not None and causal is not None and causal != c.causal:
        raise Vp3dError(f"{path}: the model records that it is {'' if c.causal else 'not '}causal")
    joints_in, joints_out = session.input_shape[2], session.output_shape[2]
    keypoint_layout = layout_of(c, layout, path, joints_in)
    if joints_in != len(keypoint_layout.names):
        raise Vp3dError(f"{path}: the model takes {joints_in} keypoints, the {keypoint_layout.name} layout has "
                        f"{len(keypoint_layout.names)}")
    skeleton = skeleton_of(joints_out, f"{path}: the model's output")
    trajectory = session.trajectory
    return Lifter(session.run, session.receptive_field, c.causal if c else bool(causal), keypoint_layout,
                  length=session.input_shape[1], trajectory=trajectory.run if trajectory else None,
                  chunk=int(chunk), description=session.describe(),
                  fps=c.fps if c else dataset_with_joints(joints_out).fps,     # a file without vp3d's facts
                  folded=_folded_of(session, path, c.causal if c else bool(causal)), skeleton=skeleton)
