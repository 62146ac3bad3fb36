"""Lifting users' own 2D keypoints to 3D poses, from a checkpoint or an exported model.

    model = vp3d.load_model("pretrained_h36m_detectron_coco.bin")          # or an .onnx / .xml
    poses = model.lift(keypoints, image_size=(1920, 1080))                  # (T, 17, 3) metres
    videos = model.lift_file("clip.json", image_size=(1920, 1080))          # {name: (T, 17, 3)}

The path is upstream's in-the-wild one (run.py --render --viz-export): pixels normalised by the image
width (cameras.normalize_screen_coordinates), edge padding, the mirrored copy run beside the input and
un-flipped into the average (predict.predict_sequence, in chunks: bounded memory for any length); a
checkpoint that also holds a trajectory model adds its root trajectory (same padding and flip, x negated)
to every joint. The poses are camera-frame metres: root-relative, or absolute with a trajectory model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import Vp3dError
from .cameras import normalize_screen_coordinates
from .fileio import unique_stems
from .formats import WRITERS, write_poses
from .keypoint_files import KeypointSequence, read_keypoints
from .predict import DEFAULT_CHUNK, Runner, predict_sequence, torch_runner
from .skeleton import KeypointLayout, Symmetry, h36m_skeleton17, keypoint_layouts, layout_with

DEFAULT_KEYPOINTS = "coco"    # upstream's in-the-wild model takes COCO-order keypoints (Detectron)
NO_SYMMETRY = Symmetry((), ())   # the trajectory's one joint: mirroring only negates x


@dataclass
class Lifter:
    """A loaded model ready to lift 2D keypoint sequences; see load_model."""

    run: Runner                         # (2, L, J_in, 2) -> (2, L - RF + 1, 17, 3), metres
    receptive_field: int
    causal: bool
    layout: KeypointLayout              # order and symmetry of the keypoints the model takes
    length: int | None = None           # fixed input length L of an exported model; None: any
    trajectory: Runner | None = None    # (2, L, J_in, 2) -> (2, L - RF + 1, 1, 3): the root, camera frame
    chunk: int = DEFAULT_CHUNK
    description: str = ""

    @property
    def joint_symmetry(self) -> Symmetry:
        return h36m_skeleton17().symmetry

    def lift(self, keypoints: np.ndarray, image_size: tuple[int, int] | None = None,
             normalized: bool = False, progress: bool | None = False, desc: str = "") -> np.ndarray:
        """(T, J, 2) keypoints in pixels of an image of image_size (w, h) — or normalised screen coordinates
        with normalized=True — in the model's keypoint layout -> (T, 17, 3) float32 poses, metres, camera
        frame. progress: a tqdm bar (None: only on a terminal)."""
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
            kps = normalize_screen_coordinates(kps, w, h)
        from tqdm import tqdm
        passes = 2 if self.trajectory is not None else 1
        with tqdm(total=passes * len(kps), desc=desc or "lift", unit="frame", disable=None if progress is None
                  else not progress, leave=False) as bar:
            args = (self.receptive_field, self.causal, self.layout.symmetry)
            kwargs = {"length": self.length} if self.length else {"chunk": self.chunk}
            poses = predict_sequence(_counting(self.run, bar), kps, *args, self.joint_symmetry, **kwargs)
            if self.trajectory is not None:
                poses += predict_sequence(_counting(self.trajectory, bar), kps, *args, NO_SYMMETRY, **kwargs)
        return poses.astype(np.float32, copy=False)

    def check(self, seq: KeypointSequence, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
        """The image size (w, h) to normalise `seq` with: the file's own, else `image_size`; Vp3dError where
        the file and the model disagree (layout, symmetry, keypoint count) or no size is known."""
        where = f"{seq.source}: {seq.name!r}" if seq.source else repr(seq.name)
        if seq.layout is not None and seq.layout != self.layout.name:
            raise Vp3dError(f"{where}: {seq.layout} keypoints, but the model takes {self.layout.name} order "
                            f"(--keypoints {self.layout.name}); lift them with a {seq.layout}-order model")
        if seq.symmetry is not None and seq.symmetry != self.layout.symmetry:
            raise Vp3dError(f"{where}: keypoints_symmetry {seq.symmetry.to_json()} differs from the "
                            f"{self.layout.name} layout's {self.layout.symmetry.to_json()}")
        if seq.keypoints.shape[1] != len(self.layout.names):
            raise Vp3dError(f"{where}: {seq.keypoints.shape[1]} keypoints per frame, the model takes "
                            f"{len(self.layout.names)} ({self.layout.name} order)")
        return image_size_for(seq, image_size)

    def lift_sequence(self, seq: KeypointSequence, image_size: tuple[int, int] | None = None,
                      progress: bool | None = False) -> np.ndarray:
        """One read sequence -> (T, 17, 3) metres, camera frame."""
        return self.lift(seq.keypoints, self.check(seq, image_size), progress=progress, desc=seq.name)

    def lift_file(self, path: str | Path, image_size: tuple[int, int] | None = None,
                  progress: bool | None = False) -> dict[str, np.ndarray]:
        """Every sequence in a keypoint file (keypoint_files.FORMATS) -> {name: (T, 17, 3) metres}."""
        seqs = read_keypoints(path)
        for seq in seqs:
            self.check(seq, image_size)
        return {seq.name: self.lift_sequence(seq, image_size, progress) for seq in seqs}


def _counting(run: Runner, bar) -> Runner:
    """`run`, advancing `bar` by the output frames of each call (not past its total: padded last windows)."""
    def counted(x: np.ndarray) -> np.ndarray:
        y = run(x)
        bar.update(min(y.shape[1], bar.total - bar.n))
        return y
    return counted


def image_size_for(seq: KeypointSequence, image_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (w, h) to normalise `seq` with: the file's own (upstream's npz), else `image_size`; Vp3dError if neither."""
    if seq.image_size is not None:
        return check_image_size(seq.image_size)
    if image_size is None:
        where = f"{seq.source}: {seq.name!r}" if seq.source else repr(seq.name)
        raise Vp3dError(f"{where}: the file gives no image size; give --image-size W H (or --video FILE)")
    return check_image_size(image_size)


