"""Heads in torch (layers/heads/mlm.py) and the head table (layers/shim/head_weights.py), against transformers."""
import numpy as np
import pytest
import torch

from spacy_bert.checkpoint import load_pretrained
from spacy_bert.layers.shim.head_weights import HEAD_PARAMS, build_hf_model, head_arrays, read_task_weights, write_task_weights
from spacy_bert.layers.heads.mlm import MaskedLMAdapter, score_masked_positions
from spacy_bert.modeling import (
    BertForMaskedLM,
    BertForPreTraining,
    BertForNextSentencePrediction,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from tests.error_codes import raises_code
from tests.modeling.helpers import assert_close, batch


def _labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, seed: int = 3) -> torch.Tensor:
    """MLM labels: about a third of the real positions scored (their original id), -100 elsewhere."""
    g = torch.Generator().manual_seed(seed)
    chosen = (torch.rand(input_ids.shape, generator=g) < 0.35) & attention_mask.bool()
    chosen[0, 1] = True  # at least one
    return torch.where(chosen, input_ids, torch.full_like(input_ids, -100))


@pytest.mark.parametrize("class_name", ["BertForMaskedLM", "BertForPreTraining"])
def test_mlm_adapter_equals_full_transformers_computation(make_hf_checkpoint, class_name):
    hf, directory = make_hf_checkpoint(class_name)
    ours = load_pretrained(BertForMaskedLM if class_name == "BertForMaskedLM" else BertForPreTraining, directory)
    inputs = batch()
    labels = _labels(inputs["input_ids"], inputs["attention_mask"])
    with torch.no_grad():
        full = hf(**inputs, labels=labels)
    full_logits = full.logits if class_name == "BertForMaskedLM" else full.prediction_logits
    scored = labels != -100
    expected_scores, expected_ids = full_logits[scored].softmax(-1).topk(5, dim=-1)
    expected_loss = torch.nn.functional.cross_entropy(full_logits[scored], labels[scored])

    result = MaskedLMAdapter(ours)(**inputs, labels=labels, top_k=5)
    assert abs(result.loss.item() - expected_loss.item()) <= 1e-5
    if class_name == "BertForMaskedLM":
        assert abs(result.loss.item() - full.loss.item()) <= 1e-5  # transformers' own loss
    assert torch.equal(result.positions, scored.nonzero())
    assert torch.equal(result.top_ids, expected_ids)
    assert_close(result.top_scores, expected_scores, atol=1e-6)
    loss, positions, top_ids, top_scores = result.to_numpy()
    assert top_ids.shape == top_scores.shape == (int(scored.sum()), 5)
    assert top_ids.dtype == np.int32 and top_scores.dtype == np.float32 and isinstance(loss, float)


def test_mlm_adapter_gradients_equal_transformers(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertForMaskedLM")
    ours = load_pretrained(BertForMaskedLM, directory)
    inputs = batch()
    labels = _labels(inputs["input_ids"], inputs["attention_mask"])
    hf.zero_grad()
    hf(**inputs, labels=labels).loss.backward()
    MaskedLMAdapter(ours)(**inputs, labels=labels).loss.backward()
    theirs = dict(hf.named_parameters())
    for name in ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight", "cls.predictions.transform.dense.weight"):
        assert_close(dict(ours.named_parameters())[name].grad, theirs[name].grad, atol=1e-5)


def test_mlm_adapter_projects_only_scored_positions(make_hf_checkpoint):
    """The decoder sees (n_scored, hidden), never (batch * seq, hidden)."""
    _, directory = make_hf_checkpoint("BertForMaskedLM")
    ours = load_pretrained(BertForMaskedLM, directory)
    seen = []
    handle = ours.cls.predictions.decoder.register_forward_hook(lambda module, args, out: seen.append(tuple(out.shape)))
    inputs = batch()
    scored = torch.zeros_like(inputs["input_ids"], dtype=torch.bool)
    scored[0, 2] = scored[2, 4] = True
    with torch.no_grad():
        result = MaskedLMAdapter(ours)(**inputs, scored=scored, top_k=3)
    handle.remove()
    assert seen == [(2, ours.config.vocab_size)]
    assert result.loss is None and result.top_ids.shape == (2, 3)
    assert result.positions.tolist() == [[0, 2], [2, 4]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "neither labels nor scored"),
        ({"scored": torch.ones(2, 2, dtype=torch.bool)}, "scored mask of shape"),
        ({"scored": torch.ones(3, 11, dtype=torch.long)}, "scored mask of dtype"),
        ({"labels": torch.zeros(3, 11, dtype=torch.long), "top_k": 0}, "top_k"),
        ({"labels": torch.zeros(3, 5, dtype=torch.long)}, "labels of shape"),
    ],
)
def test_mlm_adapter_bad_inputs_are_coded_errors(make_hf_checkpoint, kwargs, match):
    _, directory = make_hf_checkpoint("BertForMaskedLM")
    adapter = MaskedLMAdapter(load_pretrained(BertForMaskedLM, directory))
    with raises_code("E380", match):
        adapter(**batch(), **kwargs)


