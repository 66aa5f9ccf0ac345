"""Loading a saved pipeline is strict (issue 22, item 5), unlike starting from a checkpoint
(where a missing head is made fresh with a warning):

- weights without the component's head (config.json that lost `architectures`, another
  component's model.safetensors or whole model folder copied in): E761 / E762;
- cfg labels that disagree with config.json's `id2label` (reordered, renamed, missing, extra):
  E763 (E388 when their number differs from the head's rows);
- a missing weights file or config.json: the loader's coded errors (E102, E106);
- bert_qa's saved "has a head" flag never marks a head that was not read as trained;
- no half-loaded component: loading a damaged folder into a working component raises before
  anything changes (its cfg and its predictions stay as they were).
"""
import json
import shutil

import pytest
import spacy
import srsly

import spacy_bert
from tests.error_codes import raises_code
from tests.pipeline.saved_components import COMPONENTS, build, observe, saved_pipelines

HEADED = ("bert_ner", "bert_textcat", "bert_qa", "bert_fill_mask")
BASE = {"bert_qa": {"max_seq_len": 64, "doc_stride": 16}}
DEFAULT_BASE = {"window": 64, "stride": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_bert_dir, minilm_dir):
    """name -> a saved pipeline with that one component (from a fine-tuned checkpoint)."""
    get = saved_pipelines(tmp_path_factory, tiny_bert_dir, minilm_dir, lambda name: BASE.get(name, DEFAULT_BASE), "strict")
    return lambda name: get(name)[0]


@pytest.fixture(scope="module")
def loaded(saved):
    """name -> (a working pipeline loaded from the good save, its cfg and output before)."""
    made = {}

    def get(name):
        if name not in made:
            nlp = spacy.load(saved(name))
            made[name] = nlp
        nlp = made[name]
        return nlp, json.dumps(nlp.get_pipe(name).cfg, sort_keys=True), observe(nlp, name)

    return get


def damaged_copy(saved, name, tmp_path):
    target = tmp_path / "damaged"
    shutil.copytree(saved(name), target)
    return target


def assert_refused(saved, loaded, name, damaged, code, exception=ValueError, match=None):
    """spacy.load of `damaged` raises `code`; so does loading its component into a working one,
    which then is unchanged (cfg and what it produces)."""
    with raises_code(code, match=match, exception=exception):
        spacy.load(damaged)
    nlp, cfg_before, output_before = loaded(name)
    component = nlp.get_pipe(name)
    with raises_code(code, match=match, exception=exception):
        component.from_disk(damaged / name)
    assert json.dumps(component.cfg, sort_keys=True) == cfg_before
    assert observe(nlp, name) == output_before


