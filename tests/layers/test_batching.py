"""Length-sorted batches under a piece budget (the min-cost cuts and the greedy fill), and their
padded encoder inputs."""
from typing import List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bert.errors import Errors
from spacy_bert.layers.stages.batching import (
    FORWARD_COST,
    batches_cost,
    greedy_batches,
    pad_windows,
    padding_ratio,
    plan_batches,
)
from spacy_bert.layers.stages.windows import plan_windows

CLS, SEP, PAD = 101, 102, 0


def as_lists(groups) -> List[List[int]]:
    return [g.tolist() for g in groups]


def check_groups(lengths, budget, groups, greedy: bool) -> None:
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
        if greedy and i + 1 < len(groups):
            # Greedy: the next window would not have fitted.
            assert (len(group) + 1) * longest > budget


# ---- greedy_batches (the budget fill plan_batches did before the min-cost cuts) -----------


def test_hand_example():
    groups = greedy_batches([5, 3, 8, 2], max_batch_items=10)
    # Sorted: 8 (index 2), 5 (0), 3 (1), 2 (3). 8 fills a group alone; 2 * 5 = 10 fits; 2 alone.
    assert as_lists(groups) == [[2], [0, 1], [3]]


def test_oversize_window_is_its_own_group():
    groups = greedy_batches([3, 20, 3, 3], max_batch_items=10)
    assert as_lists(groups) == [[1], [0, 2, 3]]


def test_ties_keep_their_order():
    assert as_lists(greedy_batches([4, 4, 4, 4, 4], max_batch_items=8)) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("planner", [greedy_batches, plan_batches])
def test_no_windows_and_numpy_input(planner):
    assert planner([], max_batch_items=100) == []
    assert as_lists(planner(np.array([2, 7], dtype=np.int32), max_batch_items=100)) == [[1, 0]]


@pytest.mark.parametrize(
    "lengths,budget,match",
    [
        ([3], 0, r"max_batch_items=0.*int >= 1"),
        ([3], -5, r"max_batch_items=-5"),
        ([3, -1], 10, r"lengths\[1\] = -1.*int >= 0"),
    ],
)
@pytest.mark.parametrize("planner", [greedy_batches, plan_batches])
def test_errors_name_the_values(planner, lengths, budget, match):
    with pytest.raises(ValueError, match=match):
        planner(lengths, max_batch_items=budget)


@pytest.mark.parametrize("planner", [greedy_batches, plan_batches])
def test_float_lengths_are_rejected(planner):
    with pytest.raises(TypeError):
        planner([3.5], max_batch_items=10)


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 600), max_size=80),
    budget=st.integers(1, 3000),
)
def test_greedy_batches_properties(lengths, budget):
    groups = greedy_batches(lengths, max_batch_items=budget)
    check_groups(lengths, budget, groups, greedy=True)
    ratio = padding_ratio(lengths, groups)
    assert 0.0 <= ratio < 1.0


# ---- plan_batches: min padded positions + forward_cost per forward ---------------------------


def test_min_cost_hand_example():
    # Sorted: 8 (index 2), 5 (0), 3 (1), 2 (3); budget 10 allows [5, 3] or [3, 2].
    # Greedy [8] [5, 3] [2]: 8 + 10 + 2 positions; [8] [5] [3, 2]: 8 + 5 + 6, same 3 forwards.
    assert as_lists(plan_batches([5, 3, 8, 2], max_batch_items=10)) == [[2], [0], [1, 3]]
    assert batches_cost([5, 3, 8, 2], plan_batches([5, 3, 8, 2], 10)) == 19 + 3 * FORWARD_COST
    assert batches_cost([5, 3, 8, 2], greedy_batches([5, 3, 8, 2], 10)) == 20 + 3 * FORWARD_COST
    # Free forwards: no padding at all, one window per forward.
    assert as_lists(plan_batches([5, 3, 8, 2], 10, forward_cost=0)) == [[2], [0], [1], [3]]


