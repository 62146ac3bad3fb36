
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vp3d.errors import Vp3dError
from vp3d.facts.skeleton import Symmetry
from vp3d.pipeline.sequences import (
    Manifest,
    best_buckets,
    file_stem,
    flip_augment,
    input_length,
    pad_to_length,
    unflip_average,
)

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


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=st.dictionaries(st.sampled_from(["format", "length", "entries", "receptive_field", "causal", "x"]),
                           json_values, max_size=6))
def test_manifest_reader_rejects_anything_malformed_with_one_line(tmp_path, obj):
    (tmp_path / "manifest.json").write_text(json.dumps(obj))
    with pytest.raises(Vp3dError) as e:
        Manifest.read(tmp_path)
    assert "\n" not in str(e.value) and "manifest.json" in str(e.value)


def test_input_length_rule():
    assert input_length(100, 27, []) == 126
    assert input_length(100, 27, [120, 130]) == 130
    with pytest.raises(ValueError, match="at least 126"):
        input_length(100, 27, [120])


def test_best_buckets_compute_the_fewest_frames():
    """Against every choice of bucket lengths among the needed ones (brute force, small cases)."""
    import itertools
    rng = np.random.default_rng(0)
    cost = lambda buckets, needed: sum(min(b for b in buckets if b >= n) for n in needed)
    for trial in range(20):
        needed = list(rng.integers(30, 400, size=int(rng.integers(1, 12))))
        for count in (1, 2, 3):
            got = best_buckets(needed, count)
            assert max(got) == max(needed) and len(got) <= count
            values = sorted(set(needed))[:-1]
            best = min(cost([*c, max(needed)], needed) for k in range(count)
                       for c in itertools.combinations(values, k))
            assert cost(got, needed) == best, (needed, count, got)
