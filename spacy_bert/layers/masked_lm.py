"""The torch side of `bert_fill_mask`: load a masked-LM model, fill masks, train and evaluate MLM (+NSP).

`pipeline/fill_mask.py` never touches torch (DESIGN.md); everything here takes and returns
numpy arrays and Python numbers. The model sits in a `BertShim` (a `BertForMaskedLM`, or a
`BertForPreTraining` when NSP is trained or the checkpoint is one), so thinc's optimiser,
`finish_update` and the grad scaler see its parameters as for every other component.

Fill-mask (`fill_masks`, `score_word_candidates`) runs the shim's prediction model, in the
component's `precision` (`layers/precision.py`: the encoder in int8/bf16, `cls.*` in fp32);
training and `mlm_evaluate` (the scores of `spacy train`) run the fp32 model.
Every `[MASK]` piece of a text is scored in the window where it has
the most context (`windows.py`), so a mask at piece 5,000 sees context on both sides. Only the
windows holding a mask run, and only their mask positions are projected onto the vocabulary
(as `mlm.score_masked_positions` does); what leaves torch is (n_masks, k) ids and probabilities.

Training (`mlm_update`): the texts' windows are padded into batches, a `PieceHook` (BERT's
80/10/10 `MaskPieces`) corrupts them on the host, and each batch runs forward and backward at
once, its loss weighted by its share of all masked pieces: the gradient is exactly that of
Hugging Face's mean cross-entropy over every masked piece of the update, with the memory of one
batch (a 1,000,000-character line is hundreds of windows).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

import numpy as np
import torch
from spacy.util import registry
from thinc.api import Model

from ..checkpoint import load_pretrained
from ..checkpoint.files import read_config_dict
from ..errors import Errors, Warnings
from ..modeling import BertForMaskedLM, BertForPreTraining, BertModel, BertPreTrainedModel
from ..modeling.losses import cross_entropy
from ..tokenization import BertTokenizer
from .batching import PaddedBatch, pad_inputs, plan_batches
from .encode import EncodedInputs, encode_inputs
from .hooks import IGNORE_INDEX, PieceHook, apply_hook
from .mlm import mlm_prediction_head
from .settings import EncoderSettings
from .shim import BertShim
from .windows import plan_input_windows

__all__ = [
    "MLM_CLASSES",
    "MaskedLMStats",
    "PairInputs",
    "WholeWordMask",
    "fill_masks",
    "load_masked_lm",
    "mlm_evaluate",
    "mlm_update",
    "pad_pairs",
]

MLM_CLASSES = {"BertForMaskedLM": BertForMaskedLM, "BertForPreTraining": BertForPreTraining}
MLMModel = Union[BertForMaskedLM, BertForPreTraining]


# -- loading -------------------------------------------------------------------------------------
def mlm_class_for(architectures: Sequence[str], needs_nsp: bool) -> Type[MLMModel]:
    """`BertForPreTraining` when NSP is trained or the checkpoint is one (bert-base-uncased),
    else `BertForMaskedLM`."""
    if needs_nsp or "BertForPreTraining" in architectures:
        return BertForPreTraining
    return BertForMaskedLM


def load_masked_lm(directory: Path, needs_nsp: bool, name: str) -> Tuple[MLMModel, BertTokenizer]:
    """(model, tokenizer) for `bert_fill_mask` from a Hugging Face directory.

    A checkpoint with the needed heads loads them strictly. A checkpoint without an MLM head
    (a plain `BertModel`, e.g. all-MiniLM-L6-v2) or without the NSP head that `needs_nsp` asks
    for gets fresh heads, initialised as Hugging Face initialises them (the decoder tied to the
    word embeddings), announced with W630.
    """
    architectures = read_config_dict(directory).get("architectures") or []
    cls = mlm_class_for(architectures, needs_nsp)
    tokenizer = BertTokenizer.from_pretrained(directory)
    if cls.__name__ in architectures:
        return load_pretrained(cls, directory), tokenizer
    fresh = "cls.predictions + cls.seq_relationship" if cls is BertForPreTraining else "cls.predictions"
    source_class: Type[BertPreTrainedModel] = BertModel
    if "BertForMaskedLM" in architectures and cls is BertForPreTraining:
        fresh, source_class = "cls.seq_relationship", BertForMaskedLM
    # The fresh heads draw from torch's global generator as they always have: the checkpoint's
    # own class is built first (its draws; the model is dropped at once, so memory holds one
    # model at a time), then `cls`, fully initialised, takes the weights. A seeded run (spaCy's
    # `fix_random_seed`) gets the heads, and the training that follows, it got before.
    load_pretrained(source_class, directory, full_init=True)
    warnings.warn(Warnings.W630.format(name=name, path=directory, architectures=architectures or "none", heads=fresh, cls=cls.__name__))
    with warnings.catch_warnings():
        # The loader initialises the missing heads (and pooler) as Hugging Face does and says so
        # in W102; W630 above says it in this component's words.
        warnings.filterwarnings("ignore", message=r"\[W102\]")
        # An encoder checkpoint's pooler, which the MLM class has no use for, was never announced.
        warnings.filterwarnings("ignore", message=r"\[W101\].*does not use: bert\.pooler\.dense\.bias, bert\.pooler\.dense\.weight\.$")
        return load_pretrained(cls, directory, full_init=True), tokenizer


# -- running -------------------------------------------------------------------------------------
def _autocast(shim: BertShim, device: torch.device):
    if shim.mixed_precision and device.type == "cuda":
        return torch.autocast(device_type="cuda")
    return contextlib.nullcontext()


def _to_device(batch: PaddedBatch, device: torch.device) -> Dict[str, torch.Tensor]:
    return {
        "input_ids": torch.from_numpy(batch.input_ids).to(device),
        "attention_mask": torch.from_numpy(batch.attention_mask).to(device),
        "token_type_ids": torch.from_numpy(batch.token_type_ids).to(device),
    }


@dataclass
class FilledMasks:
    """Predictions for the `[MASK]` pieces of one text.

    Attributes:
        pieces (np.ndarray): (n_masks,) int64 piece index of each mask in the text's encoding.
        offsets (np.ndarray): (n_masks, 2) int64 char [start, end) of each mask in the text.
        ids (np.ndarray): (n_masks, k) int64 predicted ids, best first.
        scores (np.ndarray): (n_masks, k) float32 probabilities over the full vocabulary.
        piece_ids (np.ndarray): (n_pieces,) int64 the text's piece ids (for `sequence`).
    """

    pieces: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    scores: np.ndarray
    piece_ids: np.ndarray


def fill_masks(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    top_k: int,
    target_ids: Optional[np.ndarray] = None,
) -> List[FilledMasks]:
    """Top-k predictions for every `[MASK]` of every text (Hugging Face's fill-mask scores).

    Args:
        shim (BertShim): holds a `BertForMaskedLM` / `BertForPreTraining` and its tokenizer.
        settings (EncoderSettings): windows and batch budget, fitted to the model.
        texts (Sequence[str]): the texts; a text without a mask gets an empty result and costs
            no forward pass.
        top_k (int): predictions per mask (capped at the number of targets, as Hugging Face).
        target_ids (Optional[np.ndarray]): (n_targets,) int64: score only these ids
            (probabilities still over the full vocabulary, not renormalised).
    """
    tokenizer = shim.tokenizer
    mask_id = tokenizer.mask_token_id
    encoded = encode_inputs(tokenizer, texts)
    masks = [np.flatnonzero(ids == mask_id) for ids in encoded.piece_ids]
    k = top_k if target_ids is None else min(top_k, len(target_ids))
    results = [
        FilledMasks(
            pieces=m.astype(np.int64),
            offsets=offsets[m].astype(np.int64).reshape(-1, 2),
            ids=np.zeros((len(m), k), dtype=np.int64),
            scores=np.zeros((len(m), k), dtype=np.float32),
            piece_ids=ids.astype(np.int64),
        )
        for m, ids, offsets in zip(masks, encoded.piece_ids, encoded.piece_offsets)
    ]
    if not any(len(m) for m in masks):
        return results
    plan = plan_input_windows(encoded.n_pieces, None, settings.window, settings.stride)
    # (text, mask number, window, position) of every mask; only windows holding one run.
    rows = [(t, j, int(plan.source_window[t][p]), int(plan.source_position[t][p])) for t, m in enumerate(masks) for j, p in enumerate(m)]
    needed = np.unique(np.array([r[2] for r in rows], dtype=np.int64))
    slot_of = {}
    for n, (t, j, w, pos) in enumerate(rows):
        slot_of.setdefault(w, []).append((pos, t, j))
    device = shim.prepare()
    model = shim.prediction_model()  # the configured precision; the MLM head stays fp32
    head = mlm_prediction_head(model)
    targets = None if target_ids is None else torch.as_tensor(np.asarray(target_ids, dtype=np.int64), device=device)
    was_training = model.training
    model.eval()
    try:
        for group in plan_batches(plan.positions[needed], settings.max_batch_items):
            windows = needed[group]
            batch = pad_inputs(encoded.piece_ids, encoded.segment_ids, plan, windows, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
            scored = np.zeros(batch.input_ids.shape, dtype=bool)
            where: List[Tuple[int, int, int, int]] = []  # (row, position, text, mask number)
            for row, w in enumerate(windows.tolist()):
                for pos, t, j in slot_of[w]:
                    scored[row, pos] = True
                    where.append((row, pos, t, j))
            where.sort()  # boolean indexing is row-major: the order of the scored rows
            with torch.inference_mode(), _autocast(shim, device):
                hidden = model.bert(**_to_device(batch, device)).last_hidden_state
                logits = head(hidden[torch.from_numpy(scored).to(device)])  # (n_scored, vocab)
                probs = logits.float().softmax(dim=-1)
                if targets is not None:
                    probs = probs[:, targets]
                top_scores, top_ids = probs.topk(k, dim=-1)
                if targets is not None:
                    top_ids = targets[top_ids]
                top_scores, top_ids = top_scores.cpu().numpy(), top_ids.cpu().numpy()
            for i, (_, _, t, j) in enumerate(where):
                results[t].ids[j] = top_ids[i]
                results[t].scores[j] = top_scores[i]
    finally:
        model.train(was_training)
    return results


# -- training ------------------------------------------------------------------------------------
@dataclass
class PairInputs:
    """NSP pairs, already piece ids: A and B per pair and the label (0 continuation, 1 random)."""

    a_ids: List[np.ndarray]
    b_ids: List[np.ndarray]
    labels: np.ndarray


def pad_pairs(pairs: PairInputs, tokenizer: BertTokenizer, rows: np.ndarray) -> PaddedBatch:
    """`[CLS] A [SEP] B [SEP]` for the pairs `rows`, right-padded; token types 0 then 1."""
    lengths = np.array([len(pairs.a_ids[r]) + len(pairs.b_ids[r]) + 3 for r in rows], dtype=np.int64)
    width = int(lengths.max())
    n = len(rows)
    input_ids = np.full((n, width), tokenizer.pad_token_id, dtype=np.int64)
    token_type_ids = np.zeros((n, width), dtype=np.int64)
    special = np.ones((n, width), dtype=bool)
    for i, r in enumerate(rows.tolist()):
        a, b = pairs.a_ids[r], pairs.b_ids[r]
        la, lb = len(a), len(b)
        input_ids[i, 0] = tokenizer.cls_token_id
        input_ids[i, 1 : 1 + la] = a
        input_ids[i, 1 + la] = tokenizer.sep_token_id
        input_ids[i, 2 + la : 2 + la + lb] = b
        input_ids[i, 2 + la + lb] = tokenizer.sep_token_id
        token_type_ids[i, 2 + la : 3 + la + lb] = 1
        special[i, 1 : 1 + la] = False
        special[i, 2 + la : 2 + la + lb] = False
    attention_mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
    return PaddedBatch(np.asarray(rows, dtype=np.int64), input_ids, attention_mask, token_type_ids, special)


def plan_mlm_batches(
    tokenizer: BertTokenizer,
    settings: EncoderSettings,
    texts: Sequence[str],
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> List[Tuple[PaddedBatch, Optional[np.ndarray]]]:
    """Padded batches of the texts' windows (MLM) or of NSP pairs: (batch, NSP labels or None).

    word_starts (Optional[Sequence[np.ndarray]]): per text, the sorted char starts of its
        words (spaCy tokens); then each batch gets `word_ids` (batch, length) int64, a
        batch-wide id of the word of each piece, -1 on special positions (whole-word masking).
    """
    if pairs is not None:
        lengths = np.array([len(a) + len(b) + 3 for a, b in zip(pairs.a_ids, pairs.b_ids)], dtype=np.int64)
        return [(pad_pairs(pairs, tokenizer, group), pairs.labels[group]) for group in plan_batches(lengths, settings.max_batch_items)]
    encoded = encode_inputs(tokenizer, texts)
    plan = plan_input_windows(encoded.n_pieces, None, settings.window, settings.stride)
    groups = plan_batches(plan.positions, settings.max_batch_items)
    batches = [pad_inputs(encoded.piece_ids, encoded.segment_ids, plan, g, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) for g in groups]
    if word_starts is not None:
        # word of each piece: the last word starting at or before the piece's first char;
        # ids are offset per text so that words of different texts never share an id.
        offset = np.cumsum([0] + [len(w) for w in word_starts])
        piece_words = [
            np.searchsorted(np.asarray(starts, dtype=np.int64), offsets[:, 0], side="right") - 1 + offset[t]
            for t, (starts, offsets) in enumerate(zip(word_starts, encoded.piece_offsets))
        ]
        for batch in batches:
            word_ids = np.full(batch.input_ids.shape, -1, dtype=np.int64)
            for row, w in enumerate(batch.windows.tolist()):
                t, start, n = int(plan.text_index[w]), int(plan.start[w]), int(plan.length[w])
                word_ids[row, 1 : 1 + n] = piece_words[t][start : start + n]
            batch.word_ids = word_ids
    return [(batch, None) for batch in batches]


class WholeWordMask:
    """Whole-word masking: each word (spaCy token) is chosen with `probability`, and all its
    pieces are scored; the 80/10/10 choice is made once per word, so a chosen word's pieces
    all become [MASK], all random pieces, or all stay (BERT's whole-word release kept the
    80/10/10 rule; Hugging Face's v5 collator masks 100 %: we keep BERT's).

    Called as `hook(input_ids, attention_mask, special_mask, rng, word_ids)`; returns
    (input_ids, labels) like `MaskPieces`.
    """

    def __init__(self, mask_id: int, vocab_size: int, probability: float = 0.15, mask_fraction: float = 0.8, random_fraction: float = 0.1) -> None:
        self.mask_id = int(mask_id)
        self.vocab_size = int(vocab_size)
        self.probability = float(probability)
        self.mask_fraction = float(mask_fraction)
        self.random_fraction = float(random_fraction)

    def __call__(self, input_ids, attention_mask, special_mask, rng, word_ids):
        words, inverse = np.unique(word_ids, return_inverse=True)
        inverse = inverse.reshape(word_ids.shape)
        chosen_word = rng.random(len(words)) < self.probability
        kind = rng.random(len(words))
        chosen = chosen_word[inverse] & ~special_mask & (word_ids >= 0)
        draw = kind[inverse]
        labels = np.where(chosen, input_ids, IGNORE_INDEX)
        to_mask = chosen & (draw < self.mask_fraction)
        to_random = chosen & (draw >= self.mask_fraction) & (draw < self.mask_fraction + self.random_fraction)
        new_ids = np.where(to_mask, self.mask_id, input_ids)
        new_ids = np.where(to_random, rng.integers(0, self.vocab_size, size=input_ids.shape), new_ids)
        return new_ids.astype(np.int64), labels.astype(np.int64)


def hook_batch(hook, batch: PaddedBatch, rng: np.random.Generator) -> PaddedBatch:
    """`apply_hook`, passing the batch's `word_ids` to a `WholeWordMask`."""
    if isinstance(hook, WholeWordMask):
        word_ids = getattr(batch, "word_ids", None)
        if word_ids is None:  # NSP pairs: words are not tracked there, pieces are the words
            word_ids = np.where(batch.special_mask, -1, np.arange(batch.input_ids.size).reshape(batch.input_ids.shape))
        words = word_ids
        return apply_hook(lambda ids, mask, special, r: hook(ids, mask, special, r, words), batch, rng)
    return apply_hook(hook, batch, rng)


def _batch_losses(model: MLMModel, batch: PaddedBatch, nsp_labels: Optional[np.ndarray], device):
    """(MLM loss or None, masked pieces, top-1 hits, NSP logits or None) of one hooked batch.

    Only the masked positions are projected onto the vocabulary; top-1 is an argmax of the
    logits (no softmax over the vocabulary: training needs no probabilities)."""
    out = model.bert(**_to_device(batch, device))
    scored = torch.from_numpy(batch.labels != IGNORE_INDEX).to(device)
    n = int(scored.sum())
    loss, correct = None, 0
    if n:
        targets = torch.from_numpy(batch.labels).to(device)[scored]
        logits = mlm_prediction_head(model)(out.last_hidden_state[scored])  # (n, vocab)
        loss = cross_entropy(logits, targets)
        correct = int((logits.detach().argmax(-1) == targets).sum())
    nsp_logits = model.cls.seq_relationship(out.pooler_output) if nsp_labels is not None else None
    return loss, n, correct, nsp_logits


@dataclass
class MaskedLMStats:
    """Sums over an evaluation or an update: masked pieces, their summed loss, top-1 hits, NSP."""

    n_masked: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    n_pairs: int = 0
    nsp_correct: int = 0
    nsp_loss_sum: float = 0.0


def mlm_update(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    hook: PieceHook,
    rng: np.random.Generator,
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> Tuple[float, MaskedLMStats]:
    """One MLM (+NSP) forward and backward over `texts` (or `pairs`); gradients accumulate in
    the shim's model (thinc's `finish_update` applies them).

    The loss is Hugging Face's: mean cross-entropy over all masked pieces of the update, plus,
    with `pairs`, the mean NSP cross-entropy over the pairs (`BertForPreTraining`'s sum).
    `word_starts` (per text, char starts of its words) is needed by a `WholeWordMask` hook.
    Returns (loss, stats).
    """
    device = shim.prepare()
    model = shim.model
    batches = plan_mlm_batches(shim.tokenizer, settings, texts, pairs, word_starts)
    for batch, _ in batches:
        hook_batch(hook, batch, rng)
    n_masked = sum(int((b.labels != IGNORE_INDEX).sum()) for b, _ in batches)
    n_pairs = 0 if pairs is None else len(pairs.labels)
    stats = MaskedLMStats(n_masked=n_masked, n_pairs=n_pairs)
    model.train()
    for batch, nsp_labels in batches:
        if not (batch.labels != IGNORE_INDEX).any() and nsp_labels is None:
            continue  # nothing scored in this batch (very short texts)
        with _autocast(shim, device):
            mlm_loss, n_batch, correct, nsp_logits = _batch_losses(model, batch, nsp_labels, device)
        loss = torch.zeros((), device=device)
        if n_batch:
            loss = loss + mlm_loss * (n_batch / n_masked)
            stats.loss_sum += float(mlm_loss.detach()) * n_batch
            stats.correct += correct
        if nsp_logits is not None:
            target = torch.from_numpy(nsp_labels).to(device)
            nsp_loss = cross_entropy(nsp_logits, target)
            loss = loss + nsp_loss * (len(nsp_labels) / n_pairs)
            stats.nsp_loss_sum += float(nsp_loss.detach()) * len(nsp_labels)
            stats.nsp_correct += int((nsp_logits.argmax(-1) == target).sum())
        loss.backward()
    total = (stats.loss_sum / max(n_masked, 1)) + (stats.nsp_loss_sum / n_pairs if n_pairs else 0.0)
    return total, stats


def mlm_evaluate(
    shim: BertShim,
    settings: EncoderSettings,
    texts: Sequence[str],
    hooks: Sequence[PieceHook],
    seeds: Sequence[int],
    pairs: Optional[PairInputs] = None,
    word_starts: Optional[Sequence[np.ndarray]] = None,
) -> MaskedLMStats:
    """Masked-LM statistics without gradients; text i is masked with its own generator seeded
    by `seeds[i]` (a stable checksum of the text), so two evaluations mask identically
    whatever the batching. `hooks` holds one hook (used for every text)."""
    device = shim.prepare()
    model = shim.model
    stats = MaskedLMStats()
    was_training = model.training
    model.eval()
    hook = hooks[0]
    try:
        with torch.inference_mode(), _autocast(shim, device):
            items = range(len(texts)) if pairs is None else range(len(pairs.labels))
            for i in items:
                rng = np.random.default_rng(int(seeds[i]))
                if pairs is None:
                    batches = plan_mlm_batches(shim.tokenizer, settings, [texts[i]], None, None if word_starts is None else [word_starts[i]])
                else:
                    one = PairInputs([pairs.a_ids[i]], [pairs.b_ids[i]], pairs.labels[i : i + 1])
                    batches = plan_mlm_batches(shim.tokenizer, settings, [], one)
                for batch, nsp_labels in batches:
                    hook_batch(hook, batch, rng)
                    mlm_loss, n, correct, nsp_logits = _batch_losses(model, batch, nsp_labels, device)
                    if n:
                        stats.n_masked += n
                        stats.loss_sum += float(mlm_loss) * n
                        stats.correct += correct
                    if nsp_logits is not None:
                        target = torch.from_numpy(nsp_labels).to(device)
                        stats.n_pairs += len(nsp_labels)
                        stats.nsp_loss_sum += float(cross_entropy(nsp_logits, target)) * len(nsp_labels)
                        stats.nsp_correct += int((nsp_logits.argmax(-1) == target).sum())
    finally:
        model.train(was_training)
    return stats


# -- the thinc model and its files ----------------------------------------------------------------
def MaskedLM(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None):
    """The (empty) thinc model of `bert_fill_mask`: a `BertShim` that will hold a
    `BertForMaskedLM` / `BertForPreTraining`. The component calls `fill_masks`, `mlm_update`
    and `mlm_evaluate` on the shim; the model's own forward is not used."""
    def forward(model, docs, is_train):
        raise NotImplementedError(Errors.E639.format(name="bert_fill_mask", what="model.predict / model.begin_update"))

    return Model("bert-masked-lm", forward, attrs={}, shims=[BertShim(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config)])


@registry.architectures("spacy-bert.MaskedLM.v1")
def masked_lm_v1(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None):
    """The model of `bert_fill_mask` (checkpoint, windows and objective are the component's settings)."""
    return MaskedLM(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config)


def model_class_name(shim: BertShim) -> str:
    return type(shim.model).__name__


def install_masked_lm(shim: BertShim, directory: Path, needs_nsp: bool, name: str) -> None:
    """Load a checkpoint (or a saved component's model/ folder) into the shim."""
    model, tokenizer = load_masked_lm(Path(directory), needs_nsp, name)
    shim.set_model(model, tokenizer)


# -- beyond Hugging Face: whole-word candidates ------------------------------------------------------
def score_word_candidates(
    shim: BertShim,
    settings: EncoderSettings,
    text: str,
    candidates: Sequence[str],
) -> List[Tuple[List[int], float]]:
    """Joint log-probability of each candidate word in the one `[MASK]` of `text`.

    The mask becomes as many `[MASK]` pieces as the candidate has, and the pieces are scored
    left to right by the chain rule (the pseudo-likelihood of Salazar et al. 2020, decoded
    in order): log P(w) = sum_i log P(p_i | context, p_<i, masks for p_>i). A one-piece
    candidate gets exactly Hugging Face's fill-mask score (n = 1). All (candidate, step)
    inputs run as padded batches; each input is the window of at most `settings.window`
    positions centred on the mask (the context a long text has).

    Returns, per candidate, (its piece ids, log-probability).
    """
    tokenizer = shim.tokenizer
    mask_id = tokenizer.mask_token_id
    ids = np.asarray(encode_inputs(tokenizer, [text]).piece_ids[0], dtype=np.int64)
    where = np.flatnonzero(ids == mask_id)
    assert len(where) == 1, "the caller checks that the text has exactly one mask"
    m = int(where[0])
    pieces = [np.asarray(encode_inputs(tokenizer, [c]).piece_ids[0], dtype=np.int64) for c in candidates]
    rows: List[np.ndarray] = []
    targets: List[Tuple[int, int, int]] = []  # (candidate, scored position, target id)
    for c, word in enumerate(pieces):
        n = len(word)
        budget = settings.window - 2
        context = max(0, budget - n)
        left = ids[max(0, m - context // 2) : m]
        right = ids[m + 1 : m + 1 + (context - len(left))]
        left = ids[max(0, m - (context - len(right))) : m]  # give unused right room to the left
        for i in range(n):
            seq = np.concatenate([[tokenizer.cls_token_id], left, word[:i], np.full(n - i, mask_id), right, [tokenizer.sep_token_id]])
            rows.append(seq.astype(np.int64))
            targets.append((c, 1 + len(left) + i, int(word[i])))
    log_probs = np.zeros(len(pieces), dtype=np.float64)
    if not rows:
        return [(w.tolist(), float("-inf") if not len(w) else 0.0) for w in pieces]
    device = shim.prepare()
    model = shim.prediction_model()  # the configured precision; the MLM head stays fp32
    head = mlm_prediction_head(model)
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        for group in plan_batches(lengths, settings.max_batch_items):
            width = int(lengths[group].max())
            input_ids = np.full((len(group), width), tokenizer.pad_token_id, dtype=np.int64)
            for r, g in enumerate(group.tolist()):
                input_ids[r, : lengths[g]] = rows[g]
            attention = (np.arange(width) < lengths[group][:, None]).astype(np.int64)
            positions = torch.tensor([targets[g][1] for g in group.tolist()], device=device)
            target_ids = torch.tensor([targets[g][2] for g in group.tolist()], device=device)
            with torch.inference_mode(), _autocast(shim, device):
                hidden = model.bert(torch.from_numpy(input_ids).to(device), attention_mask=torch.from_numpy(attention).to(device)).last_hidden_state
                picked = hidden[torch.arange(len(group), device=device), positions]  # (rows, hidden)
                scores = head(picked).float().log_softmax(-1).gather(1, target_ids[:, None])[:, 0]
            for g, value in zip(group.tolist(), scores.cpu().numpy().tolist()):
                log_probs[targets[g][0]] += value
    finally:
        model.train(was_training)
    return [(w.tolist(), float(lp) if len(w) else float("-inf")) for w, lp in zip(pieces, log_probs)]
