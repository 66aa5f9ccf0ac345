"""`bert_fill_mask`: fill `[MASK]` with a BERT masked-LM head, and pretrain it with `spacy train`.

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": "path/to/bert-base-uncased"})  # a local BertForMaskedLM directory
    doc = nlp("The capital of France is [MASK].")
    doc._.fill_mask   # [{"start": 25, "end": 31, "predictions": [{"score", "token", "token_str", "sequence"}...]}]
    doc[5]._.fill_mask  # the same predictions, on the token that is the mask

Predictions follow Hugging Face's `FillMaskPipeline`: `top_k` (default 5) per mask,
probabilities over the full vocabulary, each mask predicted independently (the others stay
`[MASK]`), `targets` restrict the ranking without renormalising (a target that is not one
vocabulary entry is replaced by its first piece, W631), and `sequence` is the decoded input
with the prediction in place (special tokens skipped when the text has one mask, kept when
it has several: Hugging Face's rule). Unlike Hugging Face, a text longer than the model is
windowed (a mask at piece 5,000 sees context on both sides) and a text without a mask is left
alone (Hugging Face raises).

Tokens: the Doc is never retokenized (DESIGN.md decision 14); the factory makes spaCy's tokenizer
keep "[MASK]" whole; masks align to tokens by char offsets (`mask_tokens.py`: what `token._.fill_mask` holds).

Training (`spacy train configs/pretrain.cfg`): `objective = "mlm"` is Hugging Face's
`DataCollatorForLanguageModeling` (15 % of the non-special pieces: 80 % [MASK], 10 % random,
10 % unchanged; seeded from `[system] seed`); `"mlm+nsp"` adds BERT's next-sentence pairs
(`pretraining_data.py`). The loss is Hugging Face's, computed in torch (`layers/heads/mlm_train.py`).
Scores (`mlm_acc`, `mlm_loss`, `mlm_ppl`, `nsp_acc`) mask each text with a seed from its CRC-32.
"""
from __future__ import annotations

import math
import warnings
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Token
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..errors import Errors, Warnings
from ..layers.stages.hooks import MaskPieces
from ..layers.heads.masked_lm import MaskedLMModel, install_masked_lm, masked_lm_settings, model_class_name
from ..layers.heads.mlm_fill import fill_masks, score_word_candidates
from ..layers.heads.mlm_train import PairInputs, mlm_evaluate, mlm_update
from ..layers.precision.policy import DEFAULT_PRECISION
from ..layers.stages.run import loaded_tokenizer
from ..layers.settings import EncoderSettings
from ..modeling import BertForMaskedLM, BertForPreTraining
from .arguments import check_top_k, one_string, string_list
from .pretraining_data import doc_sentences, make_fill_mask_scorer, nsp_pairs, text_seed  # noqa: F401  (the scorer registers here)
from .fill_sequences import SequenceSplicer, prediction_entries  # noqa: F401  (SequenceSplicer: public here too)
from .mask_tokens import MASK_TEXT, keep_masks_whole, set_token_predictions
from .settings import DEFAULT_SETTINGS, validate_encoder_settings
from .whole_model import BertModelPipe

