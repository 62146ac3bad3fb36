import re

import numpy as np
import pytest

from vp3d.pipeline.sequences import file_stem, flip_augment, pad_to_length, unflip_average
from vp3d.facts.skeleton import Symmetry, keypoint_layouts

SYM = Symmetry([4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16])


def test_file_stem_counts_from_one():
    assert file_stem(0, "Directions") == "001_Directions"
    assert file_stem(235, "WalkTogether") == "236_WalkTogether"


@pytest.mark.parametrize("shift", [0, 4])
def test_pad_to_length_layout(shift):
    x = np.arange(10 * 17 * 2, dtype=np.float32).reshape(10, 17, 2)
    padded, delta = pad_to_length(x, pad=4, shift=shift, length=25)
    assert padded.shape == (25, 17, 2) and delta == 7
    front = 4 + shift
    np.testing.assert_array_equal(padded[front:front + 10], x)
    assert (padded[:front] == x[0]).all() and (padded[front + 10:] == x[-1]).all()


def test_pad_to_length_refuses_too_long():
    with pytest.raises(ValueError, match="at least 18"):
        pad_to_length(np.zeros((10, 17, 2)), pad=4, shift=0, length=17)


def test_flip_augment_mirrors_and_swaps():
    x = np.random.default_rng(0).normal(size=(5, 17, 2))
    pair = flip_augment(x, SYM)
    np.testing.assert_array_equal(pair[0], x)
    np.testing.assert_array_equal(pair[1][:, 4, 0], -x[:, 1, 0])
    np.testing.assert_array_equal(pair[1][:, 4, 1], x[:, 1, 1])
    np.testing.assert_array_equal(pair[1][:, 0], x[:, 0] * [-1, 1])
    np.testing.assert_array_equal(flip_augment(pair[1], SYM)[1], x)   # an involution


def test_unflip_average_recovers_a_mirror_equivariant_prediction():
    y = np.random.default_rng(1).normal(size=(6, 17, 3))
    pair = flip_augment(y, SYM)          # what an ideal model returns for the pair
    np.testing.assert_allclose(unflip_average(pair, SYM), y)


def test_symmetry_refuses_overlapping_or_unpaired_joints():
    with pytest.raises(ValueError):
        Symmetry([1, 2], [2, 3])
    with pytest.raises(ValueError):
        Symmetry([1, 2], [3])
    with pytest.raises(ValueError, match="joint 16"):
        SYM.permutation(10)


def test_keypoint_layouts_pair_left_with_right_by_name():
    for layout in keypoint_layouts().values():
        names = [n.lower() for n in layout.names]
        for l, r in zip(layout.symmetry.left, layout.symmetry.right):
            assert re.match(r"(left_|l)(.+)", names[l])[2] == re.match(r"(right_|r)(.+)", names[r])[2], (names[l], names[r])
        unpaired = set(range(len(names))) - set(layout.symmetry.left + layout.symmetry.right)
        assert not any(re.match(r"(left_|right_|l[a-z]|r[a-z])", names[j]) for j in unpaired), unpaired
    coco = keypoint_layouts()["coco"]
    assert coco.symmetry.to_json() == [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
