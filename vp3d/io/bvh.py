"""BVH export of 3D poses (Biovision hierarchy: Blender, Unity, MotionBuilder import it).

Joints are the skeleton's joint names (Human3.6M's 17 or HumanEva-I's 15, by the poses' joint count:
facts.datasets.skeleton_of), every character other than a letter, digit or '_' replaced by '_'
('Neck/Nose' -> 'Neck_Nose'). A joint with several children (Hip: RHip, LHip, Spine; Thorax: Neck/Nose,
LShoulder, RShoulder; HumanEva's Pelvis and Thorax likewise) gets one zero-length branch joint
per child, named after the child plus 'Joint' ('RHipJoint', 'SpineJoint', 'Neck_NoseJoint', ...), as
CMU's BVH files do with 'LHipJoint': each bone then has a joint of its own whose rotation points it
exactly where the predicted bone points. Bone lengths are constant per motion (the median over
frames); the rest pose is a T-pose facing +z.

Axes: Y up, right-handed. Camera-frame poses (x right, y down, z forward) are turned 180 degrees
about the camera's x axis (a rotation, not a reflection): x right, y up, z towards the camera, so a
person facing the camera faces +z. Rotation channels are 'Zrotation Yrotation Xrotation' (the local
rotation is Rz @ Ry @ Rx, degrees), the root also has 'Xposition Yposition Zposition'.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vp3d.errors import Vp3dError
from vp3d.facts.architecture import H36M_FPS
from vp3d.facts.cameras import CAMERA_TO_YUP
from vp3d.io.files import atomic_path
from vp3d.io.poses import check_poses, select
from vp3d.facts.datasets import skeleton_of
from vp3d.facts.skeleton import Skeleton

UNITS = {"m": 1.0, "cm": 100.0}     # BVH length unit -> factor from metres
DEFAULT_UNITS = "m"                 # Blender imports a metre BVH at scale 1 (its unit is the metre)
ORIGINS = ("floor", "camera")
DEFAULT_ORIGIN = "floor"
END_SITE_M = 0.1                    # length of the End Site stubs (feet, wrists, head), metres
ROTATION_CHANNELS = "Zrotation Yrotation Xrotation"


def bvh_name(name: str) -> str:
    """A joint name BVH can hold: every character but letters, digits and '_' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


@dataclass(frozen=True)
class _Joint:
    name: str
    parent: int          # index into the BVH joint list, -1 for the root
    point: int           # the skeleton joint (pose index) this BVH joint sits at
    child: int           # the skeleton joint its single bone points to, or -1 (root, end joints)
    rest: np.ndarray     # unit rest direction (3,) of the bone from parent point to this point


def _rest_directions(skel: Skeleton) -> np.ndarray:
    """Unit rest direction (J, 3), Y-up, of the bone into each joint: a T-pose facing +z (person's left
    is +x): legs down, trunk and head up, hips and arms sideways."""
    rest = np.zeros((skel.num_joints, 3))
    left, right = set(skel.joints_left), set(skel.joints_right)
    for j, p in enumerate(skel.parents):
        if p < 0:
            continue
        side = 1.0 if j in left else -1.0 if j in right else 0.0
        # a sided joint whose parent is central starts a limb: sideways; deeper: down (legs) or out (arms)
        if side and p not in left | right:
            rest[j] = [side, 0, 0]
        elif side:
            rest[j] = [side, 0, 0] if _is_arm(skel, j) else [0, -1, 0]
        else:
            rest[j] = [0, 1, 0]
    return rest


def _is_arm(skel: Skeleton, j: int) -> bool:
    """Whether joint j hangs below the torso's upper branch point (an arm) rather than the root (a leg)."""
    while skel.parents[j] > 0:
        j = skel.parents[j]
    return skel.parents[j] == 0 and j not in skel.joints_left + skel.joints_right