def edit_json(path, edit):
    """Edit a JSON file with the standard library (srsly's writer rounds 1e-12 to 0.0)."""
    data = json.loads(path.read_text(encoding="utf8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf8")


# -- the head is missing ----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", HEADED)
def test_config_without_architectures(saved, loaded, name, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    edit_json(damaged / name / "model" / "config.json", lambda c: c.pop("architectures"))
    assert_refused(saved, loaded, name, damaged, "E761", match="architectures")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", HEADED)
def test_architectures_naming_another_class(saved, loaded, name, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    other = "BertModel" if name != "bert_qa" else "BertForTokenClassification"
    edit_json(damaged / name / "model" / "config.json", lambda c: c.update(architectures=[other]))
    assert_refused(saved, loaded, name, damaged, "E761", match=other)


#: (component, the component whose model.safetensors is copied in, expected code)
SWAPPED_WEIGHTS = [
    ("bert_ner", "bert_qa", "E762"),
    ("bert_ner", "bert_textcat", "E762"),  # classifier.* of the right name, but a pooler too
    ("bert_textcat", "bert_ner", "E761"),  # classifier.* of the right name, no pooler
    ("bert_qa", "bert_ner", "E762"),
    ("bert_qa", "bert_fill_mask", "E762"),
    ("bert_fill_mask", "bert_qa", "E762"),
    ("bert_fill_mask", "bert_textcat", "E762"),
    ("bert", "bert_qa", "E762"),
    ("bert", "bert_textcat", "E762"),
    ("bert", "bert_fill_mask", "E762"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,source,code", SWAPPED_WEIGHTS)
def test_model_safetensors_of_another_component(saved, loaded, name, source, code, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    shutil.copy(saved(source) / source / "model" / "model.safetensors", damaged / name / "model" / "model.safetensors")
    assert_refused(saved, loaded, name, damaged, code)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,source", [("bert_ner", "bert_qa"), ("bert_qa", "bert_fill_mask"), ("bert_fill_mask", "bert_ner"), ("bert_textcat", "bert_qa")])
def test_whole_model_folder_of_another_component(saved, loaded, name, source, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    shutil.rmtree(damaged / name / "model")
    shutil.copytree(saved(source) / source / "model", damaged / name / "model")
    assert_refused(saved, loaded, name, damaged, "E761", match="architectures")


# -- labels against id2label ------------------------------------------------------------------
def _swap_first_rows(labels):
    labels[1], labels[2] = labels[2], labels[1]


def _rename_in_id2label(config):
    config["id2label"]["1"] = config["id2label"]["1"] + "X"


def _drop_from_id2label(config):
    config["id2label"].pop(str(len(config["id2label"]) - 1))


def _add_to_id2label(config):
    config["id2label"][str(len(config["id2label"]))] = "EXTRA"


def _rename_in_cfg(labels):
    labels[-1] = labels[-1].lower() + "-renamed"


LABEL_DAMAGE = {
    "cfg labels reordered": ("cfg", _swap_first_rows, "E763", "another order"),
    "cfg label renamed": ("cfg", _rename_in_cfg, "E763", "that id2label lacks"),
    "id2label label renamed": ("config", _rename_in_id2label, "E763", "that cfg lacks"),
    "id2label entry missing": ("config", _drop_from_id2label, "E763", "that id2label lacks"),
    "id2label entry extra": ("config", _add_to_id2label, "E763", "that cfg lacks"),
    "cfg label extra": ("cfg", lambda labels: labels.append("B-EXTRA"), "E388", None),
    "cfg label missing": ("cfg", lambda labels: labels.pop(), "E388", None),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["bert_ner", "bert_textcat"])
@pytest.mark.parametrize("damage", list(LABEL_DAMAGE))
def test_labels_that_disagree_with_id2label(saved, loaded, name, damage, tmp_path):
    where, edit, code, match = LABEL_DAMAGE[damage]
    damaged = damaged_copy(saved, name, tmp_path)
    if where == "cfg":
        edit_json(damaged / name / "cfg", lambda cfg: edit(cfg["labels"]))
    else:
        edit_json(damaged / name / "model" / "config.json", edit)
    assert_refused(saved, loaded, name, damaged, code, match=match)


# -- missing files ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", COMPONENTS)
def test_missing_model_file(saved, loaded, name, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    (damaged / name / "model" / "model.safetensors").unlink()
    assert_refused(saved, loaded, name, damaged, "E102", exception=FileNotFoundError)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", COMPONENTS)
def test_missing_config_json(saved, loaded, name, tmp_path):
    damaged = damaged_copy(saved, name, tmp_path)
    (damaged / name / "model" / "config.json").unlink()
    assert_refused(saved, loaded, name, damaged, "E106", exception=FileNotFoundError)


# -- what stays allowed -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bert_without_architectures_still_loads(saved, loaded, tmp_path):
    """The `bert` component has no head to lose: its config.json without `architectures` is a
    plain BertModel, as Hugging Face reads it."""
    damaged = damaged_copy(saved, "bert", tmp_path)
    edit_json(damaged / "bert" / "model" / "config.json", lambda c: c.pop("architectures", None))
    _, _, before = loaded("bert")
    assert observe(spacy.load(damaged), "bert") == before


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_task_component_saved_before_it_had_a_head(tiny_bert_dir, tmp_path):
    """Labels added but never initialised: the save holds the plain encoder, and loads."""
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir), **DEFAULT_BASE})
    ner.add_label("PER")
    nlp.to_disk(tmp_path / "pipeline")
    assert srsly.read_json(tmp_path / "pipeline" / "bert_ner" / "cfg")["state"] == {"has_head": False}
    again = spacy.load(tmp_path / "pipeline").get_pipe("bert_ner")
    assert again.labels == ("PER",) and again.head_weights() is None
    # ... and a state that claims a head for such a save: the weights lack it
    edit_json(tmp_path / "pipeline" / "bert_ner" / "cfg", lambda cfg: cfg["state"].update(has_head=True))
    with raises_code("E761"):
        spacy.load(tmp_path / "pipeline")


# -- bert_qa's "has a head" flag -------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_qa_untrained_head_stays_untrained(tiny_bert_dir, tmp_path):
    """A bert_qa from an encoder checkpoint, saved before initialize: its random qa_outputs are
    saved, but the component still refuses to answer after loading (E600)."""
    nlp = build("bert_qa", tiny_bert_dir, **BASE["bert_qa"])
    nlp.to_disk(tmp_path / "pipeline")
    again = spacy.load(tmp_path / "pipeline")
    assert again.get_pipe("bert_qa").model.attrs["has_head"] is False
    with raises_code("E600"):
        spacy_bert.ask(again, "Alice met Bob in Paris.", ["Who met Bob?"])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_qa_flag_without_weights_is_not_trained(saved):
    """Bytes whose state says "has a head" but that carry no weights: nothing marks the
    component trained (it has no weights at all)."""
    good = spacy.load(saved("bert_qa")).get_pipe("bert_qa")
    assert good.model.attrs["has_head"] is True
    msg = srsly.msgpack_loads(good.to_bytes())
    msg["files"] = {}
    msg["cfg"]["checkpoint"] = None
    msg["cfg"]["config"]["checkpoint"] = None
    nlp = spacy.blank("en")
    qa = nlp.add_pipe("bert_qa")
    qa.from_bytes(srsly.msgpack_dumps(msg))
    assert qa.model.attrs["has_head"] is False


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_task_bytes_without_the_head_they_had(tiny_bert_dir):
    """The bytes are the files of the saved folder: a listening bert_ner's head is its head
    file (an own encoder's head is inside model/, where a missing head is E761 as on disk)."""
    from tests.pipeline.test_saved_pipelines import listener_ner_nlp

    good = listener_ner_nlp(tiny_bert_dir).get_pipe("bert_ner")
    msg = srsly.msgpack_loads(good.to_bytes())
    assert list(msg["files"]) == ["classifier.safetensors"]
    msg["files"] = {}
    fresh = listener_ner_nlp(tiny_bert_dir)
    ner = fresh.get_pipe("bert_ner")
    labels = list(ner.cfg["labels"])
    with raises_code("E764"):
        ner.from_bytes(srsly.msgpack_dumps(msg))
    assert ner.cfg["labels"] == labels


def test_pooler_table_matches_the_model_classes():
    """`POOLER_CLASSES` (which saved folders must, or must not, hold `pooler.*`) is what the
    classes build."""
    from spacy_bert import modeling
    from spacy_bert.layers.shim.head_weights import HEAD_PARAMS, POOLER_CLASSES
    from tests.tiny import TINY_BERT

    config = modeling.BertConfig(**{**TINY_BERT, "vocab_size": 99})
    for cls in [modeling.BertModel, *HEAD_PARAMS]:
        has_pooler = any(n.removeprefix("bert.").startswith("pooler.") for n in cls(config).state_dict())
        assert has_pooler == (cls in POOLER_CLASSES), cls.__name__
