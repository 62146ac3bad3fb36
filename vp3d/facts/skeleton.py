"""Skeletons: Human3.6M's 32-joint mocap layout and 17-joint evaluation layout, HumanEva-I's 15 joints; left/right
symmetry; the 2D keypoint layouts models take.

Facts come from the files the package carries (vp3d/facts/data/: h36m_cameras.json, humaneva15.json).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")     # the datasets' facts the package carries
H36M_FILE = "h36m_cameras.json"
HUMANEVA_FILE = "humaneva15.json"


@functools.lru_cache(maxsize=None)
def facts_file(name: str) -> dict:
    """One of the packaged facts files (DATA_DIR/name), parsed once."""
    with open(DATA_DIR / name) as f:
        return json.load(f)


def h36m_facts() -> dict:
    """Human3.6M's calibration and skeletons (h36m_cameras.json)."""
    return facts_file(H36M_FILE)


def humaneva_facts() -> dict:
    """HumanEva-I's cameras, skeleton, split and takes, as upstream carries them (humaneva15.json)."""
    return facts_file(HUMANEVA_FILE)


@dataclass(frozen=True)
class Symmetry:
    """Left/right twins of a joint layout: left[i] mirrors to right[i] and back."""

    left: tuple[int, ...]
    right: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "left", tuple(int(j) for j in self.left))
        object.__setattr__(self, "right", tuple(int(j) for j in self.right))
        if len(self.left) != len(self.right) or set(self.left) & set(self.right) or min(self.left + self.right, default=0) < 0:
            raise ValueError(f"a symmetry pairs distinct left and right joints, got {list(self.left)} and {list(self.right)}")

    def permutation(self, num_joints: int) -> np.ndarray:
        """p with x[..., p, :] == x with every left joint swapped with its right twin (J = num_joints)."""
        if max(self.left + self.right, default=-1) >= num_joints:
            raise ValueError(f"symmetry names joint {max(self.left + self.right)}, but poses have {num_joints} joints")
        perm = np.arange(num_joints)
        perm[list(self.left + self.right)] = perm[list(self.right + self.left)]
        return perm

    def to_json(self) -> list[list[int]]:
        """[left, right], as upstream's 'keypoints_symmetry' metadata."""
        return [list(self.left), list(self.right)]


NO_SYMMETRY = Symmetry((), ())   # a single joint (the trajectory model's root): mirroring only negates x


def mirror(poses: np.ndarray, symmetry: Symmetry) -> np.ndarray:
    """(..., J, C) -> the mirror image: x (coordinate 0) negated, left and right twins swapped. A new array."""
    out = poses[..., symmetry.permutation(poses.shape[-2]), :]
    out[..., 0] *= -1
    return out


@dataclass(frozen=True)
class Skeleton:
    """Joint tree: parents[j] is j's parent (-1 for the root, joint 0)."""

    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]
    names: tuple[str, ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def symmetry(self) -> Symmetry:
        return Symmetry(self.joints_left, self.joints_right)


def h36m_skeleton32() -> Skeleton:
    """The 32-joint Human3.6M mocap skeleton, as stored in data_3d_h36m.npz."""
    s = h36m_facts()["skeleton32"]
    return Skeleton(tuple(s["parents"]), tuple(s["joints_left"]), tuple(s["joints_right"]))


def h36m_skeleton17() -> Skeleton:
    """The 17-joint layout used by the 2D detections and the evaluation."""
    s = h36m_facts()["skeleton17"]
    return Skeleton(tuple(s["parents"]), tuple(s["joints_left"]), tuple(s["joints_right"]),
                    tuple(s["names"]))


def humaneva_skeleton15() -> Skeleton:
    """HumanEva-I's 15 joints (upstream's ConvertHumanEva.m), as stored in data_3d_humaneva15.npz and evaluated."""
    s = humaneva_facts()["skeleton15"]
    return Skeleton(tuple(s["parents"]), tuple(s["joints_left"]), tuple(s["joints_right"]), tuple(s["names"]))


def static_joints() -> list[int]:
    """The 15 mocap joints dropped to go from 32 to 17 joints (they never move relative to a parent)."""
    return list(h36m_facts()["static_joints_removed"])


def kept_joints() -> list[int]:
    """Indices into the 32-joint layout of the 17 evaluated joints, in order."""
    removed = set(static_joints())
    return [j for j in range(len(h36m_facts()["skeleton32"]["parents"])) if j not in removed]


@dataclass(frozen=True)
class KeypointLayout:
    """The order and mirror symmetry of 2D keypoints a model takes."""

    name: str                 # 'h36m', 'coco' or 'humaneva15'
    names: tuple[str, ...]    # one per keypoint, in order
    symmetry: Symmetry
    edges: tuple[tuple[int, int], ...] = ()   # the bones to draw between keypoints (index pairs)


COCO_KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                       "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                       "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
# COCO's own 'skeleton' (person_keypoints annotations), 0-based: legs, hips, torso, arms, face.
COCO_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
              (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))


# OpenPose's body keypoint orders (its output's pose_keypoints_2d), by the names OpenPose gives them.
OPENPOSE_BODY_25 = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
                    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
                    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
OPENPOSE_COCO_18 = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
                    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")


def coco_from_openpose(names: tuple[str, ...]) -> np.ndarray:
    """(17,) indices into an OpenPose keypoint order of COCO-17's keypoints, matched by name
    ('LShoulder' -> 'left_shoulder', 'Nose' -> 'nose')."""
    def coco_name(n: str) -> str:
        return {"L": "left_", "R": "right_"}[n[0]] + n[1:].lower() if n[0] in "LR" and n[1].isupper() else n.lower()
    index = {coco_name(n): i for i, n in enumerate(names)}
    return np.asarray([index[n] for n in COCO_KEYPOINT_NAMES])


DEFAULT_LAYOUT = "coco"   # lifting's default keypoint order: upstream's in-the-wild model takes COCO (Detectron)


@functools.lru_cache(maxsize=None)
def keypoint_layouts() -> dict[str, KeypointLayout]:
    """'h36m': the 17-joint Human3.6M order (CPN detections, the evaluation skeleton); 'coco': COCO-17
    (Detectron, MMPose, upstream's in-the-wild model), symmetry as upstream's custom-data metadata;
    'humaneva15': HumanEva-I's 15 joints (its ground-truth 2D, data_2d_humaneva15_gt.npz)."""
    coco_left = tuple(i for i, n in enumerate(COCO_KEYPOINT_NAMES) if n.startswith("left_"))
    coco_right = tuple(i for i, n in enumerate(COCO_KEYPOINT_NAMES) if n.startswith("right_"))

    def of_skeleton(name: str, s: Skeleton) -> KeypointLayout:
        return KeypointLayout(name, s.names, s.symmetry, tuple((p, j) for j, p in enumerate(s.parents) if p >= 0))
    return {"h36m": of_skeleton("h36m", h36m_skeleton17()),
            "coco": KeypointLayout("coco", COCO_KEYPOINT_NAMES, Symmetry(coco_left, coco_right), COCO_EDGES),
            "humaneva15": of_skeleton("humaneva15", humaneva_skeleton15())}


def layout_with(symmetry: Symmetry | None, num_joints: int | None = None) -> KeypointLayout | None:
    """The named keypoint layout with this symmetry (and joint count, where given), or None."""
    return next((layout for layout in keypoint_layouts().values() if layout.symmetry == symmetry
                 and num_joints in (None, len(layout.names))), None)
