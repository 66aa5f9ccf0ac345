"""Every head against transformers on the same random tiny checkpoint: outputs, losses, gradients."""
import pytest
import torch

import spacy_bert
from spacy_bert.modeling import MODEL_CLASSES

from .helpers import TINY, assert_close, batch

# class name -> (labels builder, output fields to compare)
def _labels(name, inputs):
    g = torch.Generator().manual_seed(7)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    b, s = ids.shape
    if name in ("BertForMaskedLM", "BertLMHeadModel"):
        labels = ids.clone()
        labels[mask == 0] = -100
        return {"labels": labels}
    if name == "BertForPreTraining":
        labels = ids.clone()
        labels[:, ::2] = -100
        return {"labels": labels, "next_sentence_label": torch.randint(0, 2, (b,), generator=g)}
    if name == "BertForNextSentencePrediction":
        return {"labels": torch.randint(0, 2, (b,), generator=g)}
    if name == "BertForSequenceClassification":
        return {"labels": torch.randint(0, TINY["num_labels"], (b,), generator=g)}
    if name == "BertForTokenClassification":
        labels = torch.randint(0, TINY["num_labels"], (b, s), generator=g)
        labels[mask == 0] = -100
        return {"labels": labels}
    if name == "BertForQuestionAnswering":
        # With several rows, the last row's start is past the sequence: ignored by both.
        start = torch.randint(0, s, (b,), generator=g)
        end = torch.randint(0, s, (b,), generator=g)
        if b > 1:
            start[-1] = s + 5
        return {"start_positions": start, "end_positions": end}
    if name == "BertForMultipleChoice":
        return {"labels": torch.randint(0, 2, (b,), generator=g)}
    return {}


def _inputs(name, batch_size):
    inputs = batch(batch_size=batch_size)
    if name == "BertForMultipleChoice":
        # (batch, choices=2, seq): two differently padded choices per example
        other = batch(batch_size=batch_size, seed=5)
        inputs = {k: torch.stack([inputs[k], other[k].flip(0)], dim=1) for k in inputs}
    return inputs


def _overrides(name):
    if name == "BertLMHeadModel":
        return {"is_decoder": True}
    if name == "BertForQuestionAnswering":
        return {"num_labels": 2}  # start and end
    return {}


def _compared_fields(output):
    return {k: v for k, v in zip(output.keys(), output.to_tuple()) if isinstance(v, torch.Tensor)}


ALL_CLASSES = sorted(MODEL_CLASSES)


@pytest.mark.parametrize("name", ALL_CLASSES)
@pytest.mark.parametrize("batch_size", [1, 3])
def test_outputs_and_losses_equal_transformers(name, batch_size, make_hf_checkpoint):
    hf, directory = make_hf_checkpoint(name, **_overrides(name))
    ours = getattr(spacy_bert, name).from_pretrained(directory)
    inputs = _inputs(name, batch_size)
    labels = _labels(name, {k: v.reshape(-1, v.shape[-1]) if name == "BertForMultipleChoice" else v for k, v in inputs.items()})
    if name == "BertForMultipleChoice":
        labels = {"labels": labels["labels"][:batch_size]}
    with torch.no_grad():
        theirs_out = hf(**inputs, **labels)
        ours_out = ours(**inputs, **labels)
    theirs_fields, ours_fields = _compared_fields(theirs_out), _compared_fields(ours_out)
    assert ("loss" in ours_fields) == (name != "BertModel")
    compared = [k for k in ours_fields if k in theirs_fields]
    assert compared == [k for k in ours_fields if k != "past_key_values"]
    mask = inputs["attention_mask"] if name not in ("BertForMultipleChoice",) else None
    for key in compared:
        o, t = ours_fields[key], theirs_fields[key]
        per_position = mask is not None and o.dim() >= 2 and o.shape[:2] == mask.shape
        assert_close(o, t, mask=mask if per_position else None)


@pytest.mark.parametrize("name", ALL_CLASSES)
def test_training_step_gradients_equal_transformers(name, make_hf_checkpoint):
    hf, directory = make_hf_checkpoint(name, **_overrides(name))
    ours = getattr(spacy_bert, name).from_pretrained(directory)
    hf.train()
    ours.train()  # dropout is 0 in the tiny config, so train mode is deterministic
    inputs = _inputs(name, 3)
    flat = {k: v.reshape(-1, v.shape[-1]) for k, v in inputs.items()} if name == "BertForMultipleChoice" else inputs
    labels = _labels(name, flat)
    if name == "BertForMultipleChoice":
        labels = {"labels": labels["labels"][:3]}
    def loss(output):
        # BertModel has no loss: use a weighted sum of its outputs instead.
        if name != "BertModel":
            return output.loss
        weights = torch.linspace(-1, 1, output.last_hidden_state.shape[-1])
        return (output.last_hidden_state * weights).sum() + (output.pooler_output * weights).sum()

    loss(hf(**inputs, **labels)).backward()
    loss(ours(**inputs, **labels)).backward()
    ours_grads = {n: p.grad for n, p in ours.named_parameters()}
    theirs_grads = {n: p.grad for n, p in hf.named_parameters()}
    checked = 0
    for param_name, grad in ours_grads.items():
        theirs = theirs_grads[param_name]
        if grad is None or theirs is None:
            assert grad is None and (theirs is None or not theirs.abs().any()), param_name
            continue
        assert_close(grad, theirs, atol=1e-4)
        checked += 1
    assert checked >= len(ours_grads) - 4  # only unused parameters (pooler/NSP) may have no gradient


