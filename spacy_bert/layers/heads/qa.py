"""The question-answering model on the torch side: per-window start/end logits and HF's loss.

`BertQuestionAnsweringModel` is a thinc model around a `BertShim` that holds a whole
`BertForQuestionAnswering` (encoder + `qa_outputs`). Its input is a list of (context,
question) pairs; it runs the encoder stages with the question as the second segment
(`[CLS] question [SEP] context-window [SEP]`, Hugging Face's `truncation="only_second"` windows,
`layers/stages/windows.py`) and returns every window's logits, never merged (`QAWindows`): candidates
are ranked across windows by the component (`pipeline/qa_decode.py`).

Training (`qa_train_step`) computes Hugging Face's loss in torch: the mean over features
(windows) of (cross-entropy(start) + cross-entropy(end)) / 2, each softmax over the window's
real positions. (Hugging Face's `run_qa.py` pads every feature to 384 and its softmax then also
covers padding positions; ours masks padding out, which equals Hugging Face on unpadded
features and does not depend on how windows are batched.)

Serialisation is the component's (`pipeline/whole_model.py`): the whole model as a Hugging
Face directory, on disk and (its files) in bytes; never pickle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, cast

import numpy as np
import torch
from spacy.util import registry
from thinc.api import Model

from ...checkpoint import resolve_checkpoint_dir
from ...modeling import BertForQuestionAnswering, BertModel
from ...tokenization import BertTokenizer
from ..stages.encode import EncodedInputs, encode_inputs
from ..encoder import run_load_hook
from ..shim.head_weights import build_hf_model, read_task_weights
from ..stages.run import WindowOutputs, loaded_tokenizer, plan_inputs, run_batches
from ..settings import SETTINGS_ATTR, EncoderSettings, SettingNames
from ..shim.bert_shim import BertShim
from ..precision.training import DEFAULT_TRAIN_PRECISION
from ..stages.windows import WindowPlan

__all__ = ["QAModel", "QAWindows", "BertQuestionAnsweringModel", "qa_forward", "qa_train_step", "load_qa_checkpoint"]

#: attrs key: True once the model has a QA head (fine-tuned checkpoint, `initialize`, or a load).
HAS_HEAD = "has_head"
#: attrs key: question pieces kept (a longer question is cut, with the component's warning).
MAX_QUESTION_LEN = "max_question_len"
#: bert_qa's names for the window settings (Hugging Face's), so E354 / E371 / E372 speak of them
QA_NAMES = SettingNames(window="max_seq_len", stride="doc_stride")
#: bert_qa's defaults: Hugging Face's run_qa.py max_seq_length 384 and doc_stride 128.
QA_SETTINGS = EncoderSettings(window=384, stride=128, max_batch_items=4096)


@dataclass
class QAWindows:
    """Every window's logits for a batch of (context, question) pairs.

    Attributes:
        encoded (EncodedInputs): per pair, the context's pieces (ids, char offsets) and the
            question's ids (after truncation to `max_question_len`).
        plan (WindowPlan): the windows (`text_index` = the pair, `start`/`length` in context
            pieces, `content_offset` = position of the first context piece).
        start_logits (Optional[List[np.ndarray]]): per window (positions,) float32, [CLS] at 0;
            None after `qa_train_step` (its labels need only the plan: no logits leave the device).
        end_logits (Optional[List[np.ndarray]]): per window (positions,) float32; None likewise.
        truncated (List[int]): indices of the pairs whose question was truncated.
        word_start (List[np.ndarray]): per pair (n_pieces,) bool: the piece starts a word (not
            a `##` continuation), for Hugging Face's word-aligned answers.
    """

    encoded: EncodedInputs
    plan: WindowPlan
    start_logits: Optional[List[np.ndarray]]
    end_logits: Optional[List[np.ndarray]]
    truncated: List[int]
    word_start: List[np.ndarray]


#: bert_qa's thinc model: (context, question) pairs -> every window's logits.
QAModel = Model[Sequence[Tuple[str, str]], QAWindows]


def BertQuestionAnsweringModel(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None, train_precision: str = DEFAULT_TRAIN_PRECISION) -> QAModel:
    """The (empty) QA model; weights arrive from the component's checkpoint or from a save.
    train_precision (str): see `BertShim` (bf16 autocast of training on the CPU).

    The component writes its settings into `attrs`: its `EncoderSettings` (window = max_seq_len,
    stride = doc_stride), `max_question_len` and its name.
    """
    return Model(
        "bert-qa",
        _forward,
        attrs={HAS_HEAD: False, "component": "bert_qa", SETTINGS_ATTR: QA_SETTINGS, MAX_QUESTION_LEN: 64},
        shims=[
            BertShim(
                mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, train_precision=train_precision,
                where="spacy-bert.BertQuestionAnswering.v1",
            )
        ],
    )


@registry.architectures("spacy-bert.BertQuestionAnswering.v1")
def bert_question_answering_v1(mixed_precision: bool = False, grad_scaler_config: Optional[dict] = None, train_precision: str = DEFAULT_TRAIN_PRECISION) -> QAModel:
    """`BertForQuestionAnswering`: (context, question) pairs -> per-window logits; own encoder."""
    return BertQuestionAnsweringModel(mixed_precision=mixed_precision, grad_scaler_config=grad_scaler_config, train_precision=train_precision)


def qa_shim(model: Model) -> BertShim:
    return cast(BertShim, model.shims[0])


def load_qa_checkpoint(model: Model, checkpoint: str) -> bool:
    """Read a Hugging Face directory into the model; returns whether it had a QA head.

    A fine-tuned `BertForQuestionAnswering` (`architectures` in config.json) brings its
    `qa_outputs` (the head table `HEAD_PARAMS` names them); an encoder-only checkpoint gets no
    head until `init_head` (the component's `initialize`)."""
    directory = resolve_checkpoint_dir(checkpoint)
    weights = read_task_weights(BertForQuestionAnswering, directory, keep_dtype=False)
    _install(model, weights.encoder, weights.tokenizer, weights.head)
    return weights.head is not None


def _install(model: Model, encoder: BertModel, tokenizer: BertTokenizer, head) -> None:
    if head is None:
        config = encoder.config
        rng = np.random.default_rng()
        # Hugging Face's fresh Linear: normal(0, initializer_range), zero bias.
        head = {
            "W": rng.normal(0.0, config.initializer_range, size=(2, config.hidden_size)).astype(np.float32),
            "b": np.zeros(2, dtype=np.float32),
        }
    else:
        model.attrs[HAS_HEAD] = True
    qa_model = build_hf_model(BertForQuestionAnswering, encoder, head, {"num_labels": 2})
    qa_model.bert.to(encoder.dtype)
    qa_shim(model).set_model(qa_model.train(False), tokenizer)


def init_head(model: Model) -> None:
    """Mark the (freshly initialised) head as the one to train (`initialize`)."""
    model.attrs[HAS_HEAD] = True


def settings_of(model: Model) -> EncoderSettings:
    """The window settings fitted to the loaded model's positions (W370 when capped)."""
    shim = qa_shim(model)
    return EncoderSettings.of(model).fit_to(shim.bert.config.max_position_embeddings, model.attrs.get("component", "bert_qa"))


def _word_starts(tokenizer: BertTokenizer, ids: np.ndarray) -> np.ndarray:
    # ids of the tokenizer's own encoding: every one is in the vocabulary (no None)
    tokens = cast(List[str], tokenizer.convert_ids_to_tokens([int(i) for i in ids]))
    return np.fromiter((not t.startswith("##") for t in tokens), dtype=bool, count=len(tokens))


def _encode(model: Model, contexts: Sequence[str], questions: Sequence[str]) -> Tuple[EncodedInputs, List[int], List[np.ndarray]]:
    shim = qa_shim(model)
    tokenizer = loaded_tokenizer(shim)
    encoded = encode_inputs(tokenizer, contexts, questions)
    limit = int(model.attrs[MAX_QUESTION_LEN])
    truncated = [i for i, ids in enumerate(encoded.segment_ids) if len(ids) > limit]
    for i in truncated:  # Hugging Face's fast path never truncates; we cut with a warning (the component's)
        encoded.segment_ids[i] = encoded.segment_ids[i][:limit]
    word_start = [_word_starts(tokenizer, ids) for ids in encoded.piece_ids]
    return encoded, truncated, word_start


def _run(model: Model, contexts: Sequence[str], questions: Sequence[str], is_train: bool):
    run_load_hook(model)  # the component's load, when its model is called directly
    shim = qa_shim(model)
    encoded, truncated, word_start = _encode(model, contexts, questions)
    plan, batches = plan_inputs(encoded, settings_of(model), loaded_tokenizer(shim), QA_NAMES)
    # plan_inputs lays out single-segment windows when no pair has a question; every pair here has one.
    run = run_batches(shim, batches, plan.n_windows, is_train)
    return encoded, truncated, word_start, plan, run


def _window_logits(plan: WindowPlan, run: WindowOutputs) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    host = [(out.start_logits.detach().float().cpu().numpy(), out.end_logits.detach().float().cpu().numpy()) for out in run.outputs]
    starts, ends = [], []
    for w in range(plan.n_windows):
        b, r, n = int(run.batch_of_window[w]), int(run.row_of_window[w]), int(plan.positions[w])
        starts.append(host[b][0][r, :n].copy())
        ends.append(host[b][1][r, :n].copy())
    return starts, ends


def qa_forward(model: Model, contexts: Sequence[str], questions: Sequence[str]) -> QAWindows:
    """Per-window logits of each (context, question) pair (inference mode).

    contexts, questions (Sequence[str]): one context and one non-empty question per pair.
    """
    encoded, truncated, word_start, plan, run = _run(model, contexts, questions, is_train=False)
    starts, ends = _window_logits(plan, run)
    return QAWindows(encoded, plan, starts, ends, truncated, word_start)


def _forward(model: Model, X: Sequence[Tuple[str, str]], is_train: bool) -> Tuple[QAWindows, Callable]:
    """(context, question) pairs -> every window's logits (`QAWindows`). In training, the
    backprop takes (d_start_logits, d_end_logits), per window (positions,) arrays like the
    logits, and runs one backward through the shim (thinc's grad scaler applies); it returns
    no input gradient (the inputs are strings). The component's training step does not come
    here: `qa_train_step` computes Hugging Face's loss on the device."""
    contexts, questions = [c for c, _ in X], [q for _, q in X]
    if not is_train:
        return qa_forward(model, contexts, questions), lambda dY: []
    encoded, truncated, word_start, plan, run = _run(model, contexts, questions, is_train=True)
    starts, ends = _window_logits(plan, run)

    def backprop(dY: Tuple[Sequence[np.ndarray], Sequence[np.ndarray]]) -> List:
        tensors, grads = [], []
        for which, d_windows in (("start_logits", dY[0]), ("end_logits", dY[1])):
            for batch, out in zip(run.batches, run.outputs):
                logits = getattr(out, which)
                grad = np.zeros(tuple(logits.shape), dtype=np.float32)
                for row, w in enumerate(batch.windows.tolist()):
                    d = np.asarray(d_windows[w], dtype=np.float32)
                    grad[row, : len(d)] = d
                tensors.append(logits)
                grads.append(torch.from_numpy(grad).to(device=logits.device, dtype=logits.dtype))
        run.backward(tensors, grads)
        return []

    return QAWindows(encoded, plan, starts, ends, truncated, word_start), backprop


LabelFn = Callable[[QAWindows], Tuple[np.ndarray, np.ndarray]]


def qa_train_step(model: Model, contexts: Sequence[str], questions: Sequence[str], label_fn: LabelFn) -> Tuple[float, QAWindows]:
    """One forward with dropout, Hugging Face's loss in torch, one backward (gradients stay on
    the torch parameters until the component's `finish_update`).

    label_fn: QAWindows -> (start_positions, end_positions), each (n_windows,) int64 positions
        inside each window ([CLS] = 0: no answer in that window); it is given the encodings
        and the plan only (`start_logits`/`end_logits` are None: they stay on the device).
    Returns (loss, windows) with the loss as a float.
    """
    encoded, truncated, word_start, plan, run = _run(model, contexts, questions, is_train=True)
    windows = QAWindows(encoded, plan, None, None, truncated, word_start)
    start_positions, end_positions = label_fn(windows)
    loss = qa_loss(plan, run, start_positions, end_positions)
    run.backward([loss], [torch.ones_like(loss)])
    return float(loss.detach()), windows


def qa_loss(plan: WindowPlan, run: WindowOutputs, start_positions: np.ndarray, end_positions: np.ndarray) -> torch.Tensor:
    """Mean over windows of (CE(start) + CE(end)) / 2, padding masked out of each softmax; a
    differentiable () tensor. Positions (n_windows,) int64 index each window's positions."""
    total_start: Optional[torch.Tensor] = None
    total_end: Optional[torch.Tensor] = None
    for b, (batch, out) in enumerate(zip(run.batches, run.outputs)):
        rows = batch.windows
        device = out.start_logits.device
        pad = torch.from_numpy(batch.attention_mask == 0).to(device)
        s_target = torch.from_numpy(np.asarray(start_positions)[rows].astype(np.int64)).to(device)
        e_target = torch.from_numpy(np.asarray(end_positions)[rows].astype(np.int64)).to(device)
        s_logits = out.start_logits.float().masked_fill(pad, torch.finfo(torch.float32).min)
        e_logits = out.end_logits.float().masked_fill(pad, torch.finfo(torch.float32).min)
        s = torch.nn.functional.cross_entropy(s_logits, s_target, reduction="sum")
        e = torch.nn.functional.cross_entropy(e_logits, e_target, reduction="sum")
        total_start = s if total_start is None else total_start + s
        total_end = e if total_end is None else total_end + e
    assert total_start is not None and total_end is not None  # a plan has a window per input
    return (total_start + total_end) / (2 * plan.n_windows)
