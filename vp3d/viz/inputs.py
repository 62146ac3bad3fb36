"""Where a render's inputs come from: a preprocess folder's sequence (its 2D input in its camera's pixels,
its ground truth, the camera's up), or one sequence of any 2D keypoint file vp3d_lift.py reads."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import image_coordinates, qinverse, qrot
from vp3d.facts.datasets import dataset
from vp3d.facts.skeleton import DEFAULT_LAYOUT, KeypointLayout, keypoint_layouts, layout_with
from vp3d.io.files import read_array
from vp3d.io.keypoints import read_keypoints
from vp3d.io.poses import select
from vp3d.pipeline.sequences import GROUND_TRUTHS_DIR, INPUTS_DIR, Manifest

LEVEL_UP = np.array([0.0, -1.0, 0.0])        # the world's up in the frame of a level camera (y down)


@dataclass
class Keypoints2D:
    """The 2D input of one sequence: points (T, J, 2) in pixels or normalised screen units (y down),
    in `layout`'s order; image_size (w, h) pixels when the points are pixels of a known image; first_frame:
    the video frame of points[0]; filled: the frames filled by interpolation (None: not known)."""

    points: np.ndarray
    layout: KeypointLayout
    image_size: tuple[int, int] | None = None
    first_frame: int = 0
    filled: np.ndarray | None = None       # (T,) bool: frames without a detection, filled by interpolation


@dataclass
class PrepSequence:
    """One sequence of a preprocess folder: its 2D input (pixels of its camera's image), ground truth
    (T, J, 3) metres, camera frame (every joint absolute, the root on its trajectory), and the world's
    up direction (3,) in that camera's frame."""

    keypoints: Keypoints2D
    ground_truth: np.ndarray
    up: np.ndarray
    fps: float                    # the sequence's frame rate (the dataset's, over the preprocessing's downsampling)


def layout_for(num_joints: int, symmetry) -> KeypointLayout:
    """The named keypoint layout with this joint count and symmetry; a bare one (no edges) otherwise."""
    return layout_with(symmetry, num_joints) or \
        KeypointLayout("unknown", tuple(f"kp{j}" for j in range(num_joints)), symmetry)


def prep_sequence(prep_dir: str | Path, name: str) -> PrepSequence:
    """From a vp3d_preprocess.py folder: sequence `name`'s 2D input (T, J, 2) (the direct copy, padding
    removed, back in pixels of its camera: Human3.6M's or HumanEva-I's), its ground truth and the camera's up
    direction."""
    prep_dir = Path(prep_dir)
    manifest = Manifest.read(prep_dir)
    entry = next((e for e in manifest.entries if e.name == name), None)
    if entry is None:
        raise Vp3dError(f"{prep_dir}: no sequence named {name!r} in the manifest "
                        f"(have {', '.join(e.name for e in manifest.entries[:5])}, ...)")
    inputs = read_array(prep_dir / INPUTS_DIR / f"{name}.bin", manifest.input_shape(entry))
    front = manifest.pad + (manifest.pad if manifest.causal else 0)
    points = inputs[0, front:front + entry.frames]
    stored = read_array(prep_dir / GROUND_TRUTHS_DIR / f"{name}.bin", (entry.frames, manifest.num_joints, 3))
    truth = stored.copy()                  # stored as upstream keeps it: root = trajectory, the rest relative
    truth[:, 1:] += stored[:, :1]          # -> every joint where the camera saw it, as poses files hold them
    layout = layout_for(manifest.num_keypoints, manifest.keypoint_symmetry)
    cameras = dataset(manifest.dataset).cameras.get(entry.subject, ())
    if not 0 <= entry.camera < len(cameras):     # not one of the dataset's cameras: leave the points normalised
        return PrepSequence(Keypoints2D(points, layout), truth, LEVEL_UP, manifest.fps)
    cam = cameras[entry.camera]
    pixels = image_coordinates(points.astype(np.float64), cam.res_w, cam.res_h)
    up = qrot(qinverse(cam.orientation.astype(np.float64)), np.array([0.0, 0.0, 1.0]))  # world z is up
    return PrepSequence(Keypoints2D(pixels, layout, (cam.res_w, cam.res_h)), truth, up, manifest.fps)


def file_keypoints(path: str | Path, name: str, layout: str | None = None,
                   image_size: tuple[int, int] | None = None) -> Keypoints2D:
    """Sequence `name`'s 2D input from any keypoint file vp3d_lift.py reads (io.keypoints.read_keypoints:
    the same frames it lifted, gaps filled; the lifted poses are keyed by the same name): (T, J, 2) pixels.
    layout: the keypoint order ('coco', 'h36m') where the file does not declare one (None: coco, as
    lifting's default); image_size (w, h): where the file gives none (None: the panel fits the points)."""
    return file_keypoint_sequences(path, [name], layout, image_size)[name]


def file_keypoint_sequences(path: str | Path, names: list[str], layout: str | None = None,
                            image_size: tuple[int, int] | None = None) -> dict[str, Keypoints2D]:
    """file_keypoints of several sequences of one file, read once: {name: Keypoints2D}. The names are those
    a lift gave: the highest-scored person's ('<video>'), and where one is not among them, the tracks of
    every person (vp3d_lift.py --people all: '<video>_person<k>'), read then; short ones too (min_frames 1:
    whatever --min-frames the lift had, a name it wrote is found)."""
    seqs = {s.name: s for s in read_keypoints(path, min_frames=1)}
    if any(name not in seqs for name in names):
        seqs.update({s.name: s for s in read_keypoints(path, "all", min_frames=1)})
    layouts = keypoint_layouts()
    out = {}
    for name in names:
        _, seq = select(seqs, name, path)
        if seq.layout is not None and layout is not None and seq.layout != layout:
            raise Vp3dError(f"{path}: {name!r} holds {seq.layout} keypoints, not {layout} (--layout)")
        chosen = seq.layout or layout or DEFAULT_LAYOUT
        if chosen not in layouts:
            raise Vp3dError(f"{path}: keypoint layout {chosen!r} is none of {', '.join(layouts)}")
        kl = layouts[chosen]
        if seq.keypoints.shape[1] != len(kl.names):
            raise Vp3dError(f"{path}: {name!r} has {seq.keypoints.shape[1]} keypoints per frame, the {chosen} "
                            f"layout has {len(kl.names)} (--layout)")
        size = seq.image_size if seq.image_size is not None else image_size
        out[name] = Keypoints2D(seq.keypoints.astype(np.float64), kl,
                                None if size is None else tuple(int(v) for v in size), int(seq.first_frame),
                                seq.filled_frames)
    return out