def test_hidden_states_and_attentions_equal_transformers(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertModel", attn_implementation="eager")
    ours = spacy_bert.BertModel.from_pretrained(directory)
    inputs = batch()
    with torch.no_grad():
        theirs = hf(**inputs, output_hidden_states=True, output_attentions=True)
        out = ours(**inputs, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == len(theirs.hidden_states) == TINY["num_hidden_layers"] + 1
    for o, t in zip(out.hidden_states, theirs.hidden_states):
        assert_close(o, t, mask=inputs["attention_mask"])
    assert len(out.attentions) == len(theirs.attentions) == TINY["num_hidden_layers"]
    for o, t in zip(out.attentions, theirs.attentions):
        keep = inputs["attention_mask"].bool()
        assert_close(o.permute(0, 2, 1, 3)[keep], t.permute(0, 2, 1, 3)[keep])


def test_inputs_embeds_and_position_ids(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertModel")
    ours = spacy_bert.BertModel.from_pretrained(directory)
    inputs = batch()
    embeds = ours.get_input_embeddings()(inputs["input_ids"])
    positions = torch.arange(5, 5 + inputs["input_ids"].shape[1]).unsqueeze(0).expand(3, -1)
    with torch.no_grad():
        t = hf(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], position_ids=positions)
        o = ours(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], position_ids=positions)
    assert_close(o.last_hidden_state, t.last_hidden_state, mask=inputs["attention_mask"])
    assert_close(o.pooler_output, t.pooler_output)


def test_return_dict_false_gives_the_tuple(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForSequenceClassification")
    ours = spacy_bert.BertForSequenceClassification.from_pretrained(directory)
    inputs = batch()
    with torch.no_grad():
        record = ours(**inputs, labels=torch.tensor([0, 1, 2]))
        as_tuple = ours(**inputs, labels=torch.tensor([0, 1, 2]), return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert torch.equal(as_tuple[0], record.loss) and torch.equal(as_tuple[1], record.logits)
    assert torch.equal(record[0], record["loss"])


@pytest.mark.parametrize("problem_type,labels", [
    ("regression", torch.tensor([[0.5, -1.0, 2.0]] * 3)),
    ("multi_label_classification", torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])),
])
def test_sequence_classification_problem_types(problem_type, labels, make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertForSequenceClassification", problem_type=problem_type)
    ours = spacy_bert.BertForSequenceClassification.from_pretrained(directory)
    with torch.no_grad():
        assert_close(ours(**batch(), labels=labels).loss, hf(**batch(), labels=labels).loss)


def test_regression_with_one_label_and_inferred_problem_type(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertForSequenceClassification", num_labels=1)
    ours = spacy_bert.BertForSequenceClassification.from_pretrained(directory)
    labels = torch.tensor([0.3, -0.2, 1.5])
    with torch.no_grad():
        assert_close(ours(**batch(), labels=labels).loss, hf(**batch(), labels=labels).loss)
    assert ours.config.problem_type is None  # forward does not mutate the config
    float_labels = torch.tensor([[1.0, 0.0, 1.0]] * 3)
    hf_multi, directory = make_hf_checkpoint("BertForSequenceClassification")
    ours_multi = spacy_bert.BertForSequenceClassification.from_pretrained(directory)
    with torch.no_grad():
        assert_close(ours_multi(**batch(), labels=float_labels).loss, hf_multi(**batch(), labels=float_labels).loss)


def test_ignored_labels_do_not_count(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForTokenClassification")
    ours = spacy_bert.BertForTokenClassification.from_pretrained(directory)
    inputs = batch()
    labels = torch.full_like(inputs["input_ids"], -100)
    labels[0, 1] = 2
    with torch.no_grad():
        logits = ours(**inputs).logits
        loss = ours(**inputs, labels=labels).loss
    expected = torch.nn.functional.cross_entropy(logits[0, 1:2], torch.tensor([2]))
    assert_close(loss, expected, atol=1e-6)


def test_qa_negative_positions_are_ignored(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertForQuestionAnswering", num_labels=2)
    ours = spacy_bert.BertForQuestionAnswering.from_pretrained(directory)
    inputs = batch()
    with torch.no_grad():
        out = ours(**inputs)
        loss = ours(**inputs, start_positions=torch.tensor([2, -100, 50]), end_positions=torch.tensor([3, -100, 50])).loss
    f = torch.nn.functional.cross_entropy
    expected = (f(out.start_logits[:1], torch.tensor([2])) + f(out.end_logits[:1], torch.tensor([3]))) / 2
    assert_close(loss, expected, atol=1e-6)
