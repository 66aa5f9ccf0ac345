"""What `bert_fill_mask` pretrains and scores on: BERT's next-sentence pairs (`nsp_pairs`),
a stable per-text seed for deterministic masking (`text_seed`) and the scorer that turns the
masked-LM statistics into `mlm_acc`, `mlm_loss`, `mlm_ppl` and `nsp_acc`."""
import math
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from ..errors import Errors
from ..layers.heads.mlm_train import MaskedLMStats, PairInputs

__all__ = ["doc_sentences", "make_fill_mask_scorer", "nsp_pairs", "text_seed"]


@registry.scorers("spacy-bert.fill_mask_scorer.v1")
def make_fill_mask_scorer() -> Callable:
    """`mlm_acc` (top-1 on the masked pieces), `mlm_loss` (mean cross-entropy), `mlm_ppl`
    (exp of it), `nsp_acc` (None without NSP), from the statistics `BertFillMask.score`
    computes with deterministic masking."""

    def score(examples: Iterable[Example], *, stats: Optional[MaskedLMStats] = None, **kwargs: Any) -> Dict[str, Any]:
        if stats is None or stats.n_masked == 0:
            return {"mlm_acc": None, "mlm_loss": None, "mlm_ppl": None, "nsp_acc": None}
        loss = stats.loss_sum / stats.n_masked
        return {
            "mlm_acc": stats.correct / stats.n_masked,
            "mlm_loss": loss,
            "mlm_ppl": math.exp(min(loss, 700.0)),
            "nsp_acc": stats.nsp_correct / stats.n_pairs if stats.n_pairs else None,
        }

    return score


def text_seed(text: str) -> int:
    """A stable seed for `text` (CRC-32 of its UTF-8 bytes; Python's `hash` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def doc_sentences(doc: Doc, sentencizer: Callable[[Doc], Doc]) -> List[str]:
    """The non-blank sentences of `doc` (cut by `sentencizer`, on a copy, when it has none)."""
    if not doc.has_annotation("SENT_START"):
        doc = sentencizer(doc.copy())
    return [s.text for s in doc.sents if s.text.strip()]


def nsp_pairs(sents: Sequence[List[str]], rng: np.random.Generator, tokenizer: Any, budget: int, name: str) -> PairInputs:
    """BERT's NSP data: per document of >= 2 sentences (`sents`: each document's sentences),
    A = its first k sentences (k random), B = the rest (label 0) or, half of the time,
    sentences from a random other document (label 1); the longer side is cut, from its front
    or back at random, until A and B hold at most `budget` pieces (the window less [CLS] and
    two [SEP]). E634 (naming component `name`) when there is nothing to pair."""
    multi = [i for i, s in enumerate(sents) if len(s) >= 2]
    sources = [i for i, s in enumerate(sents) if s]
    if not multi or len(sources) < 2:
        raise ValueError(Errors.E634.format(name=name, n_docs=len(sents), n_multi=len(multi), n_sources=len(sources)))
    a_texts, b_texts, labels = [], [], []
    for i in multi:
        k = int(rng.integers(1, len(sents[i])))
        a_texts.append(" ".join(sents[i][:k]))
        if rng.random() < 0.5:
            b_texts.append(" ".join(sents[i][k:]))
            labels.append(0)
        else:
            others = [j for j in sources if j != i]
            other = sents[others[int(rng.integers(len(others)))]]
            start = int(rng.integers(len(other)))
            b_texts.append(" ".join(other[start:]))
            labels.append(1)
    encoded = tokenizer.encode_batch_with_offsets(a_texts + b_texts)
    a_ids = [np.asarray(ids, dtype=np.int64) for ids, _ in encoded[: len(a_texts)]]
    b_ids = [np.asarray(ids, dtype=np.int64) for ids, _ in encoded[len(a_texts) :]]
    for n in range(len(a_ids)):
        a, b = a_ids[n], b_ids[n]
        while len(a) + len(b) > budget:
            longer_is_a = len(a) > len(b)
            side = a if longer_is_a else b
            side = side[1:] if rng.random() < 0.5 else side[:-1]
            a, b = (side, b) if longer_is_a else (a, side)
        a_ids[n], b_ids[n] = a, b
    return PairInputs(a_ids, b_ids, np.asarray(labels, dtype=np.int64))