def test_min_cost_trades_padding_against_forwards():
    # 4 windows of 10 and 4 of 2, budget 80: one forward pads the 2s to 10 (32 padded
    # positions); two forwards pad nothing. Two forwards win when a forward costs less than 32.
    lengths = [10, 10, 10, 10, 2, 2, 2, 2]
    assert as_lists(plan_batches(lengths, 80, forward_cost=31)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert as_lists(plan_batches(lengths, 80, forward_cost=33)) == [[0, 1, 2, 3, 4, 5, 6, 7]]


def test_min_cost_oversize_window_is_its_own_group():
    groups = plan_batches([3, 20, 3, 3], max_batch_items=10)
    assert as_lists(groups) == [[1], [0, 2, 3]]
    assert as_lists(plan_batches([30, 20], max_batch_items=10, forward_cost=10**6)) == [[0], [1]]


@pytest.mark.parametrize("cost,error", [(-1, ValueError), (1.5, TypeError), ("32", TypeError)])
def test_forward_cost_errors_name_the_value(cost, error):
    with pytest.raises(error) as info:
        plan_batches([3, 4], max_batch_items=10, forward_cost=cost)
    # Errors.E260 as raised (with its "[E260] " prefix once errors.py carries codes).
    assert str(info.value) == Errors.E260.format(value=cost)
    assert f"forward_cost={cost!r}" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 600), max_size=80),
    budget=st.integers(1, 3000),
    cost=st.integers(0, 500),
)
def test_plan_batches_properties(lengths, budget, cost):
    """Each window in exactly one group, consecutive runs of the sorted order, the budget
    respected (a lone oversize window excepted), and never costlier than the greedy fill."""
    groups = plan_batches(lengths, max_batch_items=budget, forward_cost=cost)
    check_groups(lengths, budget, groups, greedy=False)
    assert 0.0 <= padding_ratio(lengths, groups) < 1.0
    greedy = greedy_batches(lengths, max_batch_items=budget)
    assert batches_cost(lengths, groups, cost) <= batches_cost(lengths, greedy, cost)


def set_partitions(items):
    """Every partition of `items` (list) into non-empty groups."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first]] + partition
        for k in range(len(partition)):
            yield partition[:k] + [[first] + partition[k]] + partition[k + 1 :]


def brute_force_cost(lengths, budget, cost) -> int:
    """The least cost over every grouping of the windows (not only consecutive runs of the
    sorted order) in which each group fits the budget or is a single window."""
    best = None
    for partition in set_partitions(list(range(len(lengths)))):
        total = 0
        for group in partition:
            padded = len(group) * max(lengths[i] for i in group)
            if len(group) > 1 and padded > budget:
                break
            total += padded + cost
        else:
            best = total if best is None else min(best, total)
    return best if best is not None else 0


def test_set_partitions_counts():
    # Bell numbers: the brute force really sees every grouping.
    assert [sum(1 for _ in set_partitions(list(range(n)))) for n in range(7)] == [1, 1, 2, 5, 15, 52, 203]


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), max_size=7),
    budget=st.integers(1, 120),
    cost=st.integers(0, 60),
)
def test_plan_batches_is_optimal_on_small_inputs(lengths, budget, cost):
    groups = plan_batches(lengths, max_batch_items=budget, forward_cost=cost)
    assert batches_cost(lengths, groups, cost) == brute_force_cost(lengths, budget, cost)


def test_plan_batches_is_fast_enough():
    """O(n * k): 2,000 short windows (k up to 2048 // 10) in well under a second."""
    import time

    lengths = np.random.default_rng(1).integers(10, 40, size=2000)
    start = time.perf_counter()
    groups = plan_batches(lengths, max_batch_items=2048)
    assert time.perf_counter() - start < 2.0
    assert batches_cost(lengths, groups) <= batches_cost(lengths, greedy_batches(lengths, 2048))


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


@pytest.mark.parametrize("planner", [greedy_batches, plan_batches])
def test_padding_far_lower_than_unsorted(planner):
    rng = np.random.default_rng(0)
    # Window positions as texts give them: many short, a long tail, capped at 512.
    lengths = (np.clip(rng.lognormal(4.0, 1.0, size=2000).astype(int), 1, 510) + 2).tolist()
    sorted_ratio = padding_ratio(lengths, planner(lengths, max_batch_items=4096))
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
    greedy=st.booleans(),
)
def test_windows_batches_and_merge_end_to_end(n_pieces, window, data, budget, greedy):
    """Plan windows, batch them, pad them, run an identity "encoder" and merge: each text's
    piece ids come back exactly, in order."""
    stride = data.draw(st.integers(0, window - 3), label="stride")
    rng = np.random.default_rng(sum(n_pieces) + window)
    piece_ids = [rng.integers(1000, 2000, size=n) for n in n_pieces]
    plan = plan_windows(n_pieces, window=window, stride=stride)
    planner = greedy_batches if greedy else plan_batches
    groups = planner(plan.positions, max_batch_items=budget)
    check_groups(plan.positions, budget, groups, greedy=greedy)
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
