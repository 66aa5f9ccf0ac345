"""Settings given at load win (issue 22, item 4): `spacy.load(path, config={"components": {name:
{...}}})` gives a component that behaves with the given settings, for every component, and a
re-save writes one consistent value (nlp.config and the component's cfg agree after
to_disk / spacy.load). A setting the saved weights cannot honour is refused (E760).

Behaviour is checked against a component built fresh from the same checkpoint with the same
settings, and must differ from the saved pipeline loaded without the override (so a test that
loaded the saved value instead would fail).
"""
import shutil

import pytest
import spacy
import srsly
from spacy.training import Example

import spacy_bert
from tests.error_codes import raises_code
from tests.pipeline.saved_components import COMPONENTS, build, observe, saved_pipelines
from tests.pipeline.test_textcat import LISTENER_MODEL

#: Settings every saved pipeline here is built with (windows that fit the 64 positions).
BASE = {
    "bert": {"window": 64, "stride": 16},
    "bert_ner": {"window": 64, "stride": 16},
    "bert_textcat": {"window": 64, "stride": 16},
    "bert_qa": {"max_seq_len": 64, "doc_stride": 16},
    "bert_fill_mask": {"window": 64, "stride": 16},
}
#: Per component, single overrides and a combined one; each changes what the component produces.
OVERRIDES = {
    "bert": [{"window": 24}, {"pooling": "first"}, {"store_piece_states": True}, {"window": 32, "stride": 4, "pooling": "max"}],
    "bert_ner": [{"window": 24}, {"spans_key": "people"}, {"window": 32, "stride": 4, "spans_key": "found"}],
    "bert_textcat": [{"window": 24}, {"precision": "bfloat16"}, {"window": 32, "stride": 4, "precision": "bfloat16"}],
    "bert_qa": [{"top_k": 3}, {"max_seq_len": 40}, {"top_k": 2, "max_seq_len": 32, "doc_stride": 8, "scoring": "pipeline"}],
    "bert_fill_mask": [{"top_k": 2}, {"targets": ["paris", "london", "berlin"]}, {"top_k": 3, "window": 24, "stride": 4}],
}
CASES = [(name, overrides) for name in COMPONENTS for overrides in OVERRIDES[name]]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_bert_dir, minilm_dir):
    """name -> (saved pipeline path, checkpoint); built and saved once per component."""
    return saved_pipelines(tmp_path_factory, tiny_bert_dir, minilm_dir, lambda name: BASE[name], "overrides")


def setting(component, key):
    return component.precision if key == "precision" else component.cfg[key]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,overrides", CASES)
def test_override_at_load_is_honoured(saved, name, overrides):
    path, checkpoint = saved(name)
    nlp = spacy.load(path, config={"components": {name: overrides}})
    component = nlp.get_pipe(name)
    for key, value in overrides.items():
        assert nlp.config["components"][name][key] == value
        assert setting(component, key) == value
    got = observe(nlp, name)
    assert got == observe(build(name, checkpoint, **{**BASE[name], **overrides}), name)
    assert got != observe(spacy.load(path), name), "the override does not change what the component produces"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", COMPONENTS)
