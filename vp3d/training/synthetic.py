"""Synthetic Human3.6M data, written in exactly upstream VideoPose3D's file formats.

    data_3d_h36m.npz           positions_3d: subject -> action -> (T, 32, 3) float32, world, metres
    data_2d_h36m_<name>.npz    positions_2d: subject -> action -> [4 x (T'_c, 17, 2)] float32, pixels
                               (T'_c = T + 0..3, cameras in calibration order); metadata: a dict
                               (layout 'h36m': the 17 evaluation joints, as the CPN detections; layout
                               'coco': COCO-17 keypoints, as upstream's data_2d_h36m_detectron_pt_coco.npz)

The 3D poses come from an articulated 32-joint skeleton (Human3.6M's parents, realistic bone lengths,
one body per subject) driven by procedural, per-action joint rotations through forward kinematics:
walking (and WalkDog / WalkTogether) around a loop, standing arm gestures with turns on the spot,
and sitting / sitting down on a chair. The world frame is Human3.6M's: z up, floor at z = 0,
subjects near the origin where the four cameras look. The 2D keypoints are the 17 kept joints
projected into each camera with the calibration's distortion, plus detector-like noise (per-joint
Gaussian, temporally correlated jitter, rare outliers and left/right swaps).

Everything is drawn from numpy generators seeded by (seed, subject, action), so one sequence is the
same whichever other subjects or actions are generated with it.

Body frame used for joint rotations: x forward, y to the person's left, z up. Angles are radians
inside the code; pose tables below are written in degrees.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.cameras import Camera, h36m_cameras, project_to_2d, world_to_camera
from vp3d.facts.datasets import h36m_test_lengths
from vp3d.io.datasets import DEFAULT_KEYPOINTS
from vp3d.io.files import atomic_path
from vp3d.facts.architecture import H36M_FPS
from vp3d.facts.skeleton import h36m_skeleton32, kept_joints, keypoint_layouts

FPS = H36M_FPS      # frames per second of the synthetic sequences, as Human3.6M's
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
           "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether")
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
TINY_TAKES = ("Directions 1", "Walking", "Greeting", "SittingDown")  # every subject has these takes
TINY_FRAMES = (60, 120)
KEYPOINT_NAMES = {"h36m": DEFAULT_KEYPOINTS, "coco": "detectron_pt_coco"}   # default file name per layout

# ----------------------------------------------------------------------------------------------
# Skeleton
# ----------------------------------------------------------------------------------------------

_JOINTS = {
    "pelvis": 0, "r_hip": 1, "r_knee": 2, "r_ankle": 3, "l_hip": 6, "l_knee": 7, "l_ankle": 8,
    "spine": 11, "chest": 12, "neck": 13, "head": 14,
    "l_clavicle": 16, "l_shoulder": 17, "l_elbow": 18, "l_wrist": 19,
    "r_clavicle": 24, "r_shoulder": 25, "r_elbow": 26, "r_wrist": 27,
}
_BILATERAL = ("hip", "knee", "ankle", "clavicle", "shoulder", "elbow", "wrist")
_FLEX_SIGN = {"hip": -1, "knee": 1, "ankle": -1, "clavicle": -1, "shoulder": -1, "elbow": -1, "wrist": -1,
              "pelvis": 1, "spine": 1, "chest": 1, "neck": 1, "head": 1}
_ANKLE_JOINTS = [3, 8]
_TOE_JOINTS = [4, 5, 9, 10]

# Offset of each joint from its parent in the rest pose (standing, arms down), metres, body frame.
# Static joints of the 32 layout sit where Human3.6M has them: 11 on the hip, 16/24 on the thorax (13),
# 4/5 toe base and toe tip, 20-23 / 28-31 hand and thumb sites.
_REST_OFFSETS = np.array([
    [0.00, 0.00, 0.00],                                                          # 0 hip (root)
    [0.00, -0.13, -0.02], [0.00, 0.00, -0.45], [0.00, 0.00, -0.45],               # 1-3 right leg
    [0.12, 0.00, -0.08], [0.05, 0.00, 0.00],                                      # 4-5 right toe
    [0.00, 0.13, -0.02], [0.00, 0.00, -0.45], [0.00, 0.00, -0.45],                # 6-8 left leg
    [0.12, 0.00, -0.08], [0.05, 0.00, 0.00],                                      # 9-10 left toe
    [0.00, 0.00, 0.00], [0.01, 0.00, 0.22], [0.00, 0.00, 0.24],                   # 11 spine, 12, 13 thorax
    [0.05, 0.00, 0.09], [-0.02, 0.00, 0.10],                                      # 14 nose, 15 head top
    [0.00, 0.00, 0.24], [0.00, 0.15, -0.03], [0.00, 0.00, -0.28], [0.00, 0.00, -0.25],  # 16-19 left arm
    [0.00, 0.00, -0.07], [0.00, 0.00, -0.05], [0.02, 0.01, -0.04], [0.02, 0.00, -0.02],  # 20-23 hand
    [0.00, 0.00, 0.24], [0.00, -0.15, -0.03], [0.00, 0.00, -0.28], [0.00, 0.00, -0.25],  # 24-27 right arm
    [0.00, 0.00, -0.07], [0.00, 0.00, -0.05], [0.02, -0.01, -0.04], [0.02, 0.00, -0.02],  # 28-31 hand
])


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator seeded by `seed` and string keys (stable across runs and Python versions)."""
    return np.random.default_rng([seed] + [zlib.crc32(k.encode()) for k in keys])


def subject_offsets(subject: str, seed: int = 0) -> np.ndarray:
    """Bone offsets (32, 3), metres, of one subject's rest pose: the template scaled by a factor in
    0.9-1.1 and per-bone noise (~3 %), the same for left and right twins."""
    rng = _rng(seed, "bones", subject)
    scale = rng.uniform(0.9, 1.1)
    factor = 1 + np.clip(rng.normal(0, 0.03, 32), -0.08, 0.08)
    skel = h36m_skeleton32()
    factor[list(skel.joints_left)] = factor[list(skel.joints_right)]
    factor[[16, 24]] = factor[13]  # the clavicle roots stay on the thorax
    return _REST_OFFSETS * (scale * factor)[:, None]


