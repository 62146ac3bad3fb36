"""Synthetic HumanEva-I data, written in exactly the files upstream's data/prepare_data_humaneva.py writes.

    data_3d_humaneva15.npz                    positions_3d: 'Validate/S1' -> 'Walking 1 chunk0' -> (T, 15, 3) float32,
                                              world, metres
    data_2d_humaneva15_gt.npz                 positions_2d: the same keys -> [3 x (T, 15, 2)] float32 pixels: the
                                              joints' exact projections (upstream's ground-truth 2D); metadata
                                              'humaneva15'
    data_2d_humaneva15_detectron_pt_coco.npz  COCO-17 keypoints with detector noise (metadata 'coco'), and the
                                              corrupt stretches' 2D under 'Unlabeled/<split>/<subject>'

The bodies and motions are synthetic.py's (its articulated 32-joint body; HumanEva's 15 joints taken from it), one
body per subject (S1-S3, the same in Train/ and Validate/), at 60 fps. Takes follow upstream's index: each split
subject's 'Walking 1', 'Jog 1', 'ThrowCatch 1' (not S3: ConvertHumanEva.m skips its damaged mocap), 'Gestures 1',
'Box 1'. Half the takes have a stretch of corrupt mocap (4-12 frames) that splits them, as prepare_data_humaneva.py
does, into 'chunk0' and 'chunk2', with 'chunk1' unlabelled. The cameras are upstream's (facts.cameras); upstream
carries no intrinsics for HumanEva-I, so the images are made with a pinhole of FOCAL_PX pixels centred in 640 x 480.
Everything is drawn from generators seeded by (seed, subject, take).
"""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import humaneva_cameras, project_to_2d, world_to_camera
from vp3d.facts.datasets import dataset, humaneva_takes
from vp3d.facts.skeleton import keypoint_layouts
from vp3d.io.files import atomic_path
from vp3d.pipeline.resample import resample, resampled_length
from vp3d.training import synthetic as syn

DATASET = dataset("humaneva15")
MOCAP_JOINTS = [0, 13, 17, 18, 19, 25, 26, 27, 6, 7, 8, 1, 2, 3, 15]   # HumanEva's 15 in synthetic.py's 32-joint body
MOTIONS = {"Walking": "Walking", "Jog": "Jog", "ThrowCatch": "Greeting", "Gestures": "Directions", "Box": "Box"}
FOCAL_PX = 500.0              # the synthetic images' focal length (upstream has none for HumanEva-I)
KEYPOINTS = {"gt": "humaneva15", "detectron_pt_coco": "coco"}    # the 2D files written: name -> keypoint layout
TINY_FRAMES = (60, 120)
GAP_FRAMES = (4, 12)


def takes() -> dict[str, list[str]]:
    """Split subject -> its labelled takes, as upstream's converter writes them (S3 without ThrowCatch)."""
    return {subject: [t for t in names if not (subject.endswith("S3") and t.startswith("ThrowCatch"))]
            for subject, names in humaneva_takes().items()}


def _cameras(subject: str):
    """The subject's three cameras with the synthetic pinhole intrinsics."""
    return [dataclasses.replace(cam, focal_length=np.float32([FOCAL_PX, FOCAL_PX]),
                                center=np.float32([cam.res_w / 2, cam.res_h / 2]),
                                radial_distortion=np.zeros(3, np.float32), tangential_distortion=np.zeros(2, np.float32))
            for cam in humaneva_cameras()[subject]]


def _take_length(subject: str, take: str, lengths, seed: int) -> int:
    if lengths == "real":
        start, end = humaneva_takes()[subject][take]
        return end - start
    if lengths == "tiny":
        return int(syn._rng(seed, "length", subject, take).integers(TINY_FRAMES[0], TINY_FRAMES[1] + 1))
    return int(lengths)


def _simulate(subject: str, take: str, frames: int, seed: int) -> np.ndarray:
    """World positions (frames, 32, 3) float32 metres at 60 fps: synthetic.py's body of the subject (the same in
    Train/ and Validate/), simulated at its 50 fps and resampled."""
    person = subject.split("/")[-1]
    offsets, style = syn.subject_offsets(person, seed), syn.subject_style(person, seed)
    at_50 = resampled_length(frames, DATASET.fps, syn.FPS)
    world = syn.simulate_sequence(MOTIONS[take.split(" ")[0]], max(at_50, 2), offsets, style,
                                  syn._rng(seed, "motion", subject, take))
    return resample(world, syn.FPS, DATASET.fps, frames).astype(np.float32)