def _layout(skel: Skeleton) -> list[_Joint]:
    """The BVH joints in file order (depth first), with zero-length branch joints where needed."""
    children = [[c for c, p in enumerate(skel.parents) if p == j] for j in range(skel.num_joints)]
    rest = _rest_directions(skel)
    names = [bvh_name(n) for n in skel.names] if skel.names else [f"joint{j}" for j in range(skel.num_joints)]
    joints: list[_Joint] = []

    def add(j: int, parent: int, rest_dir: np.ndarray) -> None:
        kids = children[j]
        me = len(joints)
        joints.append(_Joint(names[j], parent, j, kids[0] if len(kids) == 1 else -1, rest_dir))
        if len(kids) > 1:
            for c in kids:
                branch = len(joints)
                joints.append(_Joint(names[c] + "Joint", me, j, c, np.zeros(3)))
                add(c, branch, rest[c])
        elif kids:
            add(kids[0], me, rest[kids[0]])

    add(skel.parents.index(-1), -1, np.zeros(3))
    all_names = [jt.name for jt in joints]
    if len(set(all_names)) != len(all_names):
        raise Vp3dError(f"joint names {all_names} are not distinct once made BVH-safe")
    return joints


def _frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) whose columns are x (T, 3) and y made orthonormal, and x × y; identity where
    the two are (nearly) parallel or zero."""
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    y = y - np.sum(x * y, axis=-1, keepdims=True) * x
    ny = np.linalg.norm(y, axis=-1, keepdims=True)
    ok = (ny[:, 0] > 1e-6) & (np.linalg.norm(x, axis=-1) > 0.5)
    y = y / np.maximum(ny, 1e-12)
    out = np.stack([x, y, np.cross(x, y)], axis=-1)
    out[~ok] = np.eye(3)
    return out


def _swing(u: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The smallest rotations (T, 3, 3) taking unit vector u (3,) to unit vectors d (T, 3).

    Opposite vectors turn 180 degrees about an axis perpendicular to u; a zero d gives the identity.
    """
    c = d @ u                                           # (T,) cosine
    axis = np.cross(np.broadcast_to(u, d.shape), d)     # (T, 3) sin * unit axis
    w = 1.0 + c
    opposite = w < 1e-9
    if opposite.any():
        helper = np.eye(3)[np.argmin(np.abs(u))]
        perp = np.cross(u, helper)
        axis[opposite] = perp / np.linalg.norm(perp)
        w = np.where(opposite, 0.0, w)
    q = np.concatenate([w[:, None], axis], axis=1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    zero = np.linalg.norm(d, axis=1) < 1e-12
    q[zero] = [1, 0, 0, 0]
    return _quat_to_matrix(q)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (T, 4) as (w, x, y, z) -> rotation matrices (T, 3, 3)."""
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], axis=1)


def matrix_to_euler_zyx(r: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) -> angles (T, 3) radians (z, y, x) with r = Rz @ Ry @ Rx.

    At gimbal lock (y = ±90 degrees) x is set to 0 and z carries the whole remaining turn.
    """
    cy = np.hypot(r[:, 0, 0], r[:, 1, 0])
    y = np.arctan2(-r[:, 2, 0], cy)
    lock = cy < 1e-6
    z = np.where(lock, np.arctan2(-r[:, 0, 1], r[:, 1, 1]), np.arctan2(r[:, 1, 0], r[:, 0, 0]))
    x = np.where(lock, 0.0, np.arctan2(r[:, 2, 1], r[:, 2, 2]))
    return np.stack([z, y, x], axis=1)


def bone_lengths(poses: np.ndarray, skel: Skeleton) -> np.ndarray:
    """Median length (J,) over frames of the bone into each joint (0 for the root), units of poses."""
    parents = np.array(skel.parents)
    lengths = np.linalg.norm(poses[:, 1:] - poses[:, parents[1:]], axis=-1)
    return np.concatenate([[0.0], np.median(lengths, axis=0)])


def bvh_chunks(poses: np.ndarray, fps: float = H36M_FPS, units: str = DEFAULT_UNITS, origin: str = DEFAULT_ORIGIN,
               skeleton: Skeleton | None = None, frames_per_chunk: int = 5000):
    """The BVH file for one motion, poses (T, J, 3) metres, camera frame, as text pieces: the hierarchy,
    then the motion a few thousand frames at a time (long motions never sit in memory as one string).
    skeleton: the poses' (None: the one with J joints, facts.datasets.skeleton_of).

    units: 'm' or 'cm' (lengths in the file). origin: 'floor' puts the first frame's root above the
    origin and the lowest joint of the whole motion, as the file's skeleton (median bones) places it, on
    y = 0 (root-relative poses then stand on the floor); 'camera' keeps the camera's position as the origin (a lifted trajectory stays where the
    camera saw it). Joint rotations reproduce every bone's direction; lengths are per-bone medians.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise Vp3dError(f"poses of shape {poses.shape}, expected (T, J, 3)")
    skel = skeleton or skeleton_of(poses.shape[1])
    if poses.shape[1] != skel.num_joints:
        raise Vp3dError(f"poses of shape {poses.shape}, expected (T, {skel.num_joints}, 3)")
    if units not in UNITS:
        raise Vp3dError(f"units {units!r}: expected one of {', '.join(UNITS)}")
    if origin not in ORIGINS:
        raise Vp3dError(f"origin {origin!r}: expected one of {', '.join(ORIGINS)}")
    if not (np.isfinite(fps) and fps > 0):
        raise Vp3dError(f"fps must be positive, got {fps}")
    scale = UNITS[units]
    pos = poses @ CAMERA_TO_YUP.T * scale                 # (T, J, 3) Y-up, file units
    T = len(pos)
    lengths = bone_lengths(pos, skel)
    joints = _layout(skel)

    # global rotations of every BVH joint, parents first (the layout is depth first)
    glob = np.empty((len(joints), T, 3, 3))
    local = np.empty_like(glob)
    left, right = skel.joints_left, skel.joints_right
    for k, jt in enumerate(joints):
        if jt.parent < 0:           # root: the pelvis frame (left hip direction, spine direction)
            lhip, spine = _child_toward(skel, jt.point, left), _child_toward(skel, jt.point, None)
            glob[k] = _body_frame(pos, jt.point, lhip, spine, skel, right)
        elif jt.child >= 0:         # owns the bone point -> child: the smallest turn from its parent
            rest = joints[k + 1].rest
            d = pos[:, jt.child] - pos[:, jt.point]
            d = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
            d_parent = np.einsum("tji,tj->ti", glob[jt.parent], d)      # in the parent's frame
            glob[k] = glob[jt.parent] @ _swing(rest, d_parent)
        elif _has_branches(skel, jt.point):   # upper branch point (Thorax): the chest frame
            lsh, neck = _child_toward(skel, jt.point, left), _child_toward(skel, jt.point, None)
            glob[k] = _body_frame(pos, jt.point, lsh, neck, skel, right)
        else:                       # end joint: no bone of its own, keeps its parent's orientation
            glob[k] = glob[jt.parent]
        local[k] = glob[k] if jt.parent < 0 else np.swapaxes(glob[jt.parent], 1, 2) @ glob[k]

    angles = np.degrees(matrix_to_euler_zyx(local.reshape(-1, 3, 3))).reshape(len(joints), T, 3)
    root = pos[:, joints[0].point]
    if origin == "floor":      # the lowest joint of the file's own skeleton (constant bones) on y = 0
        lowest = (root[:, 1] + _skeleton_heights(joints, glob, lengths).min(axis=0)).min()
        root = root - np.array([root[0, 0], lowest, root[0, 2]])
    motion = np.concatenate([root[:, None, :], angles.transpose(1, 0, 2)], axis=1).reshape(T, -1)

    lines = ["HIERARCHY"]
    _write_hierarchy(lines, joints, lengths, scale, 0, 0)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    yield "\n".join(lines) + "\n"
    row_format = " ".join(["%.6f"] * motion.shape[1]) + "\n"
    for start in range(0, T, frames_per_chunk):
        yield "".join(row_format % tuple(row) for row in np.round(motion[start:start + frames_per_chunk], 6) + 0.0)


def _skeleton_heights(joints: list[_Joint], glob: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(K, T) height of every BVH joint above the root, by forward kinematics of the written skeleton: its
    OFFSETs (rest direction x median bone length) turned by the parents' global rotations glob (K, T, 3, 3)."""
    heights = np.zeros(glob.shape[:2])
    for k, jt in enumerate(joints):
        if jt.parent >= 0:
            heights[k] = heights[jt.parent] + glob[jt.parent][:, 1] @ (jt.rest * lengths[jt.point])
    return heights


def _has_branches(skel: Skeleton, j: int) -> bool:
    return sum(p == j for p in skel.parents) > 1


def _child_toward(skel: Skeleton, j: int, side) -> int:
    """j's child on `side` (a tuple of joint indices), or its central child when side is None."""
    kids = [c for c, p in enumerate(skel.parents) if p == j]
    central = set(skel.joints_left) | set(skel.joints_right)
    pick = [c for c in kids if (c in side if side is not None else c not in central)]
    return pick[0]


def _body_frame(pos, j, left_child, up_child, skel, right):
    """Frame (T, 3, 3) at branch point j: x towards the left child (from its right twin), y up the
    central child; the rest pose's orientation when the skeleton stands in it."""
    right_child = [c for c, p in enumerate(skel.parents) if p == j and c in right][0]
    return _frame(pos[:, left_child] - pos[:, right_child], pos[:, up_child] - pos[:, j])


def _write_hierarchy(lines, joints, lengths, scale, k, depth):
    jt = joints[k]
    pad = "  " * depth
    offset = jt.rest * lengths[jt.point]
    lines.append(f"{pad}{'ROOT' if jt.parent < 0 else 'JOINT'} {jt.name}")
    lines.append(f"{pad}{{")
    lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
    channels = ("Xposition Yposition Zposition " if jt.parent < 0 else "") + ROTATION_CHANNELS
    lines.append(f"{pad}  CHANNELS {len(channels.split())} {channels}")
    kids = [i for i, other in enumerate(joints) if other.parent == k]
    for i in kids:
        _write_hierarchy(lines, joints, lengths, scale, i, depth + 1)
    if not kids:
        stub = _end_site(jt, joints) * END_SITE_M * scale
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {stub[0]:.6f} {stub[1]:.6f} {stub[2]:.6f}",
                  f"{pad}  }}"]
    lines.append(f"{pad}}}")


