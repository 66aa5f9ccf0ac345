"""Window plans for long texts: hand cases, errors, and properties against brute force."""
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_bert.layers.stages.windows import WindowPlan, plan_windows
from tests.error_codes import raises_code


def windows_of(plan: WindowPlan, text: int):
    """[(start, length)] of the windows of `text`, in order."""
    chosen = np.flatnonzero(plan.text_index == text)
    return [(int(plan.start[w]), int(plan.length[w])) for w in chosen]


# ---- hand cases --------------------------------------------------------------------------


def test_empty_text_is_one_empty_window():
    plan = plan_windows([0], window=8, stride=2)
    assert plan.n_windows == 1 and plan.n_texts == 1
    assert windows_of(plan, 0) == [(0, 0)]
    assert plan.positions.tolist() == [2]  # [CLS][SEP]
    assert plan.source_window[0].shape == (0,) and plan.source_position[0].shape == (0,)


def test_text_of_exactly_content_size_is_one_window():
    plan = plan_windows([6], window=8, stride=2)
    assert windows_of(plan, 0) == [(0, 6)]
    assert plan.source_window[0].tolist() == [0] * 6
    assert plan.source_position[0].tolist() == [1, 2, 3, 4, 5, 6]


def test_one_piece_more_than_fits_gives_two_full_windows():
    plan = plan_windows([7], window=8, stride=2)
    # The second window is shifted left to end at the text's end: full length, not 1 piece.
    assert windows_of(plan, 0) == [(0, 6), (1, 6)]
    # Piece p: context in [0,6) is min(p, 5-p), in [1,7) min(p-1, 6-p); piece 3 ties (2, 2)
    # and stays in the earlier window.
    assert plan.source_window[0].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert plan.source_position[0].tolist() == [1, 2, 3, 4, 4, 5, 6]


def test_several_windows_and_the_shifted_last_one():
    # window=10: C=8 content pieces; stride=2: step 6.
    plan = plan_windows([20, 21], window=10, stride=2)
    assert windows_of(plan, 0) == [(0, 8), (6, 8), (12, 8)]  # 12 + 8 == 20: no shift needed
    assert windows_of(plan, 1) == [(0, 8), (6, 8), (12, 8), (13, 8)]
    assert plan.text_index.tolist() == [0, 0, 0, 1, 1, 1, 1]
    # Text 0: boundary between windows 0 and 1 at (0 + 6 + 7) // 2 = 6, between 1 and 2 at 12.
    assert plan.source_window[0].tolist() == [0] * 7 + [1] * 6 + [2] * 7
    # Text 1 numbers its windows after text 0's (3, 4, 5, 6).
    assert plan.source_window[1].tolist() == [3] * 7 + [4] * 6 + [5] * 4 + [6] * 4
    assert plan.source_position[1][-4:].tolist() == [5, 6, 7, 8]
    for array in (plan.text_index, plan.start, plan.length, *plan.source_window, *plan.source_position):
        assert array.dtype == np.int64