def generate(subjects=None, actions=None, lengths="tiny", seed: int = 0, noise: bool = True) -> tuple[dict, dict]:
    """Synthetic HumanEva-I: (positions_3d, {'gt': positions_2d, 'detectron_pt_coco': positions_2d}) as upstream's
    files hold them (see the module's docstring). subjects: split subjects ('Validate/S1'; None: all six); actions:
    take names ('Walking 1'; None: every take); lengths: 'tiny' (60-120 frames a take), 'real' (upstream's index)
    or N; noise=False leaves the COCO keypoints exact projections too."""
    plan = takes()
    subjects = list(plan) if subjects is None else [subjects] if isinstance(subjects, str) else list(subjects)
    for s in subjects:
        if s not in plan:
            raise Vp3dError(f"unknown HumanEva-I subject {s!r} (expected some of {', '.join(plan)})")
    every = sorted({t for names in plan.values() for t in names})
    for a in actions or ():
        if a not in every:
            raise Vp3dError(f"unknown HumanEva-I take {a!r} (expected some of {', '.join(every)})")
    lengths, seed = syn._check_lengths(lengths), syn._check_seed(seed)
    pos3d, pos2d = {}, {name: {} for name in KEYPOINTS}
    for subject in subjects:
        pos3d[subject] = {}
        for name in pos2d:
            pos2d[name][subject] = {}
        for take in plan[subject]:
            if actions is not None and take not in actions:
                continue
            frames = _take_length(subject, take, lengths, seed)
            body = _simulate(subject, take, frames, seed)
            rng = syn._rng(seed, "2d", subject, take)
            cams = _cameras(subject)
            gt = [project_to_2d(world_to_camera(body[:, MOCAP_JOINTS].astype(np.float64), c.orientation, c.translation),
                                c) for c in cams]
            coco = [project_to_2d(world_to_camera(syn.coco_points(body), c.orientation, c.translation), c)
                    for c in cams]
            if noise:
                coco = [syn.detector_noise(rng, kp.astype(np.float32), layout="coco") for kp in coco]
            for chunk, (start, end), labelled in _chunks(rng, frames):
                name = f"{take} chunk{chunk}"
                if labelled:
                    pos3d[subject][name] = body[start:end, MOCAP_JOINTS]
                    pos2d["gt"][subject][name] = [kp[start:end].astype(np.float32) for kp in gt]
                where = subject if labelled else f"Unlabeled/{subject}"
                pos2d["detectron_pt_coco"].setdefault(where, {})[name] = [kp[start:end].astype(np.float32)
                                                                          for kp in coco]
    return pos3d, pos2d


def _chunks(rng: np.random.Generator, frames: int) -> list[tuple[int, tuple[int, int], bool]]:
    """[(chunk number, (start, end) frames, labelled)]: the whole take, or (half the time, where it is long enough)
    chunk0, a corrupt chunk1 of GAP_FRAMES frames, chunk2."""
    gap = int(rng.integers(GAP_FRAMES[0], GAP_FRAMES[1] + 1))
    if rng.uniform() < 0.5 or frames < gap + 20:
        return [(0, (0, frames), True)]
    cut = int(rng.integers(10, frames - gap - 10 + 1))
    return [(0, (0, cut), True), (1, (cut, cut + gap), False), (2, (cut + gap, frames), True)]


def keypoints_metadata(layout: str) -> dict:
    """The metadata of upstream's 2D files for keypoint `layout` (its data/data_utils.py's dicts)."""
    kl = keypoint_layouts()[layout]
    return {"layout_name": layout, "num_joints": len(kl.names), "keypoints_symmetry": kl.symmetry.to_json()}


def save_dataset(out_dir: str | Path, positions_3d: dict, positions_2d: dict) -> list[Path]:
    """Write out_dir/data_3d_humaneva15.npz and a data_2d_humaneva15_<name>.npz per 2D file, atomically."""
    out_dir = Path(out_dir)
    paths = [out_dir / DATASET.file_3d] + [out_dir / DATASET.file_2d(name) for name in positions_2d]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as files:            # every file is renamed into place, or none
            tmps = [files.enter_context(atomic_path(path)) for path in paths]
            with open(tmps[0], "wb") as f:               # a file object: np.savez adds '.npz' to a name
                np.savez_compressed(f, positions_3d=positions_3d)
            for tmp, (name, pos2d) in zip(tmps[1:], positions_2d.items()):
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, positions_2d=pos2d, metadata=keypoints_metadata(KEYPOINTS[name]))
    except OSError as e:
        raise Vp3dError(f"{out_dir}: cannot write the dataset ({e.strerror or e})") from None
    return paths
