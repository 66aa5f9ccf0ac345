"""`bert_qa` against transformers and against brute-force references of Hugging Face's scoring.

- per-window start/end logits equal `BertForQuestionAnswering` on
  `tokenizer(question, context, truncation="only_second", max_length, stride,
  return_overflowing_tokens=True, return_offsets_mapping=True)` (<= 1e-4);
- answers equal references written here from Hugging Face's published algorithms
  (QuestionAnsweringPipeline 4.x and utils_qa.postprocess_qa_predictions), computed on
  transformers' own encodings and logits by brute force over all (start, end) pairs;
- bad inputs of issue 12 (questions, contexts, long questions, long contexts).
"""
import warnings

import numpy as np
import pytest
import spacy
import torch

import spacy_bert
import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert.pipeline.qa import read_questions
from spacy_bert.pipeline.qa_decode import DecodeSettings, WindowView, decode_pipeline, decode_squad
from tests.error_codes import raises_code
from spacy_bert import hf_reference
from tests.tiny import TINY_HEAD

MAX_SEQ_LEN, DOC_STRIDE = 48, 16
TINY_QA = TINY_HEAD  # dropout off: training steps compare exactly
LONG_CONTEXT = " ".join(
    f"In year {1200 + i} the merchants of Köpenick-{i} traded salt, amber and wool along the river Spree." for i in range(8)
)
SHORT_CONTEXT = "Berlin was founded around 1237 by merchants."
QUESTIONS = ["Who traded salt along the river?", "When was it founded?"]


