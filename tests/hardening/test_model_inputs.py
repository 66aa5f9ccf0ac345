"""The public modeling API answers bad input with coded errors, never a raw torch/Python error."""
import numpy as np
import pytest
import torch

import spacy_bert
from spacy_bert import BertConfig
from spacy_bert.modeling import masks
from spacy_bert.modeling.dtypes import parse_float_dtype
from tests.modeling.helpers import TINY, batch


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return spacy_bert.BertModel(BertConfig(**TINY)).eval()


@pytest.fixture(scope="module")
def ids():
    return batch()["input_ids"]


@pytest.mark.parametrize(
    "make",
    [
        lambda ids: ids.tolist(),
        lambda ids: ids.numpy(),
        lambda ids: ids.float(),
        lambda ids: ids.bool(),
        lambda ids: ids.to(torch.uint8),
    ],
    ids=["list", "numpy", "float", "bool", "uint8"],
)
def test_input_ids_of_the_wrong_type(model, ids, make):
    with pytest.raises(TypeError, match="E030"):
        model(make(ids))


def test_int32_ids_are_ids(model, ids):
    torch.testing.assert_close(model(ids.int()).last_hidden_state, model(ids).last_hidden_state)


@pytest.mark.parametrize("shape", [(3, 0), (11,), (2, 3, 4)])
def test_input_ids_of_the_wrong_shape(model, shape):
    with pytest.raises(ValueError, match="E031"):
        model(torch.zeros(shape, dtype=torch.long))


@pytest.mark.parametrize("name", ["position_ids", "token_type_ids"])
@pytest.mark.parametrize("shape", [(3, 10), (2, 11), (33,), (3, 11, 1)])
def test_per_position_inputs_of_the_wrong_shape(model, ids, name, shape):
    with pytest.raises(ValueError, match="E008"):
        model(ids, **{name: torch.zeros(shape, dtype=torch.long)})


def test_float_token_type_ids(model, ids):
    with pytest.raises(TypeError, match="E030.*token_type_ids|token_type_ids.*E030"):
        model(ids, token_type_ids=torch.zeros(ids.shape))


def test_position_ids_of_one_row_broadcast(model, ids):
    out = model(ids, position_ids=torch.arange(ids.shape[1])[None])
    torch.testing.assert_close(out.last_hidden_state, model(ids).last_hidden_state)


@pytest.mark.parametrize(
    "embeds",
    [torch.zeros(3, 11, 31), torch.zeros(3, 0, 32), torch.zeros(3, 11, 32, dtype=torch.long), np.zeros((3, 11, 32))],
    ids=["width", "empty", "int", "numpy"],
)
def test_inputs_embeds_of_the_wrong_shape_or_type(model, embeds):
    with pytest.raises((TypeError, ValueError), match="E03[12]"):
        model(inputs_embeds=embeds)


def test_attention_mask_as_a_list(model, ids):
    with pytest.raises(TypeError, match="E036"):
        model(ids, attention_mask=[[1] * ids.shape[1]] * ids.shape[0])


@pytest.mark.parametrize("cls", ["BertForMaskedLM", "BertForTokenClassification", "BertForPreTraining"])
@pytest.mark.parametrize("bad", [100, -1, 10**6])
def test_labels_out_of_range(cls, ids, bad):
    model = getattr(spacy_bert, cls)(BertConfig(**TINY))
    labels = torch.full_like(ids, -100)
    labels[0, 1] = bad
    with pytest.raises(ValueError, match=f"E035.*{bad}"):
        model(ids, labels=labels)


@pytest.mark.parametrize("cls", ["BertForMaskedLM", "BertForTokenClassification"])
def test_ignore_index_and_valid_labels_still_work(cls, ids):
    model = getattr(spacy_bert, cls)(BertConfig(**TINY))
    labels = torch.full_like(ids, -100)
    labels[:, 1] = 2
    assert torch.isfinite(model(ids, labels=labels).loss)
    assert torch.isfinite(model(ids, labels=labels.int()).loss)  # int32 labels are ids too


def test_sequence_classification_labels(ids):
    model = spacy_bert.BertForSequenceClassification(BertConfig(**TINY))
    with pytest.raises(ValueError, match="E035"):
        model(ids, labels=torch.tensor([0, 1, 3]))
    with pytest.raises(ValueError, match="E034"):
        model(ids, labels=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="E033"):
        model(ids, labels=[0, 1, 2])
    multi = spacy_bert.BertForSequenceClassification(BertConfig(**TINY, problem_type="multi_label_classification"))
    with pytest.raises(ValueError, match="E041"):
        multi(ids, labels=torch.ones(3, 2))
    assert torch.isfinite(model(ids, labels=torch.tensor([0, -100, 2])).loss)


def test_next_sentence_labels(ids):
    model = spacy_bert.BertForNextSentencePrediction(BertConfig(**TINY))
    with pytest.raises(ValueError, match="E035"):
        model(ids, labels=torch.tensor([0, 1, 2]))