def check_image_size(size) -> tuple[int, int]:
    """(w, h) as positive ints; Vp3dError otherwise."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise Vp3dError(f"image size {size!r}: expected (width, height) in pixels") from None
    if w < 1 or h < 1:
        raise Vp3dError(f"image size {w}x{h}: width and height must be positive")
    return w, h


def layout_of(config, keypoints: str | None, path: str | Path) -> KeypointLayout:
    """The keypoint layout to lift with: `keypoints` ('coco', 'h36m'), checked against the symmetry the
    model records (vp3d's checkpoints and exports carry it); None: the recorded one, else DEFAULT_KEYPOINTS."""
    layouts = keypoint_layouts()
    if keypoints is not None and keypoints not in layouts:
        raise Vp3dError(f"unknown keypoint layout {keypoints!r}; choose from {', '.join(layouts)}")
    recorded = config.symmetry if config is not None else None
    match = layout_with(recorded) if recorded is not None else None
    if keypoints is None:
        return match or layouts[DEFAULT_KEYPOINTS]
    if recorded is not None and layouts[keypoints].symmetry != recorded:
        raise Vp3dError(f"{path}: the model was trained on keypoints with left/right {recorded.to_json()} "
                        f"({match.name if match else 'another layout'}), not the {keypoints} layout")
    return layouts[keypoints]


def load_model(path: str | Path, keypoints: str | None = None, backend: str = "auto", device: str = "auto",
               precision: str = "f32", threads: int | None = None, causal: bool | None = None,
               chunk: int = DEFAULT_CHUNK) -> Lifter:
    """A Lifter for a checkpoint (.bin/.pth/.pt/.tar, any layout; with its trajectory model where it holds
    one) or an exported model (.onnx, .xml: ONNX Runtime / OpenVINO). keypoints: the 2D layout the model
    was trained on, 'coco' or 'h36m' (None: what the model records, else coco, as upstream's in-the-wild
    model); causal: what the model records, else this (upstream files cannot tell). backend, device,
    precision, threads: as vp3d_infer.py. Vp3dError names the file and what is wrong."""
    from .backends import REGISTRY, check_precision, open_session, resolve_backend
    from .devices import physical_cores
    if int(chunk) < 1:
        raise Vp3dError(f"chunk must be a positive number of frames, got {chunk}")
    backend = resolve_backend(path, backend)
    if backend == "torch":
        import torch
        from .checkpoint import load_with_trajectory
        if precision != "f32":
            raise Vp3dError(f"precision {precision}: lifting with a checkpoint runs f32; export it (vp3d_pth2onnx.py "
                            f"--dynamic) and lift with --backend openvino for bf16")
        device = REGISTRY[backend].resolve_device(device)
        torch.set_num_threads(threads or physical_cores())
        model, traj = load_with_trajectory(path, device, causal=causal)
        c = model.config
        layout = layout_of(c, keypoints, path)
        lifter = Lifter(torch_runner(model, device), c.receptive_field, c.causal, layout,
                        trajectory=None if traj is None else torch_runner(traj, device), chunk=int(chunk),
                        description=f"torch on {device}, receptive field {c.receptive_field}"
                                    f"{', with trajectory model' if traj is not None else ''}")
        joints_in, joints_out = c.num_joints_in, c.num_joints_out
    else:
        check_precision(backend, precision)
        session = open_session(path, backend, threads, device, precision)
        if session.receptive_field is None:
            raise Vp3dError(f"{path}: cannot tell the model's receptive field from its input and output shapes "
                            f"{session.input_shape} -> {session.output_shape}; export it with vp3d_pth2onnx.py")
        c = session.config
        if c is not None and causal is not None and causal != c.causal:
            raise Vp3dError(f"{path}: the model records that it is {'' if c.causal else 'not '}causal")
        layout = layout_of(c, keypoints, path)
        lifter = Lifter(session.run, session.receptive_field, c.causal if c else bool(causal), layout,
                        length=session.input_shape[1], chunk=int(chunk), description=session.describe())
        joints_in, joints_out = session.input_shape[2], session.output_shape[2]
    if joints_in != len(layout.names):
        raise Vp3dError(f"{path}: the model takes {joints_in} keypoints, the {layout.name} layout has "
                        f"{len(layout.names)}")
    if joints_out != h36m_skeleton17().num_joints:
        raise Vp3dError(f"{path}: the model gives {joints_out} joints, expected the 17 of Human3.6M")
    return lifter


def image_size_from_video(path: str | Path) -> tuple[int, int]:
    """(w, h) pixels of a video file, from its metadata (needs imageio-ffmpeg: pip install imageio-ffmpeg)."""
    path = Path(path)
    if not path.is_file():
        raise Vp3dError(f"{path}: no such video file")
    try:
        import imageio_ffmpeg
    except ImportError:
        raise Vp3dError(f"{path}: reading a video's size needs imageio-ffmpeg (pip install imageio-ffmpeg); "
                        f"or give --image-size W H") from None
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        w, h = meta["size"]
    except Exception as e:
        raise Vp3dError(f"{path}: cannot read the video's size ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''})") from None
    return int(w), int(h)


def per_video_paths(out_dir: str | Path, names: list[str], suffix: str) -> dict[str, Path]:
    """{name: out_dir/<stem><suffix>}: stems from fileio.unique_stems (safe alphabet, unique), so every
    file is inside out_dir and no two videos share one."""
    out_dir = Path(out_dir)
    return {name: out_dir / f"{stem}{suffix}" for name, stem in zip(names, unique_stems(names))}


OUTPUT_FORMATS = tuple(s[1:] for s in WRITERS)    # npz, json, csv, bvh


def write_outputs(out: str | Path, poses: dict[str, np.ndarray], fmt: str | None = None, fps: float = 50.0,
                  **options) -> list[Path]:
    """Write lifted poses: to one file when `out`'s suffix names a format (formats.WRITERS: all videos in
    it; BVH holds one), else into the directory `out`, one <video>.<fmt> per video (names made safe and
    unique, every file inside `out`). `fps` and `options` (BVH's units, origin) go to the writer."""
    out = Path(out)
    if out.suffix.lower() in WRITERS:
        if fmt is not None and "." + fmt != out.suffix.lower():
            raise Vp3dError(f"{out}: the suffix says {out.suffix.lower()[1:]}, the format asked for is {fmt}")
        write_poses(out, poses, fps=fps, **options)
        return [out]
    if out.exists() and not out.is_dir():
        raise Vp3dError(f"{out}: not a directory, and its suffix is none of {', '.join(WRITERS)}")
    paths = per_video_paths(out, list(poses), "." + (fmt or "npz"))
    for name, path in paths.items():
        write_poses(path, {name: poses[name]}, fps=fps, **options)
    return list(paths.values())
