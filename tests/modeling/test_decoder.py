"""Decoder mode: causal self-attention, cross-attention and incremental decoding, against transformers."""
import torch

import spacy_bert

from .helpers import assert_close, batch

DECODER = dict(is_decoder=True, add_cross_attention=True)


def _encoder_states(batch_size=3, length=6, hidden=32):
    g = torch.Generator().manual_seed(3)
    states = torch.randn(batch_size, length, hidden, generator=g)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    for row in range(1, batch_size):
        mask[row, 6 - 2 * row :] = 0
    return states, mask


def test_causal_lm_with_cross_attention_equals_transformers(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertLMHeadModel", **DECODER)
    ours = spacy_bert.BertLMHeadModel.from_pretrained(directory)
    inputs = batch()
    states, enc_mask = _encoder_states()
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    kwargs = dict(encoder_hidden_states=states, encoder_attention_mask=enc_mask, labels=labels)
    with torch.no_grad():
        theirs = hf(**inputs, **kwargs)
        out = ours(**inputs, **kwargs)
    assert_close(out.logits, theirs.logits, mask=inputs["attention_mask"])
    assert_close(out.loss, theirs.loss)


def test_causal_mask_hides_the_future(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertLMHeadModel", is_decoder=True)
    ours = spacy_bert.BertLMHeadModel.from_pretrained(directory)
    ids = batch(batch_size=1)["input_ids"]
    changed = ids.clone()
    changed[0, 6:] = (changed[0, 6:] % 98) + 1
    with torch.no_grad():
        a, b = ours(ids).logits, ours(changed).logits
    assert_close(a[:, :6], b[:, :6], atol=1e-6)
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3


def test_incremental_decoding_equals_the_full_run(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertLMHeadModel", **DECODER)
    ours = spacy_bert.BertLMHeadModel.from_pretrained(directory)
    ids = batch(batch_size=2, seq_len=9)["input_ids"].clamp(min=1)
    states, enc_mask = _encoder_states(batch_size=2)
    enc = dict(encoder_hidden_states=states, encoder_attention_mask=enc_mask)
    with torch.no_grad():
        full_theirs = hf(ids, **enc).logits
        full_ours = ours(ids, **enc).logits
        # prompt of 4 pieces, then one piece at a time from the cache
        step = ours(ids[:, :4], use_cache=True, **enc)
        pieces = [step.logits]
        past = step.past_key_values
        assert len(past) == 2 and len(past[0]) == 4  # (self k, self v, cross k, cross v) per layer
        assert past[0][0].shape == (2, 4, 4, 8)  # (batch, heads, seq, head_dim)
        for i in range(4, 9):
            step = ours(ids[:, i : i + 1], past_key_values=past, use_cache=True, **enc)
            past = step.past_key_values
            pieces.append(step.logits)
    incremental = torch.cat(pieces, dim=1)
    assert_close(full_ours, full_theirs)
    assert_close(incremental, full_ours)
    assert past[0][0].shape[2] == 9


def test_incremental_decoding_with_padding_mask(make_hf_checkpoint):
    hf, directory = make_hf_checkpoint("BertLMHeadModel", is_decoder=True)
    ours = spacy_bert.BertLMHeadModel.from_pretrained(directory)
    inputs = batch(batch_size=2, seq_len=8)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        full = hf(ids, attention_mask=mask).logits
        first = ours(ids[:, :5], attention_mask=mask[:, :5], use_cache=True)
        rest = ours(ids[:, 5:], attention_mask=mask, past_key_values=first.past_key_values)
    assert_close(torch.cat([first.logits, rest.logits], dim=1), full, mask=mask)


def test_encoder_does_not_return_a_cache(make_hf_checkpoint):
    _, directory = make_hf_checkpoint("BertModel")
    ours = spacy_bert.BertModel.from_pretrained(directory)
    with torch.no_grad():
        assert ours(**batch(), use_cache=True).past_key_values is None