@pytest.fixture(scope="session")
def qa_checkpoint(tmp_path_factory, hf_uncased_tokenizer):
    """A random fine-tuned transformers BertForQuestionAnswering (eval mode) and its directory."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**TINY_QA)
    config._attn_implementation = "eager"
    model = transformers.BertForQuestionAnswering(config)
    with torch.no_grad():  # random biases and LayerNorms, so a mis-wired one shows
        for name, param in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                param.normal_(mean=1.0 if name.endswith("weight") else 0.0, std=0.1)
    directory = tmp_path_factory.mktemp("qa-checkpoint")
    model.save_pretrained(directory)
    hf_uncased_tokenizer.save_pretrained(directory)
    return model.eval(), directory


def make_nlp(directory, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(directory), "max_seq_len": MAX_SEQ_LEN, "doc_stride": DOC_STRIDE, **config})
    return nlp


def hf_features(tokenizer, question, context, max_length=MAX_SEQ_LEN, stride=DOC_STRIDE):
    return hf_reference.hf_features(tokenizer, question, context, max_length, stride)


def hf_logits(model, features):
    """Per feature (start, end) logits, float64 numpy, each feature run alone (no padding)."""
    out = []
    for i in range(len(features["input_ids"])):
        with torch.no_grad():
            o = model(input_ids=torch.tensor([features["input_ids"][i]]), token_type_ids=torch.tensor([features["token_type_ids"][i]]))
        out.append((o.start_logits[0].double().numpy(), o.end_logits[0].double().numpy()))
    return out


# -- references (Hugging Face's algorithms, brute force over all pairs) ---------------------
def reference_pipeline(tokenizer, model, question, context, top_k, impossible, max_answer_len=15):
    features = hf_features(tokenizer, question, context)
    answers, null = [], None
    for i, (start, end) in enumerate(hf_logits(model, features)):
        seq = features.sequence_ids(i)
        allowed = np.array([j == 0 or seq[j] == 1 for j in range(len(seq))])
        ps = np.where(allowed, np.exp(start - start[allowed].max()), 0.0)
        pe = np.where(allowed, np.exp(end - end[allowed].max()), 0.0)
        ps, pe = ps / ps.sum(), pe / pe.sum()
        null = ps[0] * pe[0] if null is None else min(null, ps[0] * pe[0])
        context_positions = [j for j in range(len(seq)) if seq[j] == 1]
        pairs = [(ps[s] * pe[e], s, e) for s in context_positions for e in context_positions if 0 <= e - s < max_answer_len]
        pairs.sort(key=lambda x: -x[0])
        encoding = features.encodings[i]
        for score, s, e in pairs[:top_k]:
            start_char = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
            end_char = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
            text = context[start_char:end_char]
            same = [a for a in answers if a["answer"].lower() == text.lower()]
            if same:
                same[0]["score"] += score
            else:
                answers.append({"score": score, "start": start_char, "end": end_char, "answer": text})
    if impossible:
        answers.append({"score": null, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: -a["score"])[:top_k]


def reference_squad(tokenizer, model, question, context, top_k, impossible, n_best=20, max_answer_len=30, threshold=0.0, **windows):
    features = hf_features(tokenizer, question, context, **windows)
    candidates, null = [], None
    for i, (start, end) in enumerate(hf_logits(model, features)):
        seq = features.sequence_ids(i)
        offsets = features["offset_mapping"][i]
        null = start[0] + end[0] if null is None else min(null, start[0] + end[0])
        best_starts = set(np.argsort(start)[::-1][:n_best].tolist())
        best_ends = set(np.argsort(end)[::-1][:n_best].tolist())
        for s in range(len(seq)):
            for e in range(len(seq)):
                if s in best_starts and e in best_ends and seq[s] == 1 and seq[e] == 1 and s <= e < s + max_answer_len:
                    candidates.append((start[s] + end[e], offsets[s][0], offsets[e][1], start[s] + end[e]))
    if impossible:
        candidates.append((null, 0, 0, null))
    candidates.sort(key=lambda c: -c[0])
    candidates = candidates[:n_best]
    if impossible and not any(c[1:3] == (0, 0) for c in candidates):
        candidates.append((null, 0, 0, null))
    scores = np.array([c[0] for c in candidates])
    probs = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    ranked = [{"score": p, "start": c[1], "end": c[2], "answer": context[c[1] : c[2]], "logits": c[3]} for p, c in zip(probs, candidates)]
    if impossible:
        best = next(a for a in ranked if a["answer"])
        null_answer = next(a for a in ranked if (a["start"], a["end"]) == (0, 0))
        first = null_answer if null - best["logits"] > threshold else best
        ranked = [first] + [a for a in ranked if a is not first]
    return [{k: a[k] for k in ("score", "start", "end", "answer")} for a in ranked[:top_k]]


def assert_same_answers(ours, theirs):
    assert [(a["answer"], a["start"], a["end"]) for a in ours] == [(a["answer"], a["start"], a["end"]) for a in theirs]
    for a, b in zip(ours, theirs):
        assert abs(a["score"] - b["score"]) <= 1e-5, (a, b)


# -- tests ------------------------------------------------------------------------------
def test_window_logits_equal_transformers(qa_checkpoint, hf_uncased_tokenizer):
    hf_model, directory = qa_checkpoint
    qa = make_nlp(directory).get_pipe("bert_qa")
    contexts, questions = [LONG_CONTEXT, SHORT_CONTEXT], QUESTIONS
    windows = qa.run_windows(contexts, questions)
    plan = windows.plan
    assert np.count_nonzero(plan.text_index == 0) >= 3  # the long context takes several windows
    w = 0
    for i, (question, context) in enumerate(zip(questions, contexts)):
        features = hf_features(hf_uncased_tokenizer, question, context)
        for f, (start, end) in enumerate(hf_logits(hf_model, features)):
            assert plan.text_index[w] == i
            assert len(windows.start_logits[w]) == len(features["input_ids"][f])
            assert np.abs(windows.start_logits[w] - start).max() <= 1e-4
            assert np.abs(windows.end_logits[w] - end).max() <= 1e-4
            # the context pieces' char offsets are the tokenizer's
            s, n, c = int(plan.start[w]), int(plan.length[w]), int(plan.content_offset[w])
            assert windows.encoded.piece_offsets[i][s : s + n].tolist() == [list(o) for o in features["offset_mapping"][f][c : c + n]]
            w += 1
    assert w == plan.n_windows


@pytest.mark.parametrize("scoring", ["pipeline", "squad"])
@pytest.mark.parametrize("context", [SHORT_CONTEXT, LONG_CONTEXT], ids=["one-window", "several-windows"])
@pytest.mark.parametrize("impossible", [False, True], ids=["possible", "impossible"])
@pytest.mark.parametrize("top_k", [1, 3])
def test_answers_equal_reference(qa_checkpoint, hf_uncased_tokenizer, scoring, context, impossible, top_k):
    hf_model, directory = qa_checkpoint
    nlp = make_nlp(directory, scoring=scoring, top_k=top_k, handle_impossible=impossible)
    doc = spacy_bert.ask(nlp, context, QUESTIONS)
    reference = reference_pipeline if scoring == "pipeline" else reference_squad
    for qid, question in enumerate(QUESTIONS):
        ours = doc._.answers[str(qid)]
        assert_same_answers(ours, reference(hf_uncased_tokenizer, hf_model, question, context, top_k, impossible))
        assert all(a["answer"] == context[a["start"] : a["end"]] for a in ours)
    # the best non-null answer of each question is a span labelled with its id
    group = doc.spans["bert_qa"]
    answered = [str(q) for q in range(len(QUESTIONS)) if doc._.answers[str(q)][0]["answer"]]
    assert [span.label_ for span in group] == answered
    assert group.attrs["questions"] == [QUESTIONS[int(q)] for q in answered]
    assert group.attrs["scores"] == [doc._.answers[q][0]["score"] for q in answered]


def test_impossible_answer_gives_null_and_no_span():
    """A window whose [CLS] logits dominate: the null answer wins, no span is made."""
    view = WindowView(
        start_logits=np.array([9.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32),
        end_logits=np.array([9.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float32),
        content_offset=3, offsets=np.array([[0, 3], [4, 9], [10, 12]]), word_start=np.array([True, True, True]),
    )
    for decode, scoring in ((decode_pipeline, "pipeline"), (decode_squad, "squad")):
        answers = decode("abc defgh ij", [view], DecodeSettings(scoring=scoring, handle_impossible=True))
        assert answers[0]["answer"] == "" and (answers[0]["start"], answers[0]["end"]) == (0, 0)
        without = decode("abc defgh ij", [view], DecodeSettings(scoring=scoring))
        assert without[0]["answer"] == "abc defgh"


def test_candidates_ranked_across_windows_last_window_wins():
    """Per-window logits are never merged: the best span in the last of many windows wins."""
    n_windows, length = 50, 4
    views = []
    for w in range(n_windows):
        start = np.zeros(length + 3, dtype=np.float32)
        end = np.zeros(length + 3, dtype=np.float32)
        if w == n_windows - 1:
            start[4], end[5] = 8.0, 8.0
        offsets = np.array([[5 * (w + k), 5 * (w + k) + 4] for k in range(length)])
        views.append(WindowView(start, end, 3, offsets, np.ones(length, dtype=bool)))
    context = " ".join(f"w{k:03d}" for k in range(n_windows + length))
    for decode, scoring in ((decode_pipeline, "pipeline"), (decode_squad, "squad")):
        best = decode(context, views, DecodeSettings(scoring=scoring))[0]
        # positions 4 and 5 are the window's pieces 1 and 2: words n_windows and n_windows + 1
        assert best["answer"] == f"w{n_windows:03d} w{n_windows + 1:03d}", scoring


def test_long_context_runs_whole_and_equals_reference(qa_checkpoint, hf_uncased_tokenizer):
    """A 100,000-character context: every piece is in a window, and the answer (from any window,
    the last included) equals the reference over all of transformers' features."""
    hf_model, directory = qa_checkpoint
    sentence = "The harbour master of the old town counted {} ships in the winter. "
    context = ""
    i = 0
    while len(context) < 100_000:
        context += sentence.format(i)
        i += 1
    context = context[:100_000]
    nlp = make_nlp(directory, max_seq_len=64, doc_stride=16, max_batch_items=8192)
    question = "How many ships?"
    qa = nlp.get_pipe("bert_qa")
    windows = qa.run_windows([context], [question])
    plan = windows.plan
    n = len(windows.encoded.piece_ids[0])
    assert int(plan.start[-1] + plan.length[-1]) == n  # the last window reaches the last piece
    features = hf_features(hf_uncased_tokenizer, question, context, max_length=64, stride=16)
    assert len(features["input_ids"]) == plan.n_windows
    doc = spacy_bert.ask(nlp, context, [question])
    reference = reference_squad(hf_uncased_tokenizer, hf_model, question, context, 1, False, max_length=64, stride=16)
    assert_same_answers(doc._.answers["0"], reference)


