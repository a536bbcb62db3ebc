"""Split by event id: deterministic, order-independent, fractions respected."""

import numpy as np
import pytest

from caloreco.split import assign_split, split_uniform, splitmix64


def test_splitmix64_reference_values():
    # splitmix64 sequence from state 0 (Vigna's reference implementation): first outputs
    out = splitmix64(np.array([0, 0x9E3779B97F4A7C15], dtype=np.uint64))
    assert int(out[0]) == 0xE220A8397B1DCDAF
    assert int(out[1]) == 0x6E789E6AA1B965F4


def test_same_event_same_split_regardless_of_order_and_chunking():
    ev = np.arange(10_000, dtype=np.int64)
    whole = assign_split(ev, seed=7)
    perm = np.random.default_rng(1).permutation(ev.size)
    shuffled = assign_split(ev[perm], seed=7)
    assert np.array_equal(shuffled, whole[perm])
    chunks = np.concatenate([assign_split(c, seed=7) for c in np.array_split(ev, 7)])
    assert np.array_equal(chunks, whole)
    # rows of one event (clusters, pairs) share the event's part
    rows = np.repeat(ev[:100], 5)
    assert np.array_equal(assign_split(rows, seed=7), np.repeat(whole[:100], 5))


def test_fractions_and_seed_dependence():
    ev = np.arange(200_000)
    parts = assign_split(ev, (0.6, 0.2, 0.2), seed=3)
    for name, f in zip(("train", "val", "test"), (0.6, 0.2, 0.2), strict=True):
        frac = np.mean(parts == name)
        assert abs(frac - f) < 5 * np.sqrt(f * (1 - f) / ev.size)
    other = assign_split(ev, (0.6, 0.2, 0.2), seed=4)
    # a different seed reshuffles about as much as two independent draws would
    agree = np.mean(parts == other)
    assert abs(agree - (0.36 + 0.04 + 0.04)) < 0.01
    u = split_uniform(ev, 3)
    assert u.min() >= 0 and u.max() < 1


def test_degenerate_fractions_and_bad_input():
    ev = np.arange(1000)
    assert set(assign_split(ev, (1, 0, 0), 0)) == {"train"}
    assert set(assign_split(ev, (0, 0, 1), 0)) == {"test"}
    with pytest.raises(ValueError, match="fractions"):
        assign_split(ev, (0.5, 0.2, 0.2), 0)
    with pytest.raises(ValueError, match="event_numbers"):
        assign_split(np.array([0.5, 1.5]), seed=0)


MASK = (1 << 64) - 1


def splitmix64_reference(x: int) -> int:
    """splitmix64's output function on Python integers (Steele, Lea and Flood)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def uniform_reference(event: int, seed: int) -> float:
    key = splitmix64_reference(seed % 2**64)
    return (splitmix64_reference((event & MASK) ^ key) >> 11) / 2.0**53


def test_split_against_a_pure_python_reference():
    events = [0, 1, 2, 17, 123456789, 2**40 + 3, -1, -987654321]
    for seed in (0, 7, 2**63 + 5, -3):
        u = split_uniform(np.array(events, dtype=np.int64), seed)
        assert u.tolist() == [uniform_reference(e, seed) for e in events]
    # a plain list, int32 and uint64 inputs give the same numbers
    assert split_uniform([0, 1, 2], 7).tolist() == [uniform_reference(e, 7) for e in (0, 1, 2)]
    assert split_uniform(np.array([5, 6], np.int32), 7).tolist() == [
        uniform_reference(e, 7) for e in (5, 6)
    ]
    assert splitmix64(np.array([3], np.int64)).tolist() == [splitmix64_reference(3)]
    assert splitmix64([2**64 - 1]).tolist() == [splitmix64_reference(2**64 - 1)]
    # the part: train below 0.6, val below 0.8, test above (default fractions and seed 0)
    ev = np.arange(3000)
    parts = assign_split(ev)
    ref = [
        "train" if u < 0.6 else "val" if u < 0.8 else "test"
        for u in map(uniform_reference, ev.tolist(), [0] * 3000)
    ]
    assert parts.tolist() == ref
    assert parts.dtype == np.dtype("<U5") and parts.shape == ev.shape
    odd = assign_split(ev, (0.1, 0.3, 0.6), seed=4)
    u = [uniform_reference(e, 4) for e in ev.tolist()]
    assert odd.tolist() == ["train" if x < 0.1 else "val" if x < 0.4 else "test" for x in u]
    # a 2-d array keeps its shape
    two_d = assign_split(ev.reshape(30, 100), (0.1, 0.3, 0.6), seed=4)
    assert two_d.tolist() == odd.reshape(30, 100).tolist()


def test_fraction_checks():
    ev = np.arange(10)
    for bad in ((0.7, 0.4, -0.1), (0.5, 0.5), (np.nan, 0.5, 0.5), (0.6, 0.2, 0.2, 0.0)):
        with pytest.raises(ValueError, match="fractions"):
            assign_split(ev, bad)
    assert set(assign_split(ev, (0.0, 1.0, 0.0))) == {"val"}
    assert assign_split(np.array([], dtype=np.int64)).shape == (0,)
