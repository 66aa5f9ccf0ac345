"""Length-sorted batches under a piece budget, and their padded encoder inputs."""
from typing import List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bert.layers.batching import pad_windows, padding_ratio, plan_batches
from spacy_bert.layers.windows import plan_windows

CLS, SEP, PAD = 101, 102, 0


def as_lists(groups) -> List[List[int]]:
    return [g.tolist() for g in groups]


def check_groups(lengths, budget, groups) -> None:
    lengths = np.asarray(lengths, dtype=np.int64)
    flat = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    # Every window in exactly one group.
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    # Groups are consecutive runs of the stable longest-first order.
    assert flat.tolist() == np.argsort(-lengths, kind="stable").tolist()
    for i, group in enumerate(groups):
        assert len(group) >= 1 and group.dtype == np.int64
        longest = int(lengths[group].max())
        if len(group) * longest > budget:
            # Only a lone window longer than the budget may exceed it.
            assert len(group) == 1 and longest > budget
        if i + 1 < len(groups):
            # Greedy: the next window would not have fitted.
            assert (len(group) + 1) * longest > budget


# ---- plan_batches ------------------------------------------------------------------------


def test_hand_example():
    groups = plan_batches([5, 3, 8, 2], max_batch_items=10)
    # Sorted: 8 (index 2), 5 (0), 3 (1), 2 (3). 8 fills a group alone; 2 * 5 = 10 fits; 2 alone.
    assert as_lists(groups) == [[2], [0, 1], [3]]


def test_oversize_window_is_its_own_group():
    groups = plan_batches([3, 20, 3, 3], max_batch_items=10)
    assert as_lists(groups) == [[1], [0, 2, 3]]


def test_ties_keep_their_order():
    assert as_lists(plan_batches([4, 4, 4, 4, 4], max_batch_items=8)) == [[0, 1], [2, 3], [4]]


def test_no_windows_and_numpy_input():
    assert plan_batches([], max_batch_items=100) == []
    assert as_lists(plan_batches(np.array([2, 7], dtype=np.int32), max_batch_items=100)) == [[1, 0]]


@pytest.mark.parametrize(
    "lengths,budget,match",
    [
        ([3], 0, r"max_batch_items=0.*int >= 1"),
        ([3], -5, r"max_batch_items=-5"),
        ([3, -1], 10, r"lengths\[1\] = -1.*int >= 0"),
    ],
)
def test_errors_name_the_values(lengths, budget, match):
    with pytest.raises(ValueError, match=match):
        plan_batches(lengths, max_batch_items=budget)


def test_float_lengths_are_rejected():
    with pytest.raises(TypeError):
        plan_batches([3.5], max_batch_items=10)


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 600), max_size=80),
    budget=st.integers(1, 3000),
)
def test_plan_batches_properties(lengths, budget):
    groups = plan_batches(lengths, max_batch_items=budget)
    check_groups(lengths, budget, groups)
    ratio = padding_ratio(lengths, groups)
    assert 0.0 <= ratio < 1.0


def naive_batches(lengths, budget) -> List[np.ndarray]:
    """Unsorted: windows in their original order, cut greedily under the same budget."""
    groups, current, longest = [], [], 0
    for i, n in enumerate(lengths):
        if current and (len(current) + 1) * max(longest, n) > budget:
            groups.append(np.array(current))
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        groups.append(np.array(current))
    return groups


def test_padding_far_lower_than_unsorted():
    rng = np.random.default_rng(0)
    # Window positions as texts give them: many short, a long tail, capped at 512.
    lengths = (np.clip(rng.lognormal(4.0, 1.0, size=2000).astype(int), 1, 510) + 2).tolist()
    sorted_ratio = padding_ratio(lengths, plan_batches(lengths, max_batch_items=4096))
    naive_ratio = padding_ratio(lengths, naive_batches(lengths, 4096))
    assert sorted_ratio < 0.1 and naive_ratio > 0.4
    assert sorted_ratio < naive_ratio / 5


def test_padding_ratio_hand_example():
    assert padding_ratio([4, 2, 3], [np.array([0, 1]), np.array([2])]) == pytest.approx(2 / 11)
    assert padding_ratio([], []) == 0.0


# ---- pad_windows -------------------------------------------------------------------------


def check_padded(piece_ids, plan, group, input_ids, attention_mask) -> None:
    lengths = plan.length[group]
    max_len = 2 + int(lengths.max())
    assert input_ids.shape == attention_mask.shape == (len(group), max_len)
    assert input_ids.dtype == attention_mask.dtype == np.int64
    for row, w in enumerate(group):
        t, s, n = plan.text_index[w], plan.start[w], plan.length[w]
        expected = [CLS, *piece_ids[t][s : s + n].tolist(), SEP] + [PAD] * (max_len - n - 2)
        assert input_ids[row].tolist() == expected
        assert attention_mask[row].tolist() == [1] * (n + 2) + [0] * (max_len - n - 2)


def test_pad_windows_hand_example():
    piece_ids = [np.array([11, 12, 13, 14, 15, 16, 17]), np.array([21, 22]), np.array([], dtype=np.int64)]
    plan = plan_windows([7, 2, 0], window=6, stride=1)  # text 0: windows [0,4) and [3,7)
    input_ids, attention_mask = pad_windows(piece_ids, plan, np.array([1, 2, 3]), CLS, SEP, PAD)
    assert input_ids.tolist() == [
        [CLS, 14, 15, 16, 17, SEP],
        [CLS, 21, 22, SEP, PAD, PAD],
        [CLS, SEP, PAD, PAD, PAD, PAD],
    ]
    assert attention_mask.tolist() == [[1] * 6, [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]]


def test_pad_windows_empty_group_and_mismatched_texts():
    plan = plan_windows([3], window=8, stride=0)
    input_ids, attention_mask = pad_windows([np.arange(3)], plan, np.zeros(0, dtype=np.int64), CLS, SEP, PAD)
    assert input_ids.shape == attention_mask.shape == (0, 2)
    with pytest.raises(ValueError, match=r"Window 0 of text 0 covers pieces 0..3.*piece_ids\[0\] has only 2"):
        pad_windows([np.arange(2)], plan, np.array([0]), CLS, SEP, PAD)


@settings(max_examples=150, deadline=None)
@given(
    n_pieces=st.lists(st.integers(0, 60), min_size=1, max_size=6),
    window=st.integers(3, 20),
    data=st.data(),
    budget=st.integers(1, 200),
)
def test_windows_batches_and_merge_end_to_end(n_pieces, window, data, budget):
    """Plan windows, batch them, pad them, run an identity "encoder" and merge: each text's
    piece ids come back exactly, in order."""
    stride = data.draw(st.integers(0, window - 3), label="stride")
    rng = np.random.default_rng(sum(n_pieces) + window)
    piece_ids = [rng.integers(1000, 2000, size=n) for n in n_pieces]
    plan = plan_windows(n_pieces, window=window, stride=stride)
    groups = plan_batches(plan.positions, max_batch_items=budget)
    check_groups(plan.positions, budget, groups)
    # The encoder output of every window, padded to the global maximum so it can be indexed
    # as (window, position): here the input ids themselves.
    output = np.full((plan.n_windows, window), -1, dtype=np.int64)
    for group in groups:
        input_ids, attention_mask = pad_windows(piece_ids, plan, group, CLS, SEP, PAD)
        check_padded(piece_ids, plan, group, input_ids, attention_mask)
        output[group, : input_ids.shape[1]] = input_ids
    for t, ids in enumerate(piece_ids):
        merged = output[plan.source_window[t], plan.source_position[t]]
        assert merged.tolist() == ids.tolist()