def test_no_questions_passes_unchanged(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1])
    doc = nlp("Berlin was founded around 1237.")
    assert doc._.answers is None and "bert_qa" not in doc.spans
    docs = list(nlp.pipe([nlp.make_doc("A text."), nlp.make_doc("Another one.")]))
    assert all(d._.answers is None for d in docs)


def test_pipe_with_questions(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1])
    docs = []
    for context in (SHORT_CONTEXT, LONG_CONTEXT):
        doc = nlp.make_doc(context)
        doc._.questions = [{"id": "a", "question": QUESTIONS[0]}]
        docs.append(doc)
    piped = list(nlp.pipe(docs, batch_size=2))
    single = [spacy_bert.ask(nlp, d.text, [{"id": "a", "question": QUESTIONS[0]}]) for d in docs]
    assert [d._.answers for d in piped] == [d._.answers for d in single]


@pytest.mark.parametrize("context", ["", "   \n  "])
def test_empty_or_whitespace_context(qa_checkpoint, context):
    nlp = make_nlp(qa_checkpoint[1])
    doc = spacy_bert.ask(nlp, context, ["Who?"])
    assert doc._.answers == {"0": []}
    assert len(doc.spans["bert_qa"]) == 0


def test_bad_questions(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1])
    with raises_code("E605", match="'1'"):
        spacy_bert.ask(nlp, SHORT_CONTEXT, ["Who?", "  "])
    with raises_code("E606", match="'q'"):
        spacy_bert.ask(nlp, SHORT_CONTEXT, [{"id": "q", "question": "Who?"}, {"id": "q", "question": "When?"}])
    with raises_code("E606", match="'1'"):  # default ids are indices, as strings
        spacy_bert.ask(nlp, SHORT_CONTEXT, [{"id": "1", "question": "When?"}, "Who?"])
    for bad in ("Who founded Berlin?", {"question": "Who?"}, 42):
        doc = nlp.make_doc(SHORT_CONTEXT)
        doc._.questions = bad
        with raises_code("E604"):
            nlp(doc)
    doc = nlp.make_doc(SHORT_CONTEXT)
    doc._.questions = [["Who?"]]
    with raises_code("E604", match="index 0"):
        read_questions(doc)


