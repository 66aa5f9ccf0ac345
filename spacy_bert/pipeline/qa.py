"""`bert_qa`: extractive question answering (`BertForQuestionAnswering`) as a spaCy component.

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": "path/to/bert-finetuned-squad"})
    doc = spacy_bert.ask(nlp, context, ["Who founded it?", "When?"])
    doc._.answers      # {"0": [{"score", "start", "end", "answer"}], "1": [...]}
    doc.spans["bert_qa"]  # the best answer of each answered question, label_ = question id

The Doc is the context; `doc._.questions` holds the questions (str, or {"id", "question"}; ids
default to the question's index, as a string). A Doc without `_.questions` passes unchanged.

Windows are Hugging Face's (`tokenizer(question, context, truncation="only_second",
max_length=max_seq_len, stride=doc_stride, return_overflowing_tokens=True)`): the question in
every window, the context in overlapping windows, nothing dropped. A question longer than
`max_question_len` pieces is cut there with a warning (W600) that counts them. Per-window logits
are never merged: candidates of all windows are ranked together (`qa_decode.py`).

`scoring` (default "squad"): "squad" is `run_qa.py`'s post-processing, the one Hugging Face's
published SQuAD EM/F1 are computed with, so `spacy train` / `evaluate-qa` numbers compare with
theirs, and its `max_answer_len` of 30 pieces keeps long answers; "pipeline" is transformers 4.x's
`QuestionAnsweringPipeline` 4.53 (scores are p_start * p_end, each window's top_k piece pairs
widened to whole words with `align_to_words`, equal texts merged by adding their scores).
Neither score compares across windows or documents; with `calibration` (fitted by `spacy bert
calibrate-qa`, `qa_calibration.py`) answers also carry `calibrated_score`, the estimated
probability that the answer is right, which does (`qa_search.ask_documents` ranks by it).

The component owns its encoder: a shared `bert` component would encode the context without
the question, so a listener model is an error (E601). Training uses `run_qa.py`'s features:
one per (question, window), labelled with the pieces of the first and last answer character of
the first gold answer, or [CLS] when the window does not hold the whole answer or the question
is unanswerable; the loss is Hugging Face's (computed in torch, `layers/heads/qa.py`).
"""
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from ..errors import Errors, Warnings
from ..layers.training.listener import BertListener
from ..layers.precision.policy import DEFAULT_PRECISION
from ..layers.heads.qa import HAS_HEAD, MAX_QUESTION_LEN, QA_NAMES, QA_SETTINGS, QAModel, QAWindows, init_head, load_qa_checkpoint, qa_forward, qa_train_step
from ..modeling import BertForQuestionAnswering
from .arguments import check_top_k, is_count, string_list
from .qa_calibration import Calibration, apply_calibration
from .qa_decode import DecodeSettings, decode_windows
from .qa_features import gold_answers, read_questions, window_labels  # noqa: F401  (public here too)
from .qa_metrics import make_qa_scorer  # noqa: F401  (registers spacy-bert.qa_scorer.v1)
from .settings import EncoderSettings
from .whole_model import BertModelPipe

for _ext in ("questions", "answers"):
    if not Doc.has_extension(_ext):
        Doc.set_extension(_ext, default=None)

SCORING_MODES = ("squad", "pipeline")
#: What top_k counts, for E750.
TOP_K_MEANING = "answers kept per question"

