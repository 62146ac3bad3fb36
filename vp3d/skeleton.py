"""The Human3.6M skeletons: 32-joint mocap layout and the 17-joint evaluation layout.

Facts come from the calibration file the package carries (vp3d/data/h36m_cameras.json).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "h36m_cameras.json"


@functools.lru_cache(maxsize=None)
def h36m_facts() -> dict:
    """The parsed calibration/skeleton JSON (read once)."""
    with open(DATA_FILE) as f:
        return json.load(f)


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
    def flip_permutation(self) -> list[int]:
        """Index list p such that x[..., p, :] swaps every left joint with its right twin."""
        perm = list(range(self.num_joints))
        for left, right in zip(self.joints_left, self.joints_right):
            perm[left], perm[right] = right, left
        return perm


def h36m_skeleton32() -> Skeleton:
    """The 32-joint Human3.6M mocap skeleton, as stored in data_3d_h36m.npz."""
    s = h36m_facts()["skeleton32"]
    return Skeleton(tuple(s["parents"]), tuple(s["joints_left"]), tuple(s["joints_right"]))


def h36m_skeleton17() -> Skeleton:
    """The 17-joint layout used by the 2D detections and the evaluation."""
    s = h36m_facts()["skeleton17"]
    return Skeleton(tuple(s["parents"]), tuple(s["joints_left"]), tuple(s["joints_right"]),
                    tuple(s["names"]))


def static_joints() -> list[int]:
    """The 15 mocap joints dropped to go from 32 to 17 joints (they never move relative to a parent)."""
    return list(h36m_facts()["static_joints_removed"])


def kept_joints() -> list[int]:
    """Indices into the 32-joint layout of the 17 evaluated joints, in order."""
    removed = set(static_joints())
    return [j for j in range(len(h36m_facts()["skeleton32"]["parents"])) if j not in removed]


def reduce_skeleton(skel: Skeleton, remove: list[int]) -> Skeleton:
    """The skeleton left after removing joints `remove` (re-parenting to the nearest kept ancestor).

    Same rule as upstream's Skeleton.remove_joints; used to check the packaged 17-joint facts.
    """
    removed = set(remove)
    parents = list(skel.parents)
    for i in range(len(parents)):
        while parents[i] in removed:
            parents[i] = parents[parents[i]]
    kept = [j for j in range(len(parents)) if j not in removed]
    new_index = {old: new for new, old in enumerate(kept)}
    new_parents = tuple(-1 if parents[j] == -1 else new_index[parents[j]] for j in kept)
    left = tuple(new_index[j] for j in skel.joints_left if j in new_index)
    right = tuple(new_index[j] for j in skel.joints_right if j in new_index)
    return Skeleton(new_parents, left, right)