def test_long_question_is_cut_with_a_counting_warning(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1], max_question_len=8)
    long_question = "Which of the many merchants that lived in the old town traded salt and amber?"
    with pytest.warns(UserWarning, match=r"W600.*1 question\(s\).*max_question_len=8") as record:
        doc = spacy_bert.ask(nlp, LONG_CONTEXT, [long_question, "Who?"])
    assert "['0']" in str(record[0].message)
    assert doc._.answers["0"] and doc._.answers["1"]
    qa = nlp.get_pipe("bert_qa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        windows = qa.run_windows([LONG_CONTEXT], [long_question])
    assert all(len(ids) <= 8 for ids in windows.encoded.segment_ids)
    assert all(int(p) <= MAX_SEQ_LEN for p in windows.plan.positions)


def test_listener_and_bad_settings_are_coded_errors(qa_checkpoint):
    nlp = spacy.blank("en")
    with raises_code("E601"):
        nlp.add_pipe("bert_qa", config={"model": {"@architectures": "spacy-bert.BertOutputListener.v1"}})
    for code, field, value in (("E602", "scoring", "best"), ("E354", "doc_stride", 400), ("E602", "max_question_len", 0)):  # top_k: test_input_shapes.py
        with raises_code(code, match=field):
            spacy.blank("en").add_pipe("bert_qa", config={field: value})
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa")
    with raises_code("E603"):
        spacy_bert.ask(nlp, SHORT_CONTEXT, ["Who?"])


def test_encoder_only_checkpoint_needs_initialize(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(tiny_bert_dir), "max_seq_len": MAX_SEQ_LEN, "doc_stride": DOC_STRIDE})
    with raises_code("E600"):
        spacy_bert.ask(nlp, SHORT_CONTEXT, ["Who?"])
    nlp.initialize()
    assert spacy_bert.ask(nlp, SHORT_CONTEXT, ["Who?"])._.answers["0"]


def test_displacy_renders_answers(qa_checkpoint):
    from spacy import displacy

    nlp = make_nlp(qa_checkpoint[1])
    doc = spacy_bert.ask(nlp, SHORT_CONTEXT, ["Who?"])
    html = displacy.render(doc, style="span", options={"spans_key": "bert_qa"})
    assert doc.spans["bert_qa"][0].text in html or doc.spans["bert_qa"][0][0].text in html
