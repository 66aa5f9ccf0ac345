"""The encoder stages with pairs and hooks, against transformers in the same process.

- A (question, context) pair through encode -> plan -> run equals `BertForQuestionAnswering` on
  `tokenizer(question, context, truncation="only_second", max_length, stride,
  return_overflowing_tokens=True)` window by window (ids, type ids, logits).
- A masking hook gives the same masked-LM loss as `BertForMaskedLM` on the same ids and labels.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spacy_bert.layers.stages.batching import pad_inputs
from spacy_bert.layers.stages.hooks import IGNORE_INDEX, MaskPieces, apply_hook
from spacy_bert.layers.stages.run import plan_inputs, run_inputs
from spacy_bert.layers.stages.encode import encode_inputs
from spacy_bert.layers.settings import EncoderSettings
from spacy_bert.layers.shim.bert_shim import BertShim
from spacy_bert.layers.stages.windows import plan_input_windows, plan_windows
from spacy_bert.modeling import BertForMaskedLM, BertForQuestionAnswering

WINDOW, STRIDE = 64, 16
QUESTION = "Who founded the city by the river, and in which year?"
CONTEXT = " ".join(
    f"In year {1200 + i} the merchants of town number {i} traded salt, amber and wool along the river Spree."
    for i in range(12)
)
SHORT_CONTEXT = "Berlin was founded around 1237."


def window_rows(plan, run):
    """Per window in plan order: (input_ids, token_type_ids, attention_mask, batch, row, positions)."""
    rows = []
    for w in range(plan.n_windows):
        b, r, n = int(run.batch_of_window[w]), int(run.row_of_window[w]), int(plan.positions[w])
        batch = run.batches[b]
        rows.append((batch.input_ids[r, :n], batch.token_type_ids[r, :n], batch.attention_mask[r], b, r, n))
    return rows


@pytest.fixture(scope="module")
def qa(make_tiny_head):
    hf_model, directory = make_tiny_head("BertForQuestionAnswering", num_labels=2)
    shim = BertShim()
    shim.load_checkpoint(str(directory), BertForQuestionAnswering)
    return hf_model, shim


def test_pair_windows_and_logits_equal_transformers(qa, hf_uncased_tokenizer):
    hf_model, shim = qa
    assert isinstance(shim.model, BertForQuestionAnswering) and shim.bert is shim.model.bert
    settings = EncoderSettings(window=WINDOW, stride=STRIDE).validate("test")
    contexts = [CONTEXT, SHORT_CONTEXT]
    questions = [QUESTION, "When?"]
    encoded, plan, run = run_inputs(shim, settings, contexts, questions)
    reference = hf_uncased_tokenizer(
        questions, contexts, truncation="only_second", max_length=WINDOW, stride=STRIDE, return_overflowing_tokens=True
    )
    assert np.count_nonzero(plan.text_index == 0) >= 3  # the long context really takes several windows
    assert plan.n_windows == len(reference["input_ids"])
    assert plan.text_index.tolist() == list(reference["overflow_to_sample_mapping"])
    for w, (ids, types, mask, b, r, n) in enumerate(window_rows(plan, run)):
        assert ids.tolist() == reference["input_ids"][w], f"window {w}"
        assert types.tolist() == reference["token_type_ids"][w], f"window {w}"
        assert mask[:n].all() and not mask[n:].any()
        with torch.no_grad():
            theirs = hf_model(input_ids=torch.from_numpy(ids[None]), token_type_ids=torch.from_numpy(types[None]))
        ours = run.outputs[b]
        for name in ("start_logits", "end_logits"):
            diff = (getattr(ours, name)[r, :n].float() - getattr(theirs, name)[0]).abs().max().item()
            assert diff <= 1e-4, (w, name, diff)
    # The text's piece ids and offsets are int32, and a piece's source position points at it.
    assert encoded.piece_ids[0].dtype == np.int32 and encoded.piece_offsets[0].dtype == np.int32
    rows = window_rows(plan, run)
    for i, ids in enumerate(encoded.piece_ids):
        for p in range(len(ids)):
            w, pos = int(plan.source_window[i][p]), int(plan.source_position[i][p])
            assert plan.text_index[w] == i and rows[w][0][pos] == ids[p]


def test_pair_with_stride_zero_and_exact_fit(qa, hf_uncased_tokenizer):
    hf_model, shim = qa
    q_len = len(hf_uncased_tokenizer(QUESTION, add_special_tokens=False)["input_ids"])
    budget = WINDOW - 3 - q_len
    ids = hf_uncased_tokenizer(CONTEXT, add_special_tokens=False)["input_ids"]
    exact = hf_uncased_tokenizer.decode(ids[:budget])  # a context of (about) exactly one window
    for context, stride in ((CONTEXT, 0), (exact, 5), ("", 5)):
        encoded, plan, run = run_inputs(shim, EncoderSettings(window=WINDOW, stride=stride), [context], [QUESTION])
        # Batch form: transformers drops an empty second text in a single call but keeps it
        # (`[CLS] q [SEP] [SEP]`) in a batch, which is the layout we follow.
        reference = hf_uncased_tokenizer([QUESTION], [context], truncation="only_second", max_length=WINDOW, stride=stride, return_overflowing_tokens=True)
        rows = window_rows(plan, run)
        assert [row[0].tolist() for row in rows] == reference["input_ids"]
        assert [row[1].tolist() for row in rows] == reference["token_type_ids"]


def test_question_too_long_is_a_coded_error(qa):
    _, shim = qa
    question = " ".join(["question"] * 70)
    with pytest.raises(ValueError, match="E371|no piece of the text fits"):
        run_inputs(shim, EncoderSettings(window=WINDOW, stride=STRIDE), [CONTEXT], [question])
    # A stride that no longer fits the budget left by a long question: E372.
    question = " ".join(["question"] * 50)  # leaves 64 - 3 - 50 = 11 pieces per window
    with pytest.raises(ValueError, match="E372|does not fit the content budget"):
        run_inputs(shim, EncoderSettings(window=WINDOW, stride=STRIDE), [CONTEXT], [question])


def test_single_inputs_keep_the_single_layout():
    counts = [0, 5, 62, 63, 200, 1000]
    single = plan_windows(counts, 64, 16)
    for segments in (None, [0] * len(counts), [0, 0, 7, 0, 3, 0]):
        plan = plan_input_windows(counts, segments, 64, 16)
        singles = [i for i in range(len(counts)) if not segments or segments[i] == 0]
        for i in singles:
            ours = np.flatnonzero(plan.text_index == i)
            theirs = np.flatnonzero(single.text_index == i)
            assert plan.start[ours].tolist() == single.start[theirs].tolist()
            assert plan.length[ours].tolist() == single.length[theirs].tolist()
            assert (plan.source_window[i] - ours[0]).tolist() == (single.source_window[i] - theirs[0]).tolist()
            assert plan.source_position[i].tolist() == single.source_position[i].tolist()
            assert (plan.positions[ours] == single.positions[theirs]).all()


def test_pad_inputs_pair_hand_example():
    CLS, SEP, PAD = 101, 102, 0
    plan = plan_input_windows([4, 2], [2, 0], window=8, stride=1)  # pair budget 8 - 3 - 2 = 3
    assert plan.start.tolist() == [0, 2, 0] and plan.length.tolist() == [3, 2, 2]
    batch = pad_inputs([np.array([11, 12, 13, 14]), np.array([21, 22])], [np.array([7, 8]), np.zeros(0)], plan, np.arange(3), CLS, SEP, PAD)
    assert batch.input_ids.tolist() == [
        [CLS, 7, 8, SEP, 11, 12, 13, SEP],
        [CLS, 7, 8, SEP, 13, 14, SEP, PAD],
        [CLS, 21, 22, SEP, PAD, PAD, PAD, PAD],
    ]
    assert batch.token_type_ids.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 0], [0] * 8]
    assert batch.attention_mask.tolist() == [[1] * 8, [1] * 7 + [0], [1] * 4 + [0] * 4]
    assert (batch.special_mask == (np.isin(batch.input_ids, [CLS, SEP, PAD]) | False)).all()
    # Pieces 0..3: piece 2 has context 0 in window 0 (last) and 0 in window 1 (first): window 0.
    assert plan.source_window[0].tolist() == [0, 0, 0, 1] and plan.source_position[0].tolist() == [4, 5, 6, 5]


@pytest.fixture(scope="module")
def mlm(make_tiny_head):
    hf_model, directory = make_tiny_head("BertForMaskedLM")
    shim = BertShim()
    shim.load_checkpoint(str(directory), BertForMaskedLM)
    return hf_model, shim


def test_masking_hook_gives_the_transformers_mlm_loss(mlm):
    hf_model, shim = mlm
    texts = [CONTEXT, SHORT_CONTEXT, "A third, rather short text about amber."]
    hook = MaskPieces(shim.tokenizer.mask_token_id, shim.model.config.vocab_size, probability=0.3)
    settings = EncoderSettings(window=WINDOW, stride=STRIDE, max_batch_items=256)
    encoded, plan, run = run_inputs(shim, settings, texts, hook=hook, rng=np.random.default_rng(0), pass_labels=True)
    assert len(run.batches) > 1
    n_masked = 0
    for batch, out, labels in zip(run.batches, run.outputs, run.labels):
        # The hook replaced chosen pieces, never special tokens or padding, and kept their ids as labels.
        chosen = batch.labels != IGNORE_INDEX
        assert not (chosen & batch.special_mask).any()
        n_masked += int((batch.input_ids == shim.tokenizer.mask_token_id).sum())
        assert labels.device == out.logits.device
        ours = F.cross_entropy(out.logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
        with torch.no_grad():
            theirs = hf_model(
                input_ids=torch.from_numpy(batch.input_ids),
                attention_mask=torch.from_numpy(batch.attention_mask),
                labels=torch.from_numpy(batch.labels),
            ).loss
        assert abs(ours.item() - theirs.item()) <= 1e-4
        assert abs(out.loss.item() - theirs.item()) <= 1e-4  # the model's own loss on the passed labels
    assert n_masked > 10


def test_hook_with_wrong_shapes_is_a_coded_error(mlm):
    _, shim = mlm
    encoded = encode_inputs(shim.tokenizer, ["some text"])
    _, batches = plan_inputs(encoded, EncoderSettings(window=WINDOW, stride=STRIDE), shim.tokenizer)

    def bad_hook(input_ids, attention_mask, special_mask, rng):
        return input_ids[:, :-1], input_ids

    with pytest.raises(ValueError, match="E374|returned input_ids of shape"):
        apply_hook(bad_hook, batches[0], np.random.default_rng(0))


def test_masking_hook_fractions():
    ids = np.full((50, 100), 5, dtype=np.int64)
    special = np.zeros_like(ids, dtype=bool)
    special[:, 0] = True
    new, labels = MaskPieces(mask_id=103, vocab_size=1000, probability=0.5)(ids, np.ones_like(ids), special, np.random.default_rng(1))
    chosen = labels != IGNORE_INDEX
    assert (labels[chosen] == 5).all() and not chosen[:, 0].any()
    assert abs(chosen.mean() - 0.5 * 0.99) < 0.03
    assert abs((new[chosen] == 103).mean() - 0.8) < 0.03
    assert (new[~chosen] == 5).all() and ids.max() == 5  # input not modified
