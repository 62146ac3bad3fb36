"""Skeletons, left/right symmetries and keypoint layouts."""
import re

import numpy as np
import pytest

from vp3d.facts.skeleton import (
    Skeleton,
    Symmetry,
    h36m_skeleton17,
    h36m_skeleton32,
    kept_joints,
    keypoint_layouts,
    mirror,
    static_joints,
)

SYM = Symmetry([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16])
JOINTS = h36m_skeleton17().symmetry


def reduce_skeleton(skel: Skeleton, remove: list[int]) -> Skeleton:
    """The skeleton left after removing joints `remove` (re-parenting to the nearest kept ancestor).

    Upstream's rule (common/skeleton.py, Skeleton.remove_joints), written out to check the packaged facts.
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


def test_skeleton17_is_the_reduced_mocap_skeleton():
    reduced = reduce_skeleton(h36m_skeleton32(), static_joints())
    s17 = h36m_skeleton17()
    assert len(kept_joints()) == s17.num_joints == 17
    assert (reduced.joints_left, reduced.joints_right) == (s17.joints_left, s17.joints_right)
    # upstream re-attaches both shoulders to the thorax (joint 8) after the reduction
    assert [p if j not in (11, 14) else 8 for j, p in enumerate(reduced.parents)] == list(s17.parents)


def test_symmetry_refuses_overlapping_or_unpaired_joints():
    with pytest.raises(ValueError):
        Symmetry([1, 2], [2, 3])
    with pytest.raises(ValueError):
        Symmetry([1, 2], [3])
    with pytest.raises(ValueError, match="joint 16"):
        SYM.permutation(10)


def test_keypoint_layouts_pair_left_with_right_by_name():
    assert {"h36m", "coco", "humaneva15"} <= set(keypoint_layouts())
    for layout in keypoint_layouts().values():
        names = [n.lower() for n in layout.names]
        for l, r in zip(layout.symmetry.left, layout.symmetry.right, strict=True):
            assert re.match(r"(left_|l)(.+)", names[l])[2] == re.match(r"(right_|r)(.+)", names[r])[2], (names[l], names[r])
        unpaired = set(range(len(names))) - set(layout.symmetry.left + layout.symmetry.right)
        assert not any(re.match(r"(left_|right_|l[a-z]|r[a-z])", names[j]) for j in unpaired), unpaired
    coco = keypoint_layouts()["coco"]
    assert coco.symmetry.to_json() == [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]


def test_mirror_is_an_involution_that_swaps_twins():
    x = np.random.default_rng(0).normal(size=(4, 17, 3))
    m = mirror(x, JOINTS)
    np.testing.assert_array_equal(m[:, 1], x[:, 4] * [-1, 1, 1])
    np.testing.assert_array_equal(mirror(m, JOINTS), x)


SKEL = h36m_skeleton17()


def test_keypoint_layout_edges():
    layouts = keypoint_layouts()
    h36m = layouts["h36m"]
    assert sorted(h36m.edges) == sorted((p, j) for j, p in enumerate(SKEL.parents) if p >= 0)
    coco = layouts["coco"]
    names = coco.names
    assert len(coco.edges) == 19 and len(set(map(frozenset, coco.edges))) == 19
    linked = {frozenset((names[a], names[b])) for a, b in coco.edges}
    for a, b in [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_hip", "right_knee"),
                 ("right_knee", "right_ankle"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
                 ("nose", "left_eye"), ("left_shoulder", "left_hip")]:
        assert frozenset((a, b)) in linked
    for a, b in coco.edges:       # no bone joins a left joint to a right one, except the two cross bars
        sides = {names[a][:5], names[b][:5]}
        if sides == {"left_", "right"}:
            assert {names[a], names[b]} in ({"left_shoulder", "right_shoulder"}, {"left_hip", "right_hip"},
                                           {"left_eye", "right_eye"})
