"""The stage-timing hook (`spacy_bert.layers.stages.timing`): what the stages report, and that nothing
is reported (or kept registered) outside `record_stages`."""
import time

import pytest
import spacy

from spacy_bert.layers.stages import timing
from spacy_bert.layers.stages.timing import STAGES, record_stages, stage, timed_stage

LONG_TEXT = " ".join(f"Sentence number {i} talks about tokenization and windows." for i in range(30))


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir):
    # the tiny model has 64 positions: the long text becomes several windows
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 64, "stride": 16, "max_batch_items": 256})
    nlp.initialize()
    return nlp


def test_bert_component_reports_every_stage_in_order(nlp):
    calls = []
    with record_stages(lambda name, seconds: calls.append((name, seconds))):
        doc = nlp(LONG_TEXT)
    assert doc.tensor.shape[0] == len(doc) > 0
    names = [name for name, _ in calls]
    assert set(names) == set(STAGES)
    assert all(seconds >= 0.0 for _, seconds in calls)
    # one call of each outer stage; a nested stage is reported before the stage around it ends
    assert names.count("encode") == names.count("plan") == names.count("run") == names.count("merge") == 1
    forwards = names.count("forward")
    assert forwards >= 2  # 256 pieces per batch: the windows of the long text need several forwards
    assert names == ["encode", "plan"] + ["forward"] * forwards + ["run", "align", "pool", "merge"]
    total = {name: sum(s for n, s in calls if n == name) for name in STAGES}
    assert total["forward"] <= total["run"]
    assert total["align"] + total["pool"] <= total["merge"]


def test_nothing_is_reported_outside_the_block(nlp):
    calls = []
    with record_stages(lambda name, seconds: calls.append(name)):
        pass
    nlp("Nobody listens now.")
    assert calls == []
    assert timing._callbacks == ()
    # no callback: `stage` hands out the one shared no-op context manager, nothing is timed
    assert stage("encode") is stage("run")


def test_callback_is_removed_after_an_exception_and_several_callbacks_each_see_all():
    first, second = [], []
    with pytest.raises(RuntimeError):
        with record_stages(lambda name, s: first.append(name)):
            with record_stages(lambda name, s: second.append(name)):
                with stage("plan"):
                    pass
                raise RuntimeError("boom")
    assert first == second == ["plan"]
    assert timing._callbacks == ()


def test_timed_stage_measures_the_call_and_keeps_the_function():
    @timed_stage("encode")
    def slow(x, *, y=1):
        """Doc."""
        time.sleep(0.01)
        return x + y

    assert slow.__doc__ == "Doc." and slow.__name__ == "slow"
    assert slow(1) == 2  # no callback: a plain call
    calls = []
    with record_stages(lambda name, seconds: calls.append((name, seconds))):
        assert slow(1, y=2) == 3
    assert [name for name, _ in calls] == ["encode"] and calls[0][1] >= 0.01