def test_resave_writes_one_consistent_value(saved, name, tmp_path):
    path, _ = saved(name)
    overrides = OVERRIDES[name][-1]
    nlp = spacy.load(path, config={"components": {name: overrides}})
    before = observe(nlp, name)
    nlp.to_disk(tmp_path / "again")
    written = srsly.read_json(tmp_path / "again" / name / "cfg")
    again = spacy.load(tmp_path / "again")  # no override now
    for key, value in overrides.items():
        assert again.config["components"][name][key] == value
        assert setting(again.get_pipe(name), key) == value
        if key != "precision":  # precision lives in the pipeline's config only
            assert written[key] == value
    assert observe(again, name) == before


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_component_from_bytes_keeps_its_own_settings(saved):
    """Component level: the receiving component's factory arguments win over the bytes' cfg."""
    path, _ = saved("bert_qa")
    data = spacy.load(path).get_pipe("bert_qa").to_bytes()
    nlp = spacy.blank("en")
    qa = nlp.add_pipe("bert_qa", config={"top_k": 3, "max_seq_len": 64, "doc_stride": 16})
    qa.from_bytes(data)
    assert qa.cfg["top_k"] == 3
    answers = spacy_bert.ask(nlp, "Alice Smith met Bob Jones in Paris yesterday.", ["Who met Bob?"])._.answers
    assert len(answers["0"]) == 3


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cfg_saved_before_the_config_record_lets_the_factory_win(saved, tmp_path):
    """A cfg without the `config` record (older saves): every factory argument wins."""
    path, _ = saved("bert_qa")
    shutil.copytree(path, tmp_path / "old")
    cfg_path = tmp_path / "old" / "bert_qa" / "cfg"
    cfg = srsly.read_json(cfg_path)
    cfg.pop("config")
    cfg["top_k"] = 4  # what the old save said; the pipeline's config says 1
    srsly.write_json(cfg_path, cfg)
    assert spacy.load(tmp_path / "old").get_pipe("bert_qa").cfg["top_k"] == 1
    loaded = spacy.load(tmp_path / "old", config={"components": {"bert_qa": {"top_k": 2}}})
    assert loaded.get_pipe("bert_qa").cfg["top_k"] == 2
    assert len(spacy_bert.ask(loaded, "Alice met Bob in Paris.", ["Who met Bob?"])._.answers["0"]) == 2


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_setting_the_weights_cannot_honour_is_refused(saved):
    """bert_textcat's head was trained for one problem type: multi_label cannot change at load."""
    path, _ = saved("bert_textcat")
    with raises_code("E760", match="multi_label"):
        spacy.load(path, config={"components": {"bert_textcat": {"multi_label": True}}})
    nlp = spacy.load(path)
    textcat = nlp.get_pipe("bert_textcat")
    before = (dict(textcat.cfg), observe(nlp, "bert_textcat"))
    other = spacy.blank("en")
    refusing = other.add_pipe("bert_textcat", config={"multi_label": True})
    with raises_code("E760"):
        refusing.from_disk(path / "bert_textcat")
    assert refusing.cfg["multi_label"] is True and refusing.cfg["labels"] == []
    assert (dict(textcat.cfg), observe(nlp, "bert_textcat")) == before


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_override_after_replace_listeners(tiny_bert_dir, tmp_path):
    """After `nlp.replace_listeners` the task component's own encoder keeps the shared `bert`
    component's window (which its config cannot show); an override at load still wins."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 32, "stride": 8})
    nlp.add_pipe("bert_textcat", config={"model": LISTENER_MODEL})
    doc = nlp.make_doc("a good day")
    doc.cats = {"good": 1.0, "bad": 0.0}
    nlp.initialize(get_examples=lambda: [Example(nlp.make_doc(doc.text), doc)])
    nlp.replace_listeners("bert", "bert_textcat", ["model.tok2vec"])
    nlp.remove_pipe("bert")
    nlp.to_disk(tmp_path / "pipeline")
    kept = spacy.load(tmp_path / "pipeline").get_pipe("bert_textcat")
    assert (kept.encoder.attrs["settings"].window, kept.encoder.attrs["settings"].stride) == (32, 8)
    overridden = spacy.load(tmp_path / "pipeline", config={"components": {"bert_textcat": {"window": 48, "stride": 6}}}).get_pipe("bert_textcat")
    assert (overridden.encoder.attrs["settings"].window, overridden.cfg["window"], overridden.encoder.attrs["settings"].stride) == (48, 48, 6)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", COMPONENTS)
def test_another_checkpoint_at_load_is_refused_null_is_accepted(saved, name, tiny_bert_dir, tmp_path):
    """A saved component never reads a checkpoint: pointing it at another one would be ignored,
    so it is refused (E760); null (no checkpoint) loads the saved weights."""
    path, checkpoint = saved(name)
    other = tmp_path / "other-checkpoint"
    shutil.copytree(tiny_bert_dir, other)
    with raises_code("E760", match="checkpoint"):
        spacy.load(path, config={"components": {name: {"checkpoint": str(other)}}})
    nlp = spacy.load(path, config={"components": {name: {"checkpoint": None}}})
    assert nlp.get_pipe(name).cfg["checkpoint"] is None
    assert nlp.config["components"][name]["checkpoint"] is None
    assert observe(nlp, name) == observe(spacy.load(path), name)