#: What top_k counts, for E750.
TOP_K_MEANING = "predictions per mask; more than the vocabulary (or the targets) gives them all"
OBJECTIVES = ("mlm", "mlm+nsp")
DEFAULT_FILL_MASK_MODEL = """
[model]
@architectures = "spacy-bert.MaskedLM.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_FILL_MASK_MODEL)["model"]

for _owner in (Doc, Token):
    if not _owner.has_extension("fill_mask"):
        _owner.set_extension("fill_mask", default=None)


@Language.factory(
    "bert_fill_mask",
    assigns=["doc._.fill_mask", "token._.fill_mask"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "window": DEFAULT_SETTINGS.window,
        "stride": DEFAULT_SETTINGS.stride,
        "max_batch_items": DEFAULT_SETTINGS.max_batch_items,
        "batch_invariant": DEFAULT_SETTINGS.batch_invariant,
        "precision": DEFAULT_PRECISION,
        "top_k": 5,
        "targets": None,
        "objective": "mlm",
        "mlm_probability": 0.15,
        "whole_word": False,
        "scorer": {"@scorers": "spacy-bert.fill_mask_scorer.v1"},
    },
    default_score_weights={"mlm_acc": 1.0, "mlm_loss": None, "mlm_ppl": None, "nsp_acc": None},
)
def make_bert_fill_mask(
    nlp: Language,
    name: str,
    model: MaskedLMModel,
    checkpoint: Optional[str],
    window: int,
    stride: int,
    max_batch_items: int,
    batch_invariant: bool,
    precision: str,
    top_k: int,
    targets: Optional[Union[str, List[str]]],
    objective: str,
    mlm_probability: float,
    whole_word: bool,
    scorer: Optional[Callable],
) -> "BertFillMask":
    """Create a `bert_fill_mask` component (and make the tokenizer cut "[MASK]" out as one token).

    checkpoint (Optional[str]): Hugging Face BERT directory: a `BertForMaskedLM` /
        `BertForPreTraining` (predicts right away), or a plain encoder (fresh head, W630).
    window, stride, max_batch_items (int), batch_invariant (bool): windows and batches (see `bert`).
    precision (str): Prediction arithmetic of the encoder (see `bert`): "float32" (default),
        "int8", "bfloat16", "float16" (CUDA) or "auto"; the MLM head, training and the
        scores of `spacy train` (mlm_acc, mlm_loss) stay fp32.
    top_k (int): predictions per mask (an int >= 1, E750; capped at the vocabulary size, or at
        the number of targets as Hugging Face does).
    targets (Optional[Union[str, List[str]]]): rank only these (a str is one target).
    objective (str): "mlm" or "mlm+nsp" when trained. mlm_probability (float): share of pieces masked.
    whole_word (bool): mask whole words (spaCy tokens) instead of pieces (`MaskPieces(whole_word=True)`).
    """
    keep_masks_whole(nlp.tokenizer)
    return BertFillMask(
        nlp.vocab, model, name, checkpoint=checkpoint, window=window, stride=stride, max_batch_items=max_batch_items,
        batch_invariant=batch_invariant, precision=precision, top_k=top_k, targets=targets, objective=objective, mlm_probability=mlm_probability, whole_word=whole_word, scorer=scorer,
    )


def _targets(value: Any, what: str) -> List[str]:
    """Targets as a list: a str is one target (Hugging Face's rule), else a list of str (E751/E752)."""
    return string_list(value, what=what, item="target", example="paris", ordered=False)


class BertFillMask(BertModelPipe):
    """Masked-token predictions on the Doc; trainable as MLM (+NSP) pretraining."""

    factory_name = "bert_fill_mask"
    saved_classes = (BertForMaskedLM, BertForPreTraining)  # what a save may hold (strict load)

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert_fill_mask",
        *,
        checkpoint: Optional[str] = None,
        window: int = DEFAULT_SETTINGS.window,
        stride: int = DEFAULT_SETTINGS.stride,
        max_batch_items: int = DEFAULT_SETTINGS.max_batch_items,
        batch_invariant: bool = DEFAULT_SETTINGS.batch_invariant,
        precision: str = DEFAULT_PRECISION,
        top_k: int = 5,
        targets: Optional[Union[str, Sequence[str]]] = None,
        objective: str = "mlm",
        mlm_probability: float = 0.15,
        whole_word: bool = False,
        scorer: Optional[Callable] = None,
    ) -> None:
        validate_encoder_settings(name, window, stride, max_batch_items, batch_invariant)
        top_k = check_top_k(top_k, name=name, factory="bert_fill_mask", where="in its config", meaning=TOP_K_MEANING, fix=f"Set top_k in the [components.{name}] block.")
        targets = None if targets is None else _targets(targets, "targets (config)")
        super().__init__(
            vocab, model, name, checkpoint=checkpoint, precision=precision, window=window, stride=stride, max_batch_items=max_batch_items,
            batch_invariant=batch_invariant, top_k=top_k, targets=targets, objective=objective, mlm_probability=mlm_probability, whole_word=bool(whole_word),
        )
        self.scorer = scorer
        self._rng = np.random.default_rng()
        self._sentencizer = Sentencizer()
        self._target_cache: Dict[Tuple[str, ...], np.ndarray] = {}

    def _sync_settings(self) -> None:
        """Check the settings (E750 for top_k, E630), then hand the precision to the shim."""
        cfg = self.cfg
        cfg["top_k"] = self._top_k(None)  # a plain int (a numpy int would not save as JSON)
        if isinstance(cfg["targets"], str):  # a saved cfg or pipe.cfg: one target, as everywhere
            cfg["targets"] = [cfg["targets"]]
        checks = (
            ("objective", cfg["objective"], cfg["objective"] in OBJECTIVES, f"one of {list(OBJECTIVES)}"),
            ("mlm_probability", cfg["mlm_probability"], isinstance(cfg["mlm_probability"], (int, float)) and 0.0 < cfg["mlm_probability"] < 1.0, "a number in (0, 1)"),
            ("targets", cfg["targets"], cfg["targets"] is None or (len(cfg["targets"]) > 0 and all(isinstance(t, str) for t in cfg["targets"])), "None or a non-empty list of strings"),
        )
        for field, value, ok, expected in checks:
            if not ok:
                raise ValueError(Errors.E630.format(name=self.name, field=field, value=value, expected=expected))
        super()._sync_settings()
        # the thinc model's own forward (`layers/heads/masked_lm.py`) runs with the component's settings
        self._write_encoder_settings(self.model)
        self.model.attrs.update({key: cfg[key] for key in ("top_k", "mlm_probability", "whole_word")})

    # -- loading (`BertModelPipe`) -----------------------------------------------------------
    def _no_checkpoint_error(self) -> str:
        return Errors.E632.format(name=self.name)

    def _install_dir(self, directory: Path, saved: bool) -> None:
        """A masked-LM checkpoint keeps its heads; an encoder gets fresh ones (W630)."""
        install_masked_lm(self.shim, directory, self.cfg["objective"] == "mlm+nsp", self.name)

    def _after_load(self) -> None:
        self._target_cache = {}  # target ids belong to the tokenizer just loaded

    def settings(self) -> EncoderSettings:
        self._ensure_loaded()
        return masked_lm_settings(self.model)

    # -- targets -----------------------------------------------------------------------------
    def target_ids(self, targets: Optional[Union[str, Sequence[str]]]) -> Optional[np.ndarray]:
        """Hugging Face's `get_target_ids`: a vocabulary entry as is; otherwise its first piece
        (W631); a target with no piece is dropped (W632); none left is E631. Deduplicated. A str
        is one target."""
        if targets is None:
            return None
        key = tuple(_targets(targets, "target_ids(targets=...)"))
        if key not in self._target_cache:
            tokenizer = self.tokenizer
            vocab = tokenizer.get_vocab()
            ids: List[int] = []
            for target in key:
                id_ = vocab.get(target)
                if id_ is None:
                    pieces = tokenizer.encode_batch_with_offsets([target])[0][0]
                    if not pieces:
                        warnings.warn(Warnings.W632.format(name=self.name, target=target))
                        continue
                    id_ = int(pieces[0])
                    warnings.warn(Warnings.W631.format(name=self.name, target=target, piece=tokenizer.convert_ids_to_tokens(id_)))
                ids.append(int(id_))
            if not ids:
                raise ValueError(Errors.E631.format(name=self.name, targets=list(key)))
            self._target_cache[key] = np.array(sorted(set(ids)), dtype=np.int64)
        return self._target_cache[key]

    # -- predicting ----------------------------------------------------------------------------
    def _top_k(self, value: Optional[int]) -> int:
        """The top_k to use: `value` (a `fill` argument) or the cfg's, checked (E750)."""
        if value is not None:
            return check_top_k(value, name=self.name, factory="bert_fill_mask", where="passed to fill(top_k=...)", meaning=TOP_K_MEANING, fix="Pass an int such as top_k=5, or None for the component's setting.")
        fix = "Fix top_k in the component's saved cfg file (or in pipe.cfg)."
        return check_top_k(self.cfg["top_k"], name=self.name, factory="bert_fill_mask", where="in its cfg", meaning=TOP_K_MEANING, fix=fix)

    def fill(
        self,
        texts: Union[str, Sequence[str]],
        top_k: Optional[int] = None,
        targets: Optional[Union[str, Sequence[str]]] = None,
    ) -> List[List[Dict[str, Any]]]:
        """Per text, one entry per mask in text order: {"start", "end", "predictions"} with
        Hugging Face's prediction dicts. `top_k` / `targets` default to the component's.

        texts: a list of texts, or one text (a str: the result is still a list, of one entry).
        top_k: an int >= 1 (E750); more than the vocabulary gives the whole vocabulary, ranked
            (Hugging Face's pipeline fails in `topk` there); with targets, at most one per target.
        targets: a str is one target (as Hugging Face), or a list of them.
        Bytes, a dict or a number for `texts`/`targets` is E751, an item that is not a str E752.
        """
        texts = string_list(texts, what="fill(texts=...)", item="text", example="The capital of France is [MASK].")
        top_k = self._top_k(top_k)
        targets = self.cfg["targets"] if targets is None else _targets(targets, "fill(targets=...)")
        if not texts:
            return []
        ids = self.target_ids(targets)
        if not any(MASK_TEXT in t or (self.shim.loaded and loaded_tokenizer(self.shim).mask_token in t) for t in texts):
            return [[] for _ in texts]
        settings = self.settings()
        # every vocabulary entry at most once: topk over the vocabulary cannot give more
        top_k = min(top_k, int(self.shim.model.config.vocab_size))
        filled = fill_masks(self.shim, settings, texts, top_k, ids)
        return [prediction_entries(self.shim.tokenizer, f) for f in filled]

    def score_words(self, text: str, candidates: Union[str, Sequence[str]]) -> List[Dict[str, Any]]:
        """Rank whole candidate words for the one `[MASK]` of `text`, multi-piece words scored
        jointly (beyond Hugging Face, whose `targets` keep only a word's first piece).
        `candidates`: a list of words, or one word (a str: one candidate, never its letters).

        Returns one dict per candidate, best first: {"word", "pieces" (their strings),
        "score" (the joint probability), "log_prob", "sequence" (the text with the word in
        place of the mask)}. A one-piece word's score equals Hugging Face's fill-mask score.
        Raises E637 when `text` does not hold exactly one mask, E638 for no candidates, E751/E752
        for candidates that are not a str or a list of them, E753 for a text that is not a str.
        """
        text = one_string(text, what="score_words(text=...)", item="text")
        candidates = string_list(candidates, what="score_words(candidates=...)", item="candidate word", example="paris", ordered=False)
        tokenizer = self.tokenizer
        n_masks = int(sum(1 for i in tokenizer.encode_batch_with_offsets([text])[0][0] if i == tokenizer.mask_token_id))
        if n_masks != 1:
            raise ValueError(Errors.E637.format(name=self.name, n=n_masks, text=text[:200]))
        words = [c for c in candidates if isinstance(c, str) and c.strip()]
        if not words or len(words) != len(list(candidates)):
            raise ValueError(Errors.E638.format(name=self.name, candidates=list(candidates)[:20]))
        scored = score_word_candidates(self.shim, self.settings(), text, words)
        mask = tokenizer.mask_token
        out = [
            {
                "word": word,
                "pieces": tokenizer.convert_ids_to_tokens(ids),
                "score": math.exp(log_prob),
                "log_prob": log_prob,
                "sequence": text.replace(mask, word, 1),
            }
            for word, (ids, log_prob) in zip(words, scored)
        ]
        return sorted(out, key=lambda d: -d["log_prob"])

    def predict(self, docs: Iterable[Doc]) -> List[List[Dict[str, Any]]]:
        return self.fill([doc.text for doc in docs])

    def set_annotations(self, docs: Sequence[Doc], entries: List[List[Dict[str, Any]]]) -> None:
        """`doc._.fill_mask` and `token._.fill_mask` only: the tokens and everything earlier
        components set stay as they are (`mask_tokens.py`)."""
        for doc, doc_entries in zip(docs, entries):
            doc._.fill_mask = doc_entries
            set_token_predictions(doc, doc_entries)

    # -- training ------------------------------------------------------------------------------
    def _hook(self):
        """BERT's masking: `MaskPieces`, of whole words with `whole_word = true`."""
        tokenizer = self.tokenizer
        return MaskPieces(tokenizer.mask_token_id, tokenizer.vocab_size, probability=self.cfg["mlm_probability"], whole_word=self.cfg["whole_word"])

    def _word_starts(self, docs: Sequence[Doc]) -> Optional[List[np.ndarray]]:
        """Per Doc, the char starts of its tokens (the words of whole-word masking), or None."""
        if not self.cfg["whole_word"]:
            return None
        return [np.fromiter((t.idx for t in doc), dtype=np.int64, count=len(doc)) for doc in docs]

    def _texts(self, examples: Sequence[Example]) -> List[str]:
        """The texts to train on (whitespace-only lines, e.g. WikiText's blank lines, skipped)."""
        return [doc.text for doc in self._docs(examples)]

    @staticmethod
    def _docs(examples: Sequence[Example]) -> List[Doc]:
        return [eg.reference for eg in examples if eg.reference.text.strip()]

    def nsp_pairs(self, docs: Sequence[Doc], rng: np.random.Generator) -> PairInputs:
        """BERT's NSP data from `docs` (`pretraining_data.nsp_pairs`), cut to the window."""
        sentences = [doc_sentences(doc, self._sentencizer) for doc in docs]
        return nsp_pairs(sentences, rng, self.tokenizer, self.settings().window - 3, self.name)

    def _train_step(self, examples: List[Example], drop: float) -> Optional[float]:
        """One MLM (or MLM + NSP) step on the examples' texts; None for a batch of blank lines.
        Dropout is the checkpoint's (`hidden_dropout_prob`, as in Hugging Face's training), not `drop`."""
        self._ensure_loaded()
        texts = self._texts(examples)
        if not texts:
            return None  # a batch of blank lines: nothing to learn from
        pairs = self.nsp_pairs([eg.reference for eg in examples], self._rng) if self.cfg["objective"] == "mlm+nsp" else None
        texts = [] if pairs is not None else texts
        words = None if pairs is not None else self._word_starts(self._docs(examples))
        loss, _ = mlm_update(self.shim, self.settings(), texts, self._hook(), self._rng, pairs, words)
        return loss

    def get_loss(self, examples, scores):
        raise NotImplementedError(Errors.E639.format(name=self.name, what="get_loss"))

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Read the checkpoint; seed the masking generator from numpy's global state, which
        `spacy train` sets from `[system] seed` (so a run repeats)."""
        validate_get_examples(get_examples, "BertFillMask.initialize")
        sample = list(islice(get_examples(), 1000))
        if not self._texts(sample):
            raise ValueError(Errors.E633.format(name=self.name, n_docs=len(sample)))
        self._ensure_loaded()
        if self.cfg["objective"] == "mlm+nsp":
            self.nsp_pairs([eg.reference for eg in sample], np.random.default_rng(0))  # E634 now, not at step 1
        self._rng = np.random.default_rng(int(np.random.randint(0, 2**31 - 1)))

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """MLM (+NSP) statistics of the reference texts, masked deterministically (each text
        with a generator seeded by its CRC-32), turned into scores by the scorer."""
        examples = list(examples)
        validate_examples(examples, "BertFillMask.score")
        texts = [eg.reference.text for eg in examples if eg.reference.text.strip()]
        if not texts:
            return self.scorer(examples, stats=None) if self.scorer else {}
        self._ensure_loaded()
        hook = self._hook()
        if self.cfg["objective"] == "mlm+nsp":
            docs = [eg.reference for eg in examples]
            rng = np.random.default_rng(text_seed("\n".join(texts)))
            try:
                pairs = self.nsp_pairs(docs, rng)
            except ValueError:
                pairs = None
            if pairs is not None:
                seeds = [int(rng.integers(2**31)) for _ in range(len(pairs.labels))]
                nsp_stats = mlm_evaluate(self.shim, self.settings(), [], [hook], seeds, pairs)
        words = self._word_starts(self._docs(examples))
        stats = mlm_evaluate(self.shim, self.settings(), texts, [hook], [text_seed(t) for t in texts], None, words)
        if self.cfg["objective"] == "mlm+nsp" and pairs is not None:
            stats.n_pairs, stats.nsp_correct, stats.nsp_loss_sum = nsp_stats.n_pairs, nsp_stats.nsp_correct, nsp_stats.nsp_loss_sum
        return self.scorer(examples, stats=stats) if self.scorer else {}

    # -- export (`BertModelPipe.export`: BertForMaskedLM / BertForPreTraining) and serialisation --
    @property
    def hf_class_name(self) -> str:
        self._ensure_loaded()
        return model_class_name(self.shim)