def test_stride_zero():
    plan = plan_windows([10], window=6, stride=0)
    # C=4, step 4: windows [0,4), [4,8), then [6,10) shifted left to end at 10.
    assert windows_of(plan, 0) == [(0, 4), (4, 4), (6, 4)]
    assert plan.source_window[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert plan.source_position[0].tolist() == [1, 2, 3, 4, 1, 2, 3, 2, 3, 4]


def test_no_texts_and_numpy_ints():
    plan = plan_windows([], window=512, stride=128)
    assert plan.n_windows == 0 and plan.n_texts == 0 and plan.start.dtype == np.int64
    plan = plan_windows(np.array([3, 0]), window=np.int64(5), stride=np.int32(1))
    assert windows_of(plan, 0) == [(0, 3)] and windows_of(plan, 1) == [(0, 0)]


@pytest.mark.parametrize(
    "n_pieces,window,stride,match",
    [
        ([5], 2, 0, r"window=2 is too small.*at least 3"),
        ([5], 0, 0, r"window=0 is too small"),
        ([5], 3, 1, r"stride=1 does not fit window=3.*holds 1 pieces.*0 <= stride <= 0"),
        ([5], 512, 510, r"stride=510 does not fit window=512.*holds 510 pieces.*0 <= stride <= 509"),
        ([5], 10, -1, r"stride=-1 does not fit window=10"),
        ([5, -2], 10, 2, r"n_pieces\[1\] = -2"),
    ],
)
def test_errors_name_the_values(n_pieces, window, stride, match):
    with pytest.raises(ValueError, match=match):
        plan_windows(n_pieces, window=window, stride=stride)


def test_non_integer_sizes_are_rejected():
    with pytest.raises(TypeError):
        plan_windows([5], window=10.0, stride=2)
    with pytest.raises(TypeError):
        plan_windows([5.5], window=10, stride=2)


# ---- properties --------------------------------------------------------------------------


@st.composite
def plans(draw):
    window = draw(st.integers(3, 40))
    stride = draw(st.integers(0, window - 3))
    n_pieces = draw(st.lists(st.integers(0, 150), max_size=6))
    return n_pieces, window, stride


@settings(max_examples=300, deadline=None)
@given(case=plans())
def test_plan_properties(case):
    n_pieces, window, stride = case
    content = window - 2
    plan = plan_windows(n_pieces, window=window, stride=stride)
    assert plan.n_texts == len(n_pieces)
    # Windows are ordered text by text, left to right.
    assert np.all(np.diff(plan.text_index) >= 0)
    assert plan.n_windows == len(plan.start) == len(plan.length) == len(plan.text_index)
    assert np.all(plan.length <= content) and np.all(plan.length >= 0)
    assert np.all(plan.positions <= window)
    gathered = []
    for t, n in enumerate(n_pieces):
        mine = np.flatnonzero(plan.text_index == t)
        assert len(mine) >= 1
        starts, lengths = plan.start[mine], plan.length[mine]
        assert np.all(np.diff(starts) > 0)
        # No truncation: windows stay inside the text and reach its end.
        assert starts.min() >= 0 and (starts + lengths).max() == n
        if n <= content:
            assert len(mine) == 1 and lengths[0] == n
        else:
            assert np.all(lengths == content)  # every window is full length
            # Consecutive windows overlap by at least stride (so coverage has no gap).
            assert np.all(starts[:-1] + content - starts[1:] >= stride)
        # Brute force: which windows contain each piece, and with what context.
        p = np.arange(n)[:, None]
        s, end = starts[None, :], (starts + lengths)[None, :]
        inside = (p >= s) & (p < end)
        assert np.all(inside.any(axis=1)), "a piece is in no window"
        context = np.where(inside, np.minimum(p - s, end - 1 - p), -1)
        best = mine[np.argmax(context, axis=1)]  # argmax: the earliest window on ties
        sw, sp = plan.source_window[t], plan.source_position[t]
        assert sw.shape == sp.shape == (n,)
        assert sw.tolist() == best.tolist()
        # The source position is inside the chosen window (1 .. length) and is the piece.
        assert np.all(sp >= 1) and np.all(sp <= plan.length[sw])
        assert np.all(plan.start[sw] + sp - 1 == np.arange(n))
        assert np.all(plan.text_index[sw] == t)
        gathered.extend(zip(sw.tolist(), sp.tolist()))
    # Merging gathers each (window, position) once, i.e. each (text, piece) exactly once.
    assert len(set(gathered)) == len(gathered) == sum(n_pieces)


def test_long_text_plans_fast():
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        plan = plan_windows([10_000], window=512, stride=128)
        best = min(best, time.perf_counter() - began)
    assert best < 0.05, f"planning 10,000 pieces took {best * 1000:.1f} ms"
    # C = 510, step 382: ceil((10000 - 510) / 382) = 25 regular windows, then the shifted last.
    assert plan.n_windows == 26 and plan.start[-1] == 10_000 - 510


def test_many_texts_plan_fast():
    # A pipe batch of thousands of texts: the plan is vectorised over texts, not a loop.
    n_pieces = np.random.default_rng(0).integers(0, 1500, size=2000)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        plan = plan_windows(n_pieces, window=512, stride=128)
        best = min(best, time.perf_counter() - began)
    assert best < 0.25, f"planning 2,000 texts took {best * 1000:.1f} ms"
    assert plan.n_texts == 2000 and sum(len(s) for s in plan.source_window) == n_pieces.sum()


def test_piece_counts_are_checked():
    with raises_code("E303", match=r"n_pieces\[1\] = -2"):
        plan_windows([5, -2], 16, 4)
    with pytest.raises(TypeError):
        plan_windows([5, 2.5], 16, 4)
    assert plan_windows(np.array([5, 0], dtype=np.int32), 16, 4).n_windows == 2