def _end_site(jt: _Joint, joints) -> np.ndarray:
    """Rest direction of an end stub: feet point forward (+z), arms and the head continue their bone."""
    if jt.rest[1] < -0.5:
        return np.array([0.0, 0.0, 1.0])
    return jt.rest


def write_bvh(path: str | Path, poses: dict[str, np.ndarray], fps: float = H36M_FPS, name: str | None = None,
              units: str = DEFAULT_UNITS, origin: str = DEFAULT_ORIGIN) -> None:
    """Write one motion of `poses` (name -> (T, J, 3) metres, camera frame; J 17 or 15) as a BVH file, atomically.

    A BVH file holds one motion: with several names, `name` must pick one (Vp3dError otherwise).
    """
    if name is None and len(poses) != 1:
        raise Vp3dError(f"{path}: a BVH file holds one motion, but the poses hold {len(poses)} "
                        f"({', '.join(list(poses)[:8])}{', ...' if len(poses) > 8 else ''}); pick one by name (--name)")
    name, array = select(poses, name, path)
    array = check_poses(np.asarray(array), f"{path}: '{name}'")
    try:
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            for piece in bvh_chunks(array, fps=fps, units=units, origin=origin):
                f.write(piece)
    except Vp3dError as e:
        raise Vp3dError(f"{path}: '{name}': {e}") from None