DEFAULT_QA_MODEL = """
[model]
@architectures = "spacy-bert.BertQuestionAnswering.v1"
mixed_precision = false
grad_scaler_config = {}
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_QA_MODEL)["model"]


@Language.factory(
    "bert_qa",
    assigns=["doc._.answers", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "checkpoint": None,
        "max_seq_len": QA_SETTINGS.window,
        "doc_stride": QA_SETTINGS.stride,
        "max_question_len": 64,
        "max_batch_items": QA_SETTINGS.max_batch_items,
        "batch_invariant": QA_SETTINGS.batch_invariant,
        "precision": DEFAULT_PRECISION,
        "scoring": "squad",
        "top_k": 1,
        "handle_impossible": False,
        "max_answer_len": None,
        "n_best_size": 20,
        "null_score_diff_threshold": 0.0,
        "align_to_words": True,
        "calibration": None,
        "spans_key": "bert_qa",
        "scorer": {"@scorers": "spacy-bert.qa_scorer.v1"},
    },
    default_score_weights={
        "qa_f1": 1.0,
        "qa_exact": 0.0,
        "qa_has_ans_exact": None,
        "qa_has_ans_f1": None,
        "qa_no_ans_exact": None,
        "qa_no_ans_f1": None,
    },
)
def make_bert_qa(
    nlp: Language,
    name: str,
    model: QAModel,
    checkpoint: Optional[str],
    max_seq_len: int,
    doc_stride: int,
    max_question_len: int,
    max_batch_items: int,
    batch_invariant: bool,
    precision: str,
    scoring: str,
    top_k: int,
    handle_impossible: bool,
    max_answer_len: Optional[int],
    n_best_size: int,
    null_score_diff_threshold: float,
    spans_key: str,
    scorer: Optional[Callable],
    align_to_words: bool = True,
    calibration: Optional[Dict[str, Any]] = None,
) -> "BertQuestionAnswerer":
    """Create a `bert_qa` component.

    checkpoint (Optional[str]): Hugging Face BERT directory: a fine-tuned
        `BertForQuestionAnswering` (predicts at once) or an encoder (head made at initialize).
    max_seq_len, doc_stride, max_question_len (int): Hugging Face's window settings (positions
        per window with question and specials; pieces shared by windows; question pieces kept).
    max_batch_items (int): Padded positions per encoder call.
    batch_invariant (bool): Scores bit for bit the same whatever a text is batched with (see `bert`).
    precision (str): Prediction arithmetic of the encoder (see `bert`): "float32" (default),
        "int8", "bfloat16", "float16" (CUDA) or "auto"; qa_outputs and training stay fp32.
    scoring (str): "squad" (run_qa.py, default) or "pipeline" (QuestionAnsweringPipeline).
    top_k (int): Answers kept per question (an int >= 1, E750); where a question has fewer
        candidate spans (or, with scoring "squad", more than n_best_size), fewer are returned.
    handle_impossible (bool): Allow the null answer (SQuAD v2.0).
    max_answer_len (Optional[int]): Longest answer in pieces; None: 30 (squad) / 15 (pipeline).
    n_best_size (int), null_score_diff_threshold (float): run_qa.py's settings (squad mode).
    align_to_words (bool): scoring "pipeline": widen answers to whole words (Hugging Face's
        default), else the pieces' own characters.
    calibration (Optional[dict]): Platt scaling written by `spacy bert calibrate-qa` (answers
        then carry `calibrated_score`, `qa_calibration.py`); null: uncalibrated.
    spans_key (str): Key of `doc.spans` for the best answers.
    """
    return BertQuestionAnswerer(
        nlp.vocab, model, name, checkpoint=checkpoint, max_seq_len=max_seq_len, doc_stride=doc_stride,
        max_question_len=max_question_len, max_batch_items=max_batch_items, batch_invariant=batch_invariant,
        precision=precision, scoring=scoring, top_k=top_k,
        handle_impossible=handle_impossible, max_answer_len=max_answer_len, n_best_size=n_best_size,
        null_score_diff_threshold=null_score_diff_threshold, spans_key=spans_key, scorer=scorer,
        align_to_words=align_to_words, calibration=calibration,
    )


class BertQuestionAnswerer(BertModelPipe):
    """Answers questions about each Doc from a BERT question-answering head."""

    factory_name = "bert_qa"
    setting_names = QA_NAMES  # the window and stride are Hugging Face's max_seq_len, doc_stride
    # A save always writes a whole BertForQuestionAnswering (qa_outputs random until
    # `initialize`; the saved "has_head" flag says whether it was trained).
    saved_classes = (BertForQuestionAnswering,)

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "bert_qa",
        *,
        checkpoint: Optional[str] = None,
        max_seq_len: int = QA_SETTINGS.window,
        doc_stride: int = QA_SETTINGS.stride,
        max_question_len: int = 64,
        max_batch_items: int = QA_SETTINGS.max_batch_items,
        batch_invariant: bool = QA_SETTINGS.batch_invariant,
        precision: str = DEFAULT_PRECISION,
        scoring: str = "squad",
        top_k: int = 1,
        handle_impossible: bool = False,
        max_answer_len: Optional[int] = None,
        n_best_size: int = 20,
        null_score_diff_threshold: float = 0.0,
        spans_key: str = "bert_qa",
        scorer: Optional[Callable] = None,
        align_to_words: bool = True,
        calibration: Optional[Dict[str, Any]] = None,
    ) -> None:
        listeners = [node.name for node in model.walk() if isinstance(node, BertListener)]
        if model.name != "bert-qa" or listeners:
            listener = f" with the listener {listeners[0]!r}" if listeners else ""
            raise ValueError(Errors.E601.format(name=name, model=model.name, listener=listener))
        top_k = check_top_k(top_k, name=name, factory="bert_qa", where="in its config", meaning=TOP_K_MEANING, fix=f"Set top_k in the [components.{name}] block.")
        super().__init__(
            vocab, model, name, checkpoint=checkpoint, precision=precision,
            max_seq_len=max_seq_len, doc_stride=doc_stride, max_question_len=max_question_len,
            max_batch_items=max_batch_items, batch_invariant=batch_invariant, scoring=scoring, top_k=top_k,
            handle_impossible=bool(handle_impossible), max_answer_len=max_answer_len, n_best_size=n_best_size,
            null_score_diff_threshold=float(null_score_diff_threshold), spans_key=spans_key,
            align_to_words=bool(align_to_words), calibration=calibration,
        )
        self.scorer = scorer

    def _sync_settings(self) -> None:
        """Check the settings (E354 for the windows and batches, E602 for the rest), then write
        the window settings and precision into the model."""
        cfg = self.cfg
        cfg["top_k"] = self._top_k()  # a plain int (a numpy int would not save as JSON)
        # [CLS] question [SEP] context [SEP]: three special tokens per window
        window = EncoderSettings(window=cfg["max_seq_len"], stride=cfg["doc_stride"], max_batch_items=cfg["max_batch_items"], batch_invariant=cfg["batch_invariant"])
        window.validate(self.name, QA_NAMES, specials=3)
        max_answer_len = cfg["max_answer_len"]
        checks = (
            ("scoring", cfg["scoring"], cfg["scoring"] in SCORING_MODES, f"one of {SCORING_MODES}"),
            ("max_question_len", cfg["max_question_len"], is_count(cfg["max_question_len"]), "a positive int"),
            ("max_answer_len", max_answer_len, max_answer_len is None or is_count(max_answer_len), "None or a positive int"),
            ("n_best_size", cfg["n_best_size"], is_count(cfg["n_best_size"]), "a positive int"),
        )
        for field, value, ok, expected in checks:
            if not ok:
                raise ValueError(Errors.E602.format(name=self.name, field=field, value=value, expected=expected))
        Calibration.from_config(cfg.get("calibration"), self.name)  # E870 now, not at the first Doc
        self.model.attrs[MAX_QUESTION_LEN] = cfg["max_question_len"]
        self._write_encoder_settings(self.model)
        super()._sync_settings()

    def _top_k(self) -> int:
        """`cfg["top_k"]` checked (E750): a saved cfg restored by `from_disk`/`from_bytes`, or a
        value set on `pipe.cfg`, passes the same rule as the config."""
        fix = "Fix top_k in the component's saved cfg file (or in pipe.cfg)."
        return check_top_k(self.cfg["top_k"], name=self.name, factory="bert_qa", where="in its cfg", meaning=TOP_K_MEANING, fix=fix)

    @property
    def decode_settings(self) -> DecodeSettings:
        """The answer-decoding settings of `cfg`. A top_k larger than the candidate spans gives
        the candidates there are (fewer answers, as Hugging Face's pipeline)."""
        cfg = self.cfg
        return DecodeSettings(
            scoring=cfg["scoring"], top_k=self._top_k(), handle_impossible=cfg["handle_impossible"],
            max_answer_len=cfg["max_answer_len"], n_best_size=cfg["n_best_size"],
            null_score_diff_threshold=cfg["null_score_diff_threshold"], align_to_words=cfg.get("align_to_words", True),
        )

    @property
    def calibration(self) -> Optional[Calibration]:
        """The fitted calibration of `cfg["calibration"]` (None: uncalibrated; E870 if bad)."""
        return Calibration.from_config(self.cfg.get("calibration"), self.name)

    # -- loading (`BertModelPipe`) -------------------------------------------------------
    def _no_checkpoint_error(self) -> str:
        return Errors.E603.format(name=self.name)

    def _install_dir(self, directory: Path, saved: bool) -> None:
        """A fine-tuned `BertForQuestionAnswering` brings its head; an encoder gets a fresh one
        (trained from `initialize` on)."""
        load_qa_checkpoint(self.model, str(directory))

    def _state(self) -> Dict[str, Any]:
        return {"has_head": bool(self.model.attrs[HAS_HEAD])}

    def _set_state(self, state: Dict[str, Any]) -> None:
        """The saved "has a head" flag (the head was trained or came fine-tuned), only for
        weights that were read: a component without weights has no head to call trained."""
        if "has_head" in state:
            self.model.attrs[HAS_HEAD] = bool(state["has_head"]) and self.shim.loaded

    def _check_ready(self) -> None:
        self._ensure_loaded()
        if not self.model.attrs[HAS_HEAD]:
            raise ValueError(Errors.E600.format(name=self.name, checkpoint=self.cfg["checkpoint"]))

    _check_exportable = _check_ready

    # -- running ----------------------------------------------------------------------
    def _pairs(self, docs: Sequence[Doc]) -> List[Tuple[int, str, str]]:
        """(doc index, question id, question) of every question of Docs with a context."""
        pairs: List[Tuple[int, str, str]] = []
        for i, doc in enumerate(docs):
            questions = read_questions(doc)
            if questions and doc.text.strip():
                pairs.extend((i, qid, q) for qid, q in questions)
        return pairs

    def run_windows(self, contexts: Union[str, Sequence[str]], questions: Union[str, Sequence[str]]) -> QAWindows:
        """Per-window logits of (context, question) pairs; warns (W600) for cut questions.
        A str is one context / one question (E751/E752 otherwise); the two lists pair up
        one to one (E602 for different lengths)."""
        contexts = string_list(contexts, what="run_windows(contexts=...)", item="context", example="Berlin was founded in 1237.")
        questions = string_list(questions, what="run_windows(questions=...)", item="question", example="When was it founded?")
        if len(contexts) != len(questions):
            expected = f"one question per context ({len(contexts)} contexts)"
            raise ValueError(Errors.E602.format(name=self.name, field="len(questions)", value=len(questions), expected=expected))
        self._check_ready()
        windows = qa_forward(self.model, contexts, questions)
        self._warn_truncated(windows, [str(i) for i in range(len(questions))])
        return windows

    def _warn_truncated(self, windows: QAWindows, ids: Sequence[str]) -> None:
        if windows.truncated:
            warnings.warn(
                Warnings.W600.format(name=self.name, count=len(windows.truncated), limit=self.cfg["max_question_len"], ids=[ids[i] for i in windows.truncated][:10]),
                UserWarning,
                stacklevel=3,
            )

    def predict(self, docs: Iterable[Doc]) -> List[Optional[Dict[str, List[Dict]]]]:
        """Per Doc, {question id: answers} (None for a Doc without `_.questions`)."""
        docs = list(docs)
        results: List[Optional[Dict[str, List[Dict]]]] = []
        for doc in docs:
            questions = read_questions(doc)
            results.append(None if questions is None else {qid: [] for qid, _ in questions})
        pairs = self._pairs(docs)
        if not pairs:
            return results
        self._check_ready()
        contexts = [docs[i].text for i, _, _ in pairs]
        windows = qa_forward(self.model, contexts, [q for _, _, q in pairs])
        self._warn_truncated(windows, [qid for _, qid, _ in pairs])
        for p, answers in enumerate(self.decode(windows, contexts)):
            i, qid, _ = pairs[p]
            by_question = results[i]
            assert by_question is not None  # the Doc has questions: it gave the pair
            by_question[qid] = answers
        return results

    def decode(self, windows: QAWindows, contexts: Sequence[str], settings: Optional[DecodeSettings] = None, raw: bool = False) -> List[List[Dict]]:
        """Answers of each pair of `windows` (the configured scoring mode, or `settings`), with
        `calibrated_score` when calibrated; `raw`: uncalibrated, with the internal `logit` and
        `best_span` keys (`qa_decode.py`) that calibration is fitted on."""
        answers = decode_windows(windows, contexts, settings or self.decode_settings)
        return answers if raw else [apply_calibration(found, self.calibration) for found in answers]

    def set_annotations(self, docs: Sequence[Doc], predictions: Sequence[Optional[Dict[str, List[Dict]]]]) -> None:
        key = self.cfg["spans_key"]
        for doc, answers in zip(docs, predictions):
            if answers is None:
                continue
            doc._.answers = answers
            questions = dict(read_questions(doc) or [])
            spans, scores, asked = [], [], []
            for qid, found in answers.items():
                if not found or not found[0]["answer"]:
                    continue
                best = found[0]
                span = doc.char_span(best["start"], best["end"], label=qid, alignment_mode="expand")
                if span is None:
                    continue
                spans.append(span)
                scores.append(best["score"])
                asked.append(questions.get(qid, ""))
            group = SpanGroup(doc, name=key, spans=spans, attrs={"scores": scores, "questions": asked})
            doc.spans[key] = group

    # -- training ---------------------------------------------------------------------
    def _training_pairs(self, examples: Sequence[Example]) -> Tuple[List[str], List[str], List[Optional[Tuple[int, int]]]]:
        contexts, questions, spans = [], [], []
        for eg in examples:
            pairs = read_questions(eg.predicted)
            if not pairs or not eg.predicted.text.strip():
                continue
            for qid, question in pairs:
                gold = gold_answers(eg, qid)
                contexts.append(eg.predicted.text)
                questions.append(question)
                # run_qa.py trains on the first gold answer; none: unanswerable.
                spans.append((gold[0]["start"], gold[0]["end"]) if gold else None)
        return contexts, questions, spans

    def _train_step(self, examples: List[Example], drop: float) -> Optional[float]:
        """One step on run_qa.py's features with Hugging Face's loss (dropout: the checkpoint's
        hidden/attention dropout, as in transformers); None when no example has questions."""
        contexts, questions, spans = self._training_pairs(examples)
        if not contexts:
            return None
        self._check_ready()
        loss, windows = qa_train_step(self.model, contexts, questions, lambda w: window_labels(w, spans))
        self._warn_truncated(windows, [str(i) for i in range(len(questions))])
        return loss

    def get_loss(self, examples, scores):
        raise ValueError(Errors.E609)

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        """Read the checkpoint (if not yet); an encoder-only checkpoint gets a fresh head."""
        validate_get_examples(get_examples, "BertQuestionAnswerer.initialize")
        self._ensure_loaded()
        init_head(self.model)

    # -- Hugging Face form (serialisation: `BertModelPipe`) --------------------------------
    def to_hf_model(self):
        """The component as a Hugging Face `BertForQuestionAnswering` (export)."""
        self._check_ready()
        return self.shim.model