# -- validate_inputs: value checks (device syncs) on by default, off for the shim -------------

def test_validate_inputs_is_on_by_default_and_set_through_heads():
    model = spacy_bert.BertForTokenClassification(BertConfig(**TINY))
    assert model.validate_inputs and model.bert.validate_inputs
    model.validate_inputs = False
    assert not model.validate_inputs and not model.bert.validate_inputs
    assert spacy_bert.BertModel(BertConfig(**TINY)).validate_inputs  # the class default is untouched


def test_validate_inputs_true_checks_id_values(model, ids):
    bad = ids.clone()
    bad[0, 0] = 99
    with pytest.raises(ValueError, match="vocabulary has only 99"):
        model(bad)


def test_validate_inputs_false_skips_every_value_read(ids, monkeypatch):
    """With validate_inputs=False no check reads a tensor (`max`, `min`, `all`), so nothing syncs."""
    model = spacy_bert.BertModel(BertConfig(**TINY)).eval()
    data = batch()
    expected = model(**data).last_hidden_state
    reads = []
    for name in ("max", "min", "all"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    model.validate_inputs = False
    out = model(**data).last_hidden_state
    assert reads == []
    torch.testing.assert_close(out, expected)  # same result, mask always applied
    model.validate_inputs = True
    model(**data)
    assert {"max", "min", "all"} <= set(reads)


def test_validate_inputs_false_keeps_shape_and_dtype_checks(ids):
    model = spacy_bert.BertModel(BertConfig(**TINY))
    model.validate_inputs = False
    with pytest.raises(TypeError, match="E030"):
        model(ids.float())
    with pytest.raises(ValueError, match="E031"):
        model(ids[:, :0])


def test_full_mask_kept_when_not_dropped():
    mask = torch.ones(2, 5, dtype=torch.long)
    kwargs = dict(batch_size=2, query_length=5, past_length=0, causal=False, dtype=torch.float32, device=torch.device("cpu"))
    assert masks.self_attention_mask(mask, **kwargs) is None
    assert masks.self_attention_mask(mask, drop_full_mask=False, **kwargs).abs().max() == 0


# -- config values ---------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0, 0.0, -1e-12, float("nan"), float("inf"), "1e-12", True])
def test_layer_norm_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="E003.*layer_norm_eps|layer_norm_eps.*"):
        BertConfig(**TINY, layer_norm_eps=eps)


def test_deeply_nested_config_value():
    nested = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(ValueError, match="E037.*task_specific_params"):
        BertConfig(**TINY, task_specific_params=nested)


@pytest.mark.parametrize("id2label", [{"zero": "O"}, {"0.5": "O"}, {True: "O"}, {None: "O"}])
def test_id2label_keys_must_be_ids(id2label):
    with pytest.raises(ValueError, match="E038"):
        BertConfig(**{**TINY, "num_labels": None}, id2label=id2label)


@pytest.mark.parametrize("id2label", [{"0": "O", "2": "B-X"}, {"1": "O"}, {"0": "O", "-1": "X"}])
def test_id2label_with_gaps(id2label):
    with pytest.raises(ValueError, match="E039"):
        BertConfig(**{**TINY, "num_labels": None}, id2label=id2label)


def test_id2label_string_keys_still_read():
    config = BertConfig(**{**TINY, "num_labels": None}, id2label={"1": "B", "0": "O"})
    assert config.id2label == {0: "O", 1: "B"} and config.label2id == {"O": 0, "B": 1}


@pytest.mark.parametrize("value", ["abc", -1, 2.5])
def test_num_labels_must_be_a_count(value):
    with pytest.raises(ValueError, match="E003.*num_labels"):
        BertConfig(**{**TINY, "num_labels": value})


# -- dtype names from files ------------------------------------------------------------------

@pytest.mark.parametrize("name,dtype", [("float32", torch.float32), ("torch.bfloat16", torch.bfloat16), ("float16", torch.float16)])
def test_parse_float_dtype(name, dtype):
    assert parse_float_dtype(name) is dtype


@pytest.mark.parametrize("name", ["int64", "bool", "uint8", "manual_seed", "nn", "", None, 3, "torch.long"])
def test_parse_float_dtype_refuses_anything_else(name):
    with pytest.raises(ValueError, match="E040"):
        parse_float_dtype(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the CPU spy test above covers the logic)")
def test_validate_inputs_false_never_syncs_cuda():
    model = spacy_bert.BertModel(BertConfig(**TINY)).cuda().eval()
    data = {k: v.cuda() for k, v in batch().items()}
    model.validate_inputs = False
    model(**data)  # warm-up (lazy CUDA init may sync)
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.no_grad():
            model(**data)
    finally:
        torch.cuda.set_sync_debug_mode("default")