def subject_style(subject: str, seed: int = 0) -> dict:
    """Per-subject motion style: tempo and gesture amplitude factors, posture lean (radians)."""
    rng = _rng(seed, "style", subject)
    return {"tempo": rng.uniform(0.9, 1.1), "amplitude": rng.uniform(0.8, 1.2),
            "posture": np.radians(rng.uniform(-2, 5))}


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """Angles (..., 3) radians about x, y, z -> rotation matrices (..., 3, 3) = Rz @ Ry @ Rx."""
    return np.moveaxis(_euler_to_matrix_first(np.moveaxis(angles, -1, 0)), (0, 1), (-2, -1))


def _euler_to_matrix_first(angles: np.ndarray) -> np.ndarray:
    """euler_to_matrix with the axes leading: angles (3, ...) -> matrices (3, 3, ...)."""
    (cx, cy, cz), (sx, sy, sz) = np.cos(angles), np.sin(angles)
    return np.array([[cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
                     [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
                     [-sy, cy * sx, cy * cx]])


def forward_kinematics(offsets: np.ndarray, angles: np.ndarray, root: np.ndarray,
                       parents=None) -> np.ndarray:
    """Joint positions (T, J, 3), metres, from bone offsets (J, 3), local Euler angles (T, J, 3)
    radians (see euler_to_matrix) and root positions (T, 3).

    Joint j sits at parent + R_parent @ offset_j, with global rotations R_j = R_parent @ local_j.
    """
    parents = h36m_skeleton32().parents if parents is None else parents
    T, J = angles.shape[:2]
    by_joint = np.moveaxis(angles, 0, -1)                 # (J, 3, T): time innermost is fast
    pos = [np.asarray(root, dtype=np.float64).T]          # each (3, T)
    glob = [_euler_to_matrix_first(by_joint[0])]          # each (3, 3, T)
    for j in range(1, J):
        g = glob[parents[j]]
        pos.append(pos[parents[j]] + g[:, 0] * offsets[j, 0] + g[:, 1] * offsets[j, 1] + g[:, 2] * offsets[j, 2])
        if by_joint[j].any():
            r = _euler_to_matrix_first(by_joint[j])
            g = g[:, 0, None] * r[0] + g[:, 1, None] * r[1] + g[:, 2, None] * r[2]
        glob.append(g)
    return np.stack(pos).transpose(2, 0, 1)


def foot_points(pos: np.ndarray, ankle_height: float) -> np.ndarray:
    """The points that can touch the floor (T, 6, 3), metres: the 4 toe joints and a heel
    ankle_height below each ankle, from positions (T, 32, 3)."""
    heels = pos[:, _ANKLE_JOINTS] - np.array([0.0, 0.0, ankle_height])
    return np.concatenate([pos[:, _TOE_JOINTS], heels], axis=1)


def place_on_floor(pos: np.ndarray, ankle_height: float) -> np.ndarray:
    """Shift each frame of positions (T, 32, 3) vertically so its lowest foot point is at z = 0."""
    out = pos.copy()
    out[..., 2] -= foot_points(pos, ankle_height)[..., 2].min(axis=1)[:, None]
    return out


def pinned_track(feet: np.ndarray) -> np.ndarray:
    """Root ground track (T, 2), metres, starting at 0, that keeps the supporting foot point fixed.

    feet: foot_points() (T, 6, 3) of a body whose root stays at the origin (heading applied).
    From frame t to t+1 the root moves opposite to the lowest foot point of frame t, so that
    point does not slide on the floor.
    """
    support = np.argmin(feet[:-1, :, 2], axis=1)
    t = np.arange(len(feet) - 1)
    steps = feet[t, support, :2] - feet[t + 1, support, :2]
    return np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


# ----------------------------------------------------------------------------------------------
# Poses and smooth random signals
# ----------------------------------------------------------------------------------------------

def _dof(key: str) -> list[tuple[int, int, int]]:
    """'l_elbow.flex' -> [(joint, axis, sign)]; a bilateral name ('elbow.flex') gives both sides.

    flex: bend forward (knee: backward; ankle: toes up); abd: limb outward, trunk/head leans left;
    turn: trunk/head turns left, limb rotates inward.
    """
    name, dof = key.split(".")
    if name in _BILATERAL:
        return _dof(f"l_{key}") + _dof(f"r_{key}")
    side = name[:2] if name[:2] in ("l_", "r_") else ""
    kind = name[len(side):]
    if dof == "flex":
        return [(_JOINTS[name], 1, _FLEX_SIGN[kind])]
    if dof == "abd":
        return [(_JOINTS[name], 0, {"l_": 1, "r_": -1, "": -1}[side])]
    if dof == "turn":
        return [(_JOINTS[name], 2, {"l_": -1, "r_": 1, "": 1}[side])]
    raise KeyError(key)


def pose_array(spec: dict) -> np.ndarray:
    """A pose table {'joint.dof': degrees} -> local Euler angles (32, 3), radians."""
    out = np.zeros((32, 3))
    for key, deg in spec.items():
        for joint, axis, sign in _dof(key):
            out[joint, axis] += sign * np.radians(deg)
    return out


def _add(angles: np.ndarray, key: str, values) -> None:
    """Add values (T,) radians to one degree of freedom of angles (T, 32, 3), in place."""
    for joint, axis, sign in _dof(key):
        angles[:, joint, axis] += sign * values


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Valid moving average along axis 0: (N, ...) -> (N - width + 1, ...)."""
    c = np.cumsum(x, axis=0)
    c = np.concatenate([np.zeros_like(c[:1]), c])
    return (c[width:] - c[:-width]) / width


def smooth(x: np.ndarray, width: float) -> np.ndarray:
    """Triangle-filter x (T, ...) along time (two edge-padded moving averages of `width` frames)."""
    w = max(1, int(round(width)))
    if w == 1:
        return x
    xp = np.concatenate([np.repeat(x[:1], w - 1, 0), x, np.repeat(x[-1:], w - 1, 0)])
    return _moving_average(_moving_average(xp, w), w)


def smooth_noise(rng: np.random.Generator, shape: tuple, width: float) -> np.ndarray:
    """Unit-variance Gaussian noise of `shape` (T, ...), smooth along axis 0 over ~2*width frames."""
    w = max(1, int(round(width)))
    white = rng.standard_normal((shape[0] + 2 * (w - 1),) + tuple(shape[1:]))
    if w == 1:
        return white
    kernel = np.convolve(np.ones(w) / w, np.ones(w) / w)
    return _moving_average(_moving_average(white, w), w) / np.sqrt(np.sum(kernel ** 2))


def _segments(rng: np.random.Generator, T: int, hold_s: tuple[float, float]):
    """Random segment durations (frames) covering T frames, and a random start offset into them."""
    lo, hi = (max(1, int(round(h * FPS))) for h in hold_s)
    n = (T + hi) // lo + 2
    return rng.integers(lo, hi + 1, n), int(rng.integers(0, hi))


def pose_weights(rng: np.random.Generator, T: int, k: int, hold_s=(2.0, 5.0), p=None,
                 blend_s=0.5) -> np.ndarray:
    """Blend weights (T, k) summing to 1: one of k poses (probabilities p) held for hold_s seconds
    at a time, with smooth ~2*blend_s second transitions."""
    durations, start = _segments(rng, T, hold_s)
    labels = rng.choice(k, len(durations), p=p)
    frames = np.repeat(labels, durations)[start:start + T]
    return smooth(np.eye(k)[frames], blend_s * FPS)


def _bump(x: np.ndarray, power: float) -> np.ndarray:
    """A smooth periodic bump in [0, 1], 1 at x = 0 (mod 2 pi); higher power = narrower."""
    return ((1 + np.cos(x)) / 2) ** power


# ----------------------------------------------------------------------------------------------
# Motion procedures: each fills local Euler angles (T, 32, 3) radians and a ground track (T, 2) m
# ----------------------------------------------------------------------------------------------

_STAND = {"shoulder.abd": 7, "elbow.flex": 12, "hip.flex": 2, "knee.flex": 3}
_IDLE = {"pelvis.flex": 1, "pelvis.abd": 1, "spine.flex": 2, "spine.abd": 1.5, "spine.turn": 2,
         "chest.flex": 1.5, "chest.turn": 2, "neck.flex": 4, "neck.abd": 2, "neck.turn": 7, "head.flex": 3,
         "clavicle.abd": 1, "shoulder.flex": 4, "shoulder.abd": 3, "elbow.flex": 5, "wrist.flex": 6,
         "hip.flex": 1.5, "knee.flex": 2}
_SEATED = {"hip.flex": 85, "knee.flex": 85, "spine.flex": 5}
_SIT_TRANSITION = {"spine.flex": 35, "neck.flex": -10, "shoulder.flex": 15}  # peak, mid-way down/up
_CROUCH = {"hip.flex": 80, "knee.flex": 110, "ankle.flex": 30, "spine.flex": 30}

_HANDS_FRONT = {"shoulder.flex": 25, "elbow.flex": 75}
_ARMS_CROSSED = {"shoulder.flex": 25, "shoulder.turn": 45, "elbow.flex": 115}
_HANDS_BEHIND = {"shoulder.flex": -25, "shoulder.turn": 70, "elbow.flex": 60}
_HANDS_ON_HIPS = {"shoulder.abd": 40, "shoulder.turn": 60, "elbow.flex": 90}
_CAMERA_UP = {"shoulder.flex": 55, "shoulder.abd": 15, "shoulder.turn": 25, "elbow.flex": 125, "neck.flex": -5}
_R_TO_HEAD = {"r_shoulder.flex": 35, "r_shoulder.abd": 30, "r_shoulder.turn": 20, "r_elbow.flex": 142}
_L_TO_HEAD = {"l_shoulder.flex": 35, "l_shoulder.abd": 30, "l_shoulder.turn": 20, "l_elbow.flex": 142}


def _merge(*specs: dict) -> dict:
    """Sum several pose tables."""
    out: dict = {}
    for spec in specs:
        for key, deg in spec.items():
            out[key] = out.get(key, 0) + deg
    return out


# Per action: key poses (held and blended), hold times (s), oscillations (dof, amplitude deg, Hz,
# index of the pose gating it or None for a random envelope), and whether the person sits.
_ACTIVITIES = {
    "Directions": dict(poses=[{}, {"l_shoulder.flex": 80, "l_shoulder.abd": 25, "l_elbow.flex": 10},
                              {"r_shoulder.flex": 80, "r_shoulder.abd": 25, "r_elbow.flex": 10},
                              {"shoulder.flex": 35, "shoulder.abd": 25, "elbow.flex": 60}],
                       hold=(1.5, 4), osc=[("elbow.flex", 12, 1.0, 3), ("neck.turn", 15, 0.3, None)]),
    "Discussion": dict(poses=[{}, _HANDS_FRONT, {"l_shoulder.flex": 40, "l_shoulder.abd": 20, "l_elbow.flex": 70},
                              {"r_shoulder.flex": 40, "r_shoulder.abd": 20, "r_elbow.flex": 70}, _ARMS_CROSSED],
                       hold=(2, 5), osc=[("l_elbow.flex", 15, 1.3, None), ("r_elbow.flex", 15, 1.1, None),
                                         ("l_shoulder.flex", 10, 0.9, None), ("r_shoulder.flex", 10, 0.8, None),
                                         ("neck.turn", 15, 0.2, None)]),
    "Eating": dict(poses=[{"elbow.flex": 90, "shoulder.flex": 15},
                          _merge(_R_TO_HEAD, {"l_elbow.flex": 90, "l_shoulder.flex": 15, "neck.flex": 10}),
                          _merge(_L_TO_HEAD, {"r_elbow.flex": 90, "r_shoulder.flex": 15, "neck.flex": 10})],
                   hold=(1, 3), p=[0.5, 0.3, 0.2], osc=[("neck.flex", 6, 0.4, None)], seated="always"),
    "Greeting": dict(poses=[{}, {"r_shoulder.abd": 120, "r_shoulder.flex": 20, "r_elbow.flex": 60},
                            {"r_shoulder.flex": 40, "r_elbow.flex": 45, "spine.flex": 10},
                            {"spine.flex": 35, "neck.flex": 15},
                            {"shoulder.flex": 75, "shoulder.abd": 30, "shoulder.turn": 30, "elbow.flex": 70}],
                     hold=(1.5, 4), osc=[("r_elbow.flex", 25, 2.5, 1), ("r_shoulder.flex", 12, 2.0, 2)]),
    "Phoning": dict(poses=[_merge(_R_TO_HEAD, {"neck.abd": -8}),
                           _merge(_R_TO_HEAD, {"l_shoulder.flex": 25, "l_elbow.flex": 60}),
                           _merge(_L_TO_HEAD, {"neck.abd": 8}), {}],
                    hold=(3, 8), p=[0.4, 0.3, 0.2, 0.1], osc=[("l_elbow.flex", 15, 1.0, 1)]),
    "Photo": dict(poses=[_CAMERA_UP, _merge(_CAMERA_UP, _CROUCH), {"elbow.flex": 30},
                         _merge(_CAMERA_UP, {"chest.turn": 20, "spine.flex": 10})],
                  hold=(2, 5), osc=[("neck.turn", 8, 0.3, None)]),
    "Posing": dict(poses=None, hold=(2, 5), osc=[]),  # random poses, drawn per sequence
    "Purchases": dict(poses=[{}, {"spine.flex": 40, "shoulder.flex": 70, "elbow.flex": 15, "neck.flex": -10},
                             {"r_elbow.flex": 90, "r_shoulder.flex": 15}, {"neck.flex": 25, "elbow.flex": 40}],
                      hold=(1.5, 4), osc=[("r_shoulder.flex", 10, 0.7, 1)]),
    "Sitting": dict(poses=[{"shoulder.flex": 35, "elbow.flex": 50}, {"spine.flex": -12, "elbow.flex": 20},
                           {"spine.flex": 25, "shoulder.flex": 30, "elbow.flex": 80},
                           {"r_hip.flex": 12, "r_hip.abd": -12, "r_knee.flex": -25, "elbow.flex": 40},
                           _merge(_R_TO_HEAD, {"l_elbow.flex": 50})],
                    hold=(3, 8), osc=[("l_elbow.flex", 12, 0.8, None), ("neck.turn", 15, 0.2, None)],
                    seated="always"),
    "SittingDown": dict(poses=[{}, {"shoulder.flex": 35, "elbow.flex": 50},
                               {"spine.flex": 20, "shoulder.flex": 30, "elbow.flex": 80}],
                        hold=(2, 5), osc=[("neck.turn", 12, 0.2, None)], seated="cycle"),
    "Smoking": dict(poses=[{"r_shoulder.flex": 10, "r_elbow.flex": 75}, _merge(_R_TO_HEAD, {"neck.flex": -5}),
                           _merge({"r_shoulder.flex": 10, "r_elbow.flex": 75},
                                  {"l_shoulder.abd": 40, "l_shoulder.turn": 60, "l_elbow.flex": 90})],
                    hold=(1.5, 4), p=[0.4, 0.35, 0.25], osc=[]),
    "Waiting": dict(poses=[{}, _ARMS_CROSSED, _HANDS_BEHIND, _HANDS_ON_HIPS, _HANDS_FRONT],
                    hold=(3, 8), osc=[("neck.turn", 20, 0.15, None), ("pelvis.abd", 3, 0.1, None)]),
}
_GUARD = {"shoulder.flex": 40, "shoulder.abd": 15, "shoulder.turn": 35, "elbow.flex": 125, "neck.flex": 8,
          "hip.flex": 8, "knee.flex": 14}
_ACTIVITIES["Box"] = dict(    # HumanEva-I's: a guard, jabs and crosses thrown from it
    poses=[_GUARD, _merge(_GUARD, {"l_shoulder.flex": 45, "l_elbow.flex": -115, "chest.turn": -15}),
           _merge(_GUARD, {"r_shoulder.flex": 45, "r_elbow.flex": -115, "chest.turn": 20})],
    hold=(0.25, 0.7), p=[0.5, 0.25, 0.25], osc=[("knee.flex", 6, 2.2, None), ("neck.turn", 8, 0.4, None)])
_WALKS = ("Walking", "WalkDog", "WalkTogether", "Jog")


def _random_poses(rng: np.random.Generator, k: int = 6) -> list[dict]:
    """k random 'posing' key poses: arms, trunk and one leg in plausible ranges (degrees)."""
    poses = []
    for _ in range(k):
        pose = {"spine.flex": rng.uniform(-10, 25), "spine.abd": rng.uniform(-10, 10),
                "chest.turn": rng.uniform(-25, 25), "neck.turn": rng.uniform(-30, 30)}
        for side in "lr":
            pose.update({f"{side}_shoulder.flex": rng.uniform(-20, 120), f"{side}_shoulder.abd": rng.uniform(0, 100),
                         f"{side}_shoulder.turn": rng.uniform(-30, 60), f"{side}_elbow.flex": rng.uniform(0, 120)})
        side = rng.choice(["l", "r"])
        pose.update({f"{side}_hip.abd": rng.uniform(0, 20), f"{side}_knee.flex": rng.uniform(0, 25)})
        poses.append(pose)
    return poses


def idle_sway(rng: np.random.Generator, T: int, scale: float = 1.0) -> np.ndarray:
    """Small smooth random joint-angle wobble (T, 32, 3), radians: breathing, balance, fidgeting."""
    amps = np.abs(pose_array(_IDLE)) * scale
    moving = amps > 0
    out = np.zeros((T, 32, 3))
    out[:, moving] = amps[moving] * smooth_noise(rng, (T, int(moving.sum())), 0.8 * FPS)
    return out


def standing(rng: np.random.Generator, T: int, style: dict) -> tuple[np.ndarray, np.ndarray]:
    """A person standing near the origin: angles (T, 32, 3) radians with idle sway, and a slowly
    drifting ground track (T, 2) metres. The heading (pelvis.turn) is random and constant."""
    angles = np.broadcast_to(pose_array(_STAND), (T, 32, 3)).copy()
    angles += idle_sway(rng, T)
    _add(angles, "spine.flex", np.full(T, style["posture"]))
    _add(angles, "pelvis.turn", np.full(T, rng.uniform(-np.pi, np.pi)))
    track = rng.uniform(-0.5, 0.5, 2) + 0.12 * smooth_noise(rng, (T, 2), 3 * FPS)
    return angles, track


def add_gestures(angles: np.ndarray, rng: np.random.Generator, action: str, style: dict) -> None:
    """Blend the action's key poses (held a few seconds each) and its oscillations into angles."""
    spec = _ACTIVITIES[action]
    T = len(angles)
    poses = spec["poses"] if spec["poses"] is not None else _random_poses(rng)
    table = np.stack([pose_array(p) for p in poses])
    weights = pose_weights(rng, T, len(poses), spec["hold"], spec.get("p"))
    angles += np.einsum("tk,kjd->tjd", weights, table)
    t = np.arange(T) / FPS
    for key, amp, freq, gate in spec["osc"]:
        env = weights[:, gate] if gate is not None else np.clip(0.6 + 0.5 * smooth_noise(rng, (T,), 2 * FPS), 0, 1)
        wave = np.sin(2 * np.pi * freq * rng.uniform(0.85, 1.15) * t + rng.uniform(0, 2 * np.pi))
        _add(angles, key, np.radians(amp) * style["amplitude"] * env * wave)


def add_turning(angles: np.ndarray, rng: np.random.Generator, hold_s=(2.5, 7.0)) -> None:
    """Turn on the spot now and then (20-150 degrees in ~1 s), stepping while turning."""
    T = len(angles)
    durations, start = _segments(rng, T, hold_s)
    turns = rng.uniform(np.radians(20), np.radians(150), len(durations)) * rng.choice([-1, 1], len(durations))
    turns[0] = 0
    heading = smooth(np.repeat(np.cumsum(turns), durations)[start:start + T], 0.5 * FPS)
    _add(angles, "pelvis.turn", heading)
    rate = np.abs(np.gradient(heading)) * FPS if T > 1 else np.zeros(T)  # rad/s
    gate = np.clip(rate / 1.5, 0, 1)
    phase = 2 * np.pi * 1.8 * np.arange(T) / FPS + rng.uniform(0, 2 * np.pi)
    for side, ph in (("l", phase), ("r", phase + np.pi)):
        lift = gate * np.maximum(0, np.sin(ph))
        _add(angles, f"{side}_hip.flex", np.radians(25) * lift)
        _add(angles, f"{side}_knee.flex", np.radians(50) * lift)
        _add(angles, f"{side}_ankle.flex", np.radians(10) * lift)


def add_sitting(angles: np.ndarray, rng: np.random.Generator, mode: str) -> np.ndarray:
    """Sit on a chair: mode 'always', or 'cycle' (stand 1-4 s, sit down over ~1.5 s, sit 2-7 s, get up).

    The hips lower through hip/knee flexion (the feet stay on the floor); the trunk leans forward
    during each transition. Returns the sitting fraction (T,) in [0, 1].
    """
    T = len(angles)
    if mode == "always":
        sit = np.ones(T)
    else:
        durations, start = _segments(rng, T, (2.0, 7.0))
        states = (np.arange(len(durations)) + rng.integers(2)) % 2
        durations = np.where(states == 1, durations, (durations * 0.6).astype(int) + 1)  # stand shorter
        sit = smooth(np.repeat(states, durations)[start:start + T].astype(float), 0.75 * FPS)
    angles += sit[:, None, None] * pose_array(_SEATED)
    angles += (4 * sit * (1 - sit))[:, None, None] * pose_array(_SIT_TRANSITION)
    return sit


def _rotate_z(x: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate points x (T, ..., 3) about the vertical axis by angle (T,) radians."""
    c = np.cos(angle).reshape((-1,) + (1,) * (x.ndim - 2))
    s = np.sin(angle).reshape(c.shape)
    return np.stack([c * x[..., 0] - s * x[..., 1], s * x[..., 0] + c * x[..., 1], x[..., 2]], axis=-1)


def _gait_angles(angles: np.ndarray, phase: np.ndarray, amp: np.ndarray, gate: np.ndarray,
                 arm: dict, style: dict) -> None:
    """Add a gait cycle to angles (T, 32, 3): phase (T,) radians of the left leg (heel strike at
    pi/2), hip swing amplitude amp (T,) radians, gate (T,) in [0, 1] scaling the whole cycle, arm
    swing factors {'l': , 'r': }. Leg swing, swing-phase knee flexion, stance knee yield, push-off,
    arm counter-swing, pelvis/thorax counter-rotation."""
    for s, ph in (("l", phase), ("r", phase + np.pi)):
        swing, load = _bump(ph + 0.12, 2), _bump(ph - 2.0, 4)
        push, strike = _bump(ph + 0.82, 4), _bump(ph - np.pi / 2, 8)
        hip = amp * np.sin(ph) + np.radians(6) * gate
        knee = gate * (np.radians(58) * swing + np.radians(8) * load)
        # The ankle keeps the foot level, except toes up at heel strike and heel up at push-off.
        ankle = (knee - hip) + gate * (np.radians(10) * strike - np.radians(22) * push)
        _add(angles, f"{s}_hip.flex", hip)
        _add(angles, f"{s}_knee.flex", knee)
        _add(angles, f"{s}_ankle.flex", ankle)
        _add(angles, f"{s}_shoulder.flex", -np.radians(18) * style["amplitude"] * arm[s] * gate * np.sin(ph))
        _add(angles, f"{s}_elbow.flex", np.radians(12) * gate * (1 - np.sin(ph)) / 2)
    _add(angles, "pelvis.turn", -np.radians(5) * gate * np.sin(phase))
    _add(angles, "chest.turn", np.radians(7) * gate * np.sin(phase))
    _add(angles, "pelvis.abd", np.radians(3) * gate * np.cos(phase))


def walking(rng: np.random.Generator, T: int, style: dict, offsets: np.ndarray,
            variant: str = "Walking") -> tuple[np.ndarray, np.ndarray]:
    """Walk round a loop of radius 1.0-1.4 m near the origin, feet pinned to the floor while they
    support the body. Returns angles (T, 32, 3) radians (heading included) and the ground track
    (T, 2) metres. WalkDog: slower, leash arm forward, head down, stops now and then, wavy loop;
    WalkTogether: slower, head turned to a partner, damped arm swing on that side; Jog: faster, longer
    strides, elbows bent."""
    cadence = rng.uniform(0.85, 1.0) * style["tempo"]      # gait cycles per second
    hip_amp = np.radians(rng.uniform(14, 18))
    gate, wobble, arm = np.ones(T), 0.0, {"l": 1.0, "r": 1.0}
    angles = np.broadcast_to(pose_array(_STAND), (T, 32, 3)).copy()
    angles += idle_sway(rng, T, 0.7)
    _add(angles, "spine.flex", np.full(T, np.radians(4)) + style["posture"])
    side = rng.choice(["l", "r"])
    if variant == "WalkDog":
        cadence, hip_amp, wobble, arm[side] = cadence * 0.85, hip_amp * 0.8, 0.25, 0.3
        gate = 1 - 0.85 * pose_weights(rng, T, 2, (2, 5), p=[0.75, 0.25])[:, 1]
        _add(angles, f"{side}_shoulder.flex", np.full(T, np.radians(35)))
        _add(angles, f"{side}_elbow.flex", np.full(T, np.radians(25)))
        _add(angles, "neck.flex", np.full(T, np.radians(15)))
        _add(angles, "spine.flex", np.full(T, np.radians(5)))
    elif variant == "Jog":                                  # HumanEva-I's: quicker, longer strides, arms bent
        cadence, hip_amp = cadence * 1.45, hip_amp * 1.35
        _add(angles, "elbow.flex", np.full(T, np.radians(75)))
        _add(angles, "spine.flex", np.full(T, np.radians(6)))
    elif variant == "WalkTogether":
        cadence, hip_amp, arm[side] = cadence * 0.9, hip_amp * 0.9, 0.4
        look = pose_weights(rng, T, 2, (1.5, 4))[:, 1]
        _add(angles, "neck.turn", np.radians(25) * look * (1 if side == "l" else -1))
    freq = cadence * (1 + 0.04 * smooth_noise(rng, (T,), 3 * FPS))
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(freq) / FPS
    _gait_angles(angles, phase, hip_amp * gate, gate, arm, style)

    # Heading: turn at 1/radius per metre walked (plus wobble), distance from the legs' own steps.
    feet = foot_points(forward_kinematics(offsets, angles, np.zeros((T, 3))), -offsets[4, 2])
    walked = np.linalg.norm(np.diff(pinned_track(feet), axis=0), axis=1)
    radius, direction = rng.uniform(1.0, 1.4), rng.choice([-1.0, 1.0])
    bend = 1 + wobble * np.sin(np.linspace(0, rng.uniform(2, 6) * np.pi * T / (10 * FPS), T - 1))
    heading = rng.uniform(-np.pi, np.pi) + direction * np.concatenate([[0.0], np.cumsum(walked * bend / radius)])
    _add(angles, "pelvis.turn", heading)
    track = pinned_track(_rotate_z(feet, heading))
    # Keep the loop's centre in place: remove its slow drift (a few cm/s of foot slip at most).
    loop_frames = 2 * np.pi * radius / max(walked.mean(), 1e-3)
    drift = smooth(track, loop_frames) if T > 2 * loop_frames else track.mean(axis=0)
    track += rng.uniform(-0.25, 0.25, 2) - drift
    return angles, track


def action_motion(action: str, T: int, offsets: np.ndarray, style: dict,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Local joint angles (T, 32, 3) radians and ground track (T, 2) metres for an action name
    ('Walking', 'SittingDown', ...; no take number)."""
    if action in _WALKS:
        return walking(rng, T, style, offsets, action)
    angles, track = standing(rng, T, style)
    add_gestures(angles, rng, action, style)
    seated = _ACTIVITIES[action].get("seated")
    if seated:
        add_sitting(angles, rng, seated)
    else:
        add_turning(angles, rng)
    return angles, track


def simulate_sequence(action: str, T: int, offsets: np.ndarray, style: dict,
                      rng: np.random.Generator) -> np.ndarray:
    """World positions (T, 32, 3) float32, metres, z up, feet on the floor, of one take."""
    angles, track = action_motion(action, T, offsets, style, rng)
    root = np.concatenate([track, np.zeros((T, 1))], axis=1)
    pos = forward_kinematics(offsets, angles, root)
    return place_on_floor(pos, ankle_height=-offsets[4, 2]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# 2D keypoints
# ----------------------------------------------------------------------------------------------

# Detector noise standard deviation per keypoint, pixels: larger for wrists and feet.
JOINT_SIGMA_PX = np.array([3.0, 3.5, 3.5, 5.0, 3.5, 3.5, 5.0, 3.0, 2.5, 2.5, 3.0,
                           3.0, 4.0, 6.0, 3.0, 4.0, 6.0])
COCO_SIGMA_PX = np.array([2.5, 2.5, 2.5, 3.0, 3.0, 3.0, 3.0, 4.0, 4.0, 6.0, 6.0,
                          3.5, 3.5, 3.5, 3.5, 5.0, 5.0])
_JITTER_FRAMES = 5  # the correlated part of the noise is a moving sum over this many frames
_LEG_SWAP = [0, 4, 5, 6, 1, 2, 3] + list(range(7, 17))
_ARM_SWAP = list(range(11)) + [14, 15, 16, 11, 12, 13]
_COCO_LEG_SWAP = list(range(11)) + [12, 11, 14, 13, 16, 15]
_COCO_ARM_SWAP = [0, 1, 2, 3, 4, 6, 5, 8, 7, 10, 9] + list(range(11, 17))
_NOISE = {"h36m": (JOINT_SIGMA_PX, (_LEG_SWAP, _ARM_SWAP)),          # layout -> (sigma, swap permutations)
          "coco": (COCO_SIGMA_PX, (_COCO_LEG_SWAP, _COCO_ARM_SWAP))}

# COCO keypoints from the 32-joint mocap skeleton: limbs are mocap joints; nose, eyes and ears sit on the
# head, in a frame from the neck/nose joint (14) to the head top (15) (up), the shoulders (left), and
# forward = left x up; offsets from the head's centre (mid 14-15), metres, (forward, up, left).
_COCO_LIMBS = {5: 17, 6: 25, 7: 18, 8: 26, 9: 19, 10: 27, 11: 6, 12: 1, 13: 7, 14: 2, 15: 8, 16: 3}
_COCO_FACE = {0: (0.10, -0.02, 0.0), 1: (0.08, 0.02, 0.032), 2: (0.08, 0.02, -0.032),
              3: (0.0, 0.0, 0.075), 4: (0.0, 0.0, -0.075)}


def keypoints_metadata(layout: str = "h36m") -> dict:
    """The metadata dict of upstream's data_2d_h36m_*.npz files for keypoint layout 'h36m' or 'coco'."""
    kl = keypoint_layouts()[layout]
    return {"layout_name": layout, "num_joints": len(kl.names), "keypoints_symmetry": kl.symmetry.to_json()}


def coco_points(pos3d: np.ndarray) -> np.ndarray:
    """World positions (T, 32, 3), metres -> the 17 COCO keypoints' 3D positions (T, 17, 3), metres."""
    pos = np.asarray(pos3d, dtype=np.float64)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    up = unit(pos[:, 15] - pos[:, 14])
    left = pos[:, 17] - pos[:, 25]
    left = unit(left - np.sum(left * up, axis=-1, keepdims=True) * up)
    forward = np.cross(left, up)
    centre = (pos[:, 14] + pos[:, 15]) / 2
    out = np.empty((len(pos), 17, 3))
    for k, j in _COCO_LIMBS.items():
        out[:, k] = pos[:, j]
    for k, (f, u, l) in _COCO_FACE.items():
        out[:, k] = centre + f * forward + u * up + l * left
    return out


def project_sequence(pos3d: np.ndarray, cam: Camera, layout: str = "h36m") -> np.ndarray:
    """World positions (T, 32, 3), metres -> 17 keypoints in pixels (T, 17, 2), float64: the kept joints
    (layout 'h36m') or COCO's keypoints (layout 'coco', see coco_points)."""
    points = coco_points(pos3d) if layout == "coco" else np.asarray(pos3d, dtype=np.float64)[:, kept_joints()]
    return project_to_2d(world_to_camera(points, cam.orientation, cam.translation), cam)


def detector_noise(rng: np.random.Generator, kp: np.ndarray, outlier_rate: float = 0.005,
                   swap_rate: float = 0.002, layout: str = "h36m") -> np.ndarray:
    """Keypoints (T, 17, 2) pixels -> detector-like: rare left/right leg or arm swaps, per-keypoint
    Gaussian noise (JOINT_SIGMA_PX or COCO_SIGMA_PX; part white, part correlated over ~5 frames), and
    outliers (outlier_rate of the joint-frames) displaced by 20-80 px."""
    T = len(kp)
    out = kp.copy()
    sigma, swaps = _NOISE[layout]
    for perm in swaps:
        frames = rng.random(T) < swap_rate
        out[frames] = out[frames][:, perm]
    sigma = sigma[:, None]
    out += 0.6 * sigma * rng.standard_normal(kp.shape, dtype=np.float32)
    white = rng.standard_normal((T + _JITTER_FRAMES - 1,) + kp.shape[1:], dtype=np.float32)
    jitter = sum(white[k:k + T] for k in range(_JITTER_FRAMES)) / np.sqrt(_JITTER_FRAMES)
    out += 0.8 * sigma * jitter
    frames, joints = np.nonzero(rng.random((T, 17)) < outlier_rate)
    size = rng.uniform(20, 80, len(frames))
    angle = rng.uniform(0, 2 * np.pi, len(frames))
    out[frames, joints] += np.stack([size * np.cos(angle), size * np.sin(angle)], axis=-1)
    return out


def synthesize_2d(pos3d: np.ndarray, cameras, rng: np.random.Generator, noise: bool = True,
                  layout: str = "h36m") -> list:
    """One take's 2D detections: a list, per camera, of (T + 0..3, 17, 2) float32 pixels in keypoint
    `layout` ('h36m' or 'coco'); the extra trailing frames repeat the last pose. noise=False gives the
    exact projections."""
    extra = rng.integers(0, 4, len(cameras))
    out = []
    for cam, e in zip(cameras, extra):
        kp = project_sequence(pos3d, cam, layout)
        kp = np.concatenate([kp, np.repeat(kp[-1:], e, axis=0)])
        if noise:
            kp = detector_noise(rng, kp, layout=layout)
        out.append(kp.astype(np.float32))
    return out


# ----------------------------------------------------------------------------------------------
# Which sequences, how long
# ----------------------------------------------------------------------------------------------

def subject_takes(subject: str) -> list[str]:
    """A subject's take names: the real ones (tsv) for S9/S11, else 'Action' and 'Action 1'."""
    real = h36m_test_lengths()
    if subject in real:
        return list(real[subject])
    return [name for action in ACTIONS for name in (action, f"{action} 1")]


def action_of(take: str) -> str:
    """'Walking 1' -> 'Walking'."""
    return take.split(" ")[0]


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise Vp3dError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_subjects(subjects) -> list[str]:
    subjects = [subjects] if isinstance(subjects, str) else list(subjects)
    known = [s for s in SUBJECTS if s in h36m_cameras()]
    for s in subjects:
        if s not in known:
            raise Vp3dError(f"unknown subject {s!r} (expected some of {', '.join(known)})")
    if not subjects:
        raise Vp3dError("no subjects given")
    return list(dict.fromkeys(subjects))


def _check_actions(actions):
    if actions is None:
        return None
    actions = [actions] if isinstance(actions, str) else list(actions)
    for name in actions:
        m = re.fullmatch(r"(\w+)( \d+)?", str(name))
        if not m or m.group(1) not in ACTIONS:
            raise Vp3dError(f"unknown action {name!r} (expected a take name such as 'Walking' or "
                            f"'Walking 1'; actions: {', '.join(ACTIONS)})")
    return actions


def _check_lengths(lengths):
    """'tiny' | 'real' | N (int >= 2, or its decimal string) -> 'tiny' | 'real' | int."""
    if isinstance(lengths, str) and lengths.strip().isdigit():
        lengths = int(lengths)
    if lengths in ("tiny", "real"):
        return lengths
    if isinstance(lengths, (int, np.integer)) and not isinstance(lengths, bool) and lengths >= 2:
        return int(lengths)
    raise Vp3dError(f"lengths must be 'tiny', 'real' or a frame count >= 2, got {lengths!r}")


def _take_length(subject: str, take: str, lengths, seed: int) -> int:
    rng = _rng(seed, "length", subject, take)
    if lengths == "tiny":
        return int(rng.integers(TINY_FRAMES[0], TINY_FRAMES[1] + 1))
    if lengths == "real":
        real = h36m_test_lengths()
        if take in real.get(subject, {}):
            return real[subject][take]
        same = [n for takes in real.values() for name, n in takes.items() if action_of(name) == action_of(take)]
        return int(round(np.mean(same) * rng.uniform(0.8, 1.2)))
    return max(2, int(round(lengths * (1 + rng.uniform(-0.05, 0.05)))))


def sequence_lengths(subjects=SUBJECTS, actions=None, lengths="tiny", seed: int = 0) -> dict:
    """subject -> take -> frames, for the takes generate() would make (no motion is computed).

    actions: take names ('Walking', 'Walking 1', 'Phoning 2'); a subject lacking a listed take skips
    it. None = all the subject's takes, or TINY_TAKES when lengths == 'tiny'.
    lengths: 'tiny' (60-120 frames), 'real' (S9/S11: the real lengths; others: similar), or N (N +-5 %).
    """
    subjects, actions = _check_subjects(subjects), _check_actions(actions)
    lengths, seed = _check_lengths(lengths), _check_seed(seed)
    if actions is None and lengths == "tiny":
        actions = TINY_TAKES
    plan = {}
    for subject in subjects:
        takes = subject_takes(subject)
        chosen = takes if actions is None else [a for a in dict.fromkeys(actions) if a in takes]
        plan[subject] = {take: _take_length(subject, take, lengths, seed) for take in chosen}
    if not any(plan.values()):
        raise Vp3dError(f"none of the subjects {', '.join(subjects)} has any of the takes {', '.join(actions)}")
    return plan


# ----------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------

def generate(subjects=SUBJECTS, actions=None, lengths="tiny", seed: int = 0,
             noise: bool = True, layout: str = "h36m", cameras: dict | None = None) -> tuple[dict, dict]:
    """Synthetic Human3.6M: (positions_3d, positions_2d) as upstream's .npz files hold them.

    positions_3d: subject -> take -> (T, 32, 3) float32, world metres.
    positions_2d: subject -> take -> [4 x (T + 0..3, 17, 2)] float32 pixels, calibration camera order.
    subjects/actions/lengths as in sequence_lengths(); noise=False gives exact projections; layout: the
    2D keypoints' order, 'h36m' (the 17 kept joints) or 'coco' (COCO-17, nose/eyes/ears placed on the head);
    cameras: subject -> its cameras (default Human3.6M's calibration; random_cameras() for a dataset of your own).
    Raises Vp3dError on a bad argument.
    """
    if layout not in _NOISE:
        raise Vp3dError(f"unknown keypoint layout {layout!r} (expected one of {', '.join(_NOISE)})")
    plan = sequence_lengths(subjects, actions, lengths, seed)
    cameras = cameras or h36m_cameras()
    pos3d: dict = {}
    pos2d: dict = {}
    for subject, takes in plan.items():
        offsets, style = subject_offsets(subject, seed), subject_style(subject, seed)
        pos3d[subject], pos2d[subject] = {}, {}
        for take, frames in takes.items():
            world = simulate_sequence(action_of(take), frames, offsets, style, _rng(seed, "motion", subject, take))
            pos3d[subject][take] = world
            pos2d[subject][take] = synthesize_2d(world, cameras[subject], _rng(seed, "2d", subject, take), noise,
                                                   layout)
    return pos3d, pos2d


def random_cameras(subjects, seed: int = 0, count: int = 4, size: tuple[int, int] = (1920, 1080)) -> dict:
    """Cameras of your own, as a dataset's data_3d file may carry them: per subject, `count` cameras on a ring
    3.5-5 m around the origin, 1-2 m high, looking at the body (1 m up), focal lengths 1300-1700 px, a little
    radial distortion. subject -> tuple of facts.cameras.Camera."""
    out = {}
    for subject in subjects:
        rng = _rng(seed, "cameras", subject)
        cams = []
        for c in range(count):
            angle = 2 * np.pi * (c + rng.uniform(-0.15, 0.15)) / count
            centre = np.array([np.cos(angle) * rng.uniform(3.5, 5.0), np.sin(angle) * rng.uniform(3.5, 5.0),
                               rng.uniform(1.0, 2.0)])
            forward = np.array([0.0, 0.0, 1.0]) - centre
            forward /= np.linalg.norm(forward)
            right = np.cross(forward, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            axes = np.stack([right, np.cross(forward, right), forward], axis=1)   # camera axes (x right, y down) in world
            focal = rng.uniform(1300, 1700)
            cams.append(Camera(id=f"{subject}_cam{c}", res_w=size[0], res_h=size[1],
                               focal_length=np.float32([focal, focal]),
                               center=np.float32([size[0] / 2 + rng.uniform(-20, 20), size[1] / 2 + rng.uniform(-20, 20)]),
                               radial_distortion=np.float32([rng.uniform(-0.05, 0.05), 0, 0]),
                               tangential_distortion=np.float32([0, 0]),
                               orientation=_quaternion(axes).astype(np.float32), translation=centre.astype(np.float32)))
        out[subject] = tuple(cams)
    return out


def _quaternion(r: np.ndarray) -> np.ndarray:
    """The unit quaternion (w, x, y, z) of rotation matrix r (3, 3)."""
    w = np.sqrt(max(0.0, 1 + np.trace(r))) / 2
    if w > 1e-3:
        return np.array([w, (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)])
    i = int(np.argmax(np.diag(r)))
    j, k = (i + 1) % 3, (i + 2) % 3
    v = np.sqrt(max(0.0, 1 + r[i, i] - r[j, j] - r[k, k])) / 2
    q = np.zeros(4)
    q[0], q[1 + i], q[1 + j], q[1 + k] = (r[k, j] - r[j, k]) / (4 * v), v, (r[j, i] + r[i, j]) / (4 * v), \
        (r[k, i] + r[i, k]) / (4 * v)
    return q


def camera_records(cameras: dict) -> dict:
    """subject -> cameras as the 'cameras' of a data_3d file (io.datasets.load_cameras reads them back)."""
    return {s: [{"id": c.id, "res_w": c.res_w, "res_h": c.res_h, "focal_length": c.focal_length, "center": c.center,
                 "radial_distortion": c.radial_distortion, "tangential_distortion": c.tangential_distortion,
                 "orientation": c.orientation, "translation": c.translation} for c in cams]
            for s, cams in cameras.items()}


def save_dataset(out_dir: str | Path, positions_3d: dict, positions_2d: dict,
                 keypoints: str = DEFAULT_KEYPOINTS, layout: str = "h36m", cameras: dict | None = None) -> tuple[Path, Path]:
    """Write out_dir/data_3d_h36m.npz and out_dir/data_2d_h36m_<keypoints>.npz atomically (temp file
    beside each, then rename), the 2D file's metadata for keypoint `layout`, and `cameras` (subject -> Camera
    tuple), where given, in the 3D file; returns the two paths. Raises Vp3dError on a bad name or I/O error."""
    if layout not in _NOISE:
        raise Vp3dError(f"unknown keypoint layout {layout!r} (expected one of {', '.join(_NOISE)})")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(keypoints)):
        raise Vp3dError(f"keypoints name {keypoints!r} must be letters, digits, '_', '.' or '-'")
    out_dir = Path(out_dir)
    path3d, path2d = out_dir / "data_3d_h36m.npz", out_dir / f"data_2d_h36m_{keypoints}.npz"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path3d) as tmp3d, atomic_path(path2d) as tmp2d:
            with open(tmp3d, "wb") as f:
                extra = {"cameras": camera_records(cameras)} if cameras else {}
                np.savez_compressed(f, positions_3d=positions_3d, **extra)
            with open(tmp2d, "wb") as f:
                np.savez_compressed(f, positions_2d=positions_2d, metadata=keypoints_metadata(layout))
    except OSError as e:
        raise Vp3dError(f"{out_dir}: cannot write the dataset ({e.strerror or e})") from None
    return path3d, path2d