def test_mlm_adapter_refuses_other_models(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertModel")
    with raises_code("E380"):
        MaskedLMAdapter(load_pretrained(BertModel, directory))


def test_mlm_adapter_parameters_keep_their_names(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForMaskedLM")
    model = load_pretrained(BertForMaskedLM, directory)
    adapter = MaskedLMAdapter(model)
    assert [n.removeprefix("model.") for n, _ in adapter.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_score_masked_positions_moves_labels_to_the_device(make_hf_checkpoint):
    """labels on another device than the hidden states are moved, not an error (CUDA only)."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    _, directory = make_hf_checkpoint("BertForMaskedLM")
    model = load_pretrained(BertForMaskedLM, directory).cuda()
    inputs = {k: v.cuda() for k, v in batch().items()}
    labels = _labels(inputs["input_ids"].cpu(), inputs["attention_mask"].cpu())
    result = MaskedLMAdapter(model)(**inputs, labels=labels)
    assert result.loss.device.type == "cuda"


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (BertForMaskedLM, {"labels": "ids"}),
        (BertForPreTraining, {"labels": "ids", "next_sentence_label": "nsp"}),
        (BertForNextSentencePrediction, {"labels": "nsp"}),
    ],
)
def test_pretraining_heads_move_labels_to_the_logits_device(cls, kwargs):
    """CPU labels with a model on CUDA: Hugging Face moves them; so do we (CUDA only)."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from spacy_bert.modeling import BertConfig

    torch.manual_seed(0)
    model = cls(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37)).cuda()
    inputs = batch()
    values = {"ids": inputs["input_ids"], "nsp": torch.tensor([0, 1, 0])}
    out = model(**{k: v.cuda() for k, v in inputs.items()}, **{k: values[v] for k, v in kwargs.items()})
    assert out.loss is not None and out.loss.device.type == "cuda"


# -- the head table ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "class_name, cls",
    [
        ("BertForTokenClassification", BertForTokenClassification),
        ("BertForSequenceClassification", BertForSequenceClassification),
        ("BertForQuestionAnswering", BertForQuestionAnswering),
    ],
)
def test_head_table_round_trip_equals_transformers(make_hf_checkpoint, class_name, cls):
    """Reading a head by the table and building the model back gives transformers' outputs."""
    overrides = {"num_labels": 2} if cls is BertForQuestionAnswering else {}
    hf, directory = make_hf_checkpoint(class_name, **overrides)
    model = load_pretrained(cls, directory)
    arrays = head_arrays(model)
    assert set(arrays) == set(HEAD_PARAMS[cls].values())
    rebuilt = build_hf_model(cls, model.bert, arrays, {"num_labels": model.config.num_labels})
    assert sorted(rebuilt.state_dict()) == sorted(model.state_dict())
    inputs = batch()
    with torch.no_grad():
        theirs, ours = hf(**inputs), rebuilt(**inputs)
    for field in ("logits",) if cls is not BertForQuestionAnswering else ("start_logits", "end_logits"):
        assert_close(getattr(ours, field), getattr(theirs, field), mask=inputs["attention_mask"] if field != "logits" or cls is BertForTokenClassification else None)


def test_building_a_model_leaves_torch_random_stream_alone(make_hf_checkpoint):
    """Saving a task component builds the Hugging Face model; that must not consume the global
    generator, or a training run's dropout masks would depend on when it saved a checkpoint."""
    _, directory = make_hf_checkpoint("BertForTokenClassification")
    model = load_pretrained(BertForTokenClassification, directory)
    arrays = head_arrays(model)
    torch.manual_seed(123)
    build_hf_model(BertForTokenClassification, model.bert, arrays, {"num_labels": model.config.num_labels})
    after_build = torch.rand(4)
    torch.manual_seed(123)
    untouched = torch.rand(4)
    assert torch.equal(after_build, untouched)


def test_head_of_the_wrong_shape_is_a_coded_error(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForTokenClassification")
    model = load_pretrained(BertForTokenClassification, directory)
    arrays = head_arrays(model)
    arrays["W"] = arrays["W"][:, :5]
    with raises_code("E381"):
        build_hf_model(BertForTokenClassification, model.bert, arrays, {"num_labels": 3})


def test_task_weights_keep_bf16_encoder_and_exact_fp32_head(make_hf_checkpoint, tmp_path):
    _, directory = make_hf_checkpoint("BertForSequenceClassification")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (directory / "vocab.txt").write_text("\n".join(specials + [f"w{i}" for i in range(99 - len(specials))]) + "\n")
    weights = read_task_weights(BertForSequenceClassification, directory, keep_dtype=False)
    encoder = weights.encoder.to(torch.bfloat16)
    head = {k: v + np.float32(1e-3) for k, v in weights.head.items()}  # not representable in bf16
    write_task_weights(BertForSequenceClassification, tmp_path / "m", encoder, weights.tokenizer, head, {"num_labels": 3})
    back = read_task_weights(BertForSequenceClassification, tmp_path / "m", keep_dtype=True)
    assert back.encoder.dtype == torch.bfloat16
    assert all(np.array_equal(back.head[k], head[k]) for k in head)
    for (name, a), (_, b) in zip(back.encoder.state_dict().items(), encoder.state_dict().items()):
        assert torch.equal(a, b), name
