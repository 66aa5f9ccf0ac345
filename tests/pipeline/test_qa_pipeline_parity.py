"""`scoring = "pipeline"` against a brute-force reference of transformers 4.x's
`QuestionAnsweringPipeline.postprocess` (4.53, the last 4.x form; transformers 5 has no
extractive QA pipeline), computed on transformers' own encodings and logits:

1. per window, p_start and p_end are softmaxes over [CLS] + context; every (start, end) pair of
   context pieces with 0 <= end - start < max_answer_len scores p_start * p_end;
2. the window keeps its `top_k` best PAIRS;
3. only then each pair becomes characters: `align_to_words` -> `enc.word_to_chars` of the words
   of its first and last piece (`token_to_word`), else the pieces' offsets;
4. answers with equal text (ignoring case) ADD their scores (`get_answer`), the first keeps its
   offsets; the null answer is appended; all are sorted and cut to `top_k`.

The contexts are made of words of several pieces, so the best pairs start and end inside
words (the test checks that they do). Where Hugging Face returns fewer than `top_k` answers
(merged pairs), ours fills the list: its answers must all be there, with their scores, in its
order (`test_top_k_fills_across_windows`).
"""
import numpy as np
import pytest
import spacy
import torch

import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert import hf_reference
from spacy_bert.pipeline.qa_decode import DecodeSettings, WindowView, decode_pipeline

MAX_SEQ_LEN, DOC_STRIDE = 40, 12
# Words of several pieces each, so most pairs start or end inside a word.
SUBWORD_CONTEXT = (
    "Illiberalism and antidisestablishmentarianism troubled Köpenickers; the "
    "Brandenburgers' counterrevolutionaries misunderstood unconstitutionality, "
    "while Spreewalders photosynthesised overabundantly near Wusterhausen."
)
LONG_SUBWORD_CONTEXT = " ".join([SUBWORD_CONTEXT] * 3)
QUESTIONS = ["Who misunderstood unconstitutionality?", "What troubled the Köpenickers?", "Where?"]


@pytest.fixture(scope="module")
def qa_model(tmp_path_factory, hf_uncased_tokenizer):
    """A random fine-tuned transformers BertForQuestionAnswering and its directory."""
    import transformers

    from tests.tiny import TINY_HEAD

    torch.manual_seed(7)
    config = transformers.BertConfig(**TINY_HEAD)
    config._attn_implementation = "eager"
    model = transformers.BertForQuestionAnswering(config)
    with torch.no_grad():  # a spread of logits, so scores differ and pairs inside words win
        model.qa_outputs.weight.normal_(std=2.0)
    directory = tmp_path_factory.mktemp("qa-parity")
    model.save_pretrained(directory)
    hf_uncased_tokenizer.save_pretrained(directory)
    return model.eval(), directory


@pytest.fixture(scope="module")
def qa_nlp(qa_model):
    """One pipeline for the module (loading is the slow part); tests set `top_k` and
    `align_to_words` on its cfg, which decoding reads on every call."""
    nlp = spacy.blank("en")
    cfg = {"checkpoint": str(qa_model[1]), "max_seq_len": MAX_SEQ_LEN, "doc_stride": DOC_STRIDE, "scoring": "pipeline"}
    nlp.add_pipe("bert_qa", config=cfg)
    return nlp


def hf_postprocess(tokenizer, model, question, context, top_k, align_to_words, impossible=False, max_answer_len=15):
    """transformers 4.53 QuestionAnsweringPipeline's answers (list, best first), by brute force.
    Also returns the (window, start, end, is-word-start of start, of end) of each kept pair."""
    features = hf_reference.hf_features(tokenizer, question, context, MAX_SEQ_LEN, DOC_STRIDE)
    answers, kept, null = [], [], 1000000.0
    for i in range(len(features["input_ids"])):
        with torch.no_grad():
            out = model(input_ids=torch.tensor([features["input_ids"][i]]), token_type_ids=torch.tensor([features["token_type_ids"][i]]))
        start, end = out.start_logits[0].double().numpy(), out.end_logits[0].double().numpy()
        seq = features.sequence_ids(i)
        allowed = np.array([j == 0 or seq[j] == 1 for j in range(len(seq))])
        ps = np.where(allowed, np.exp(start - start[allowed].max()), 0.0)
        pe = np.where(allowed, np.exp(end - end[allowed].max()), 0.0)
        ps, pe = ps / ps.sum(), pe / pe.sum()
        if impossible:
            null = min(null, ps[0] * pe[0])
        ps[0] = pe[0] = 0.0
        # every cell of the pair matrix that decode_spans may return (CLS or context), scored
        # as np.tril(np.triu(outer), max_answer_len - 1) scores it
        cells = []
        for s in range(len(seq)):
            for e in range(len(seq)):
                if allowed[s] and allowed[e]:
                    score = ps[s] * pe[e] if 0 <= e - s < max_answer_len else 0.0
                    cells.append((score, s, e))
        cells.sort(key=lambda c: -c[0])
        encoding = features.encodings[i]
        for score, s, e in cells[:top_k]:
            if score == 0.0:
                continue  # Hugging Face's 0-score cells ([CLS], reversed): never answers here
            if align_to_words:
                start_char = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
                end_char = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
            else:
                start_char, end_char = encoding.offsets[s][0], encoding.offsets[e][1]
            kept.append((i, s, e, start_char == encoding.offsets[s][0], end_char == encoding.offsets[e][1]))
            text = context[start_char:end_char]
            same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
            if same is not None:
                same["score"] += score
            else:
                answers.append({"score": score, "start": start_char, "end": end_char, "answer": text})
    if impossible:
        answers.append({"score": null, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: -a["score"])[:top_k], kept


def spans(answers):
    return [(a["answer"], a["start"], a["end"]) for a in answers]


@pytest.mark.parametrize("align_to_words", [True, False], ids=["align", "pieces"])
@pytest.mark.parametrize("context", [SUBWORD_CONTEXT, LONG_SUBWORD_CONTEXT], ids=["one-window", "windows"])
@pytest.mark.parametrize("top_k", [1, 4])
def test_subword_answers_equal_pipeline(qa_model, qa_nlp, hf_uncased_tokenizer, align_to_words, context, top_k):
    model, _ = qa_model
    nlp = qa_nlp
    qa = nlp.get_pipe("bert_qa")
    qa.cfg.update(top_k=top_k, align_to_words=align_to_words)
    inside = 0
    for question in QUESTIONS:
        theirs, kept = hf_postprocess(hf_uncased_tokenizer, model, question, context, top_k, align_to_words)
        doc = nlp.make_doc(context)
        doc._.questions = [question]
        ours = qa(doc)._.answers["0"]
        inside += sum(1 for _, _, _, start_whole, end_whole in kept if not (start_whole and end_whole))
        if len(theirs) == top_k:  # Hugging Face's list is complete: equal, scores included
            assert spans(ours) == spans(theirs)
            for a, b in zip(ours, theirs):
                assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        else:  # fewer (pairs merged): all of theirs in ours, same scores, same order
            ours_by_text = {a["answer"]: a for a in ours}
            assert [a["answer"] for a in ours if a["answer"] in {b["answer"] for b in theirs}] == [b["answer"] for b in theirs]
            for b in theirs:
                assert ours_by_text[b["answer"]]["score"] == pytest.approx(b["score"], abs=1e-5)
        assert all(a["answer"] == context[a["start"] : a["end"]] for a in ours)
    if align_to_words:  # the cases the issue names: kept pairs that start or end inside a word
        assert inside > 0


def test_equal_texts_add_their_scores():
    """Two pairs inside one word: one answer, its score their sum; the same text is never
    returned twice (4.53's `get_answer`), with or without word alignment differences."""
    # context "illiberal x": pieces il | ##lib | ##eral | x ; [CLS] q [SEP] then context at 3
    start = np.array([0, -9, -9, 3.0, 2.9, -5, -5], dtype=np.float32)
    end = np.array([0, -9, -9, -5, -5, 3.0, -5], dtype=np.float32)
    view = WindowView(start, end, 3, np.array([[0, 2], [2, 5], [5, 9], [10, 11]]), np.array([True, False, False, True]))
    answers = decode_pipeline("illiberal x", [view], DecodeSettings(scoring="pipeline", top_k=2))
    assert [a["answer"] for a in answers].count("illiberal") == 1
    best = answers[0]
    assert best["answer"] == "illiberal" and (best["start"], best["end"]) == (0, 9)
    # the score is the sum of the pairs (il..eral) and (##lib..eral)
    e = np.exp(start[[0, 3, 4, 5, 6]] - start[[0, 3, 4, 5, 6]].max())
    ps = e / e.sum()
    f = np.exp(end[[0, 3, 4, 5, 6]] - end[[0, 3, 4, 5, 6]].max())
    pe = f / f.sum()
    assert best["score"] == pytest.approx(float(ps[1] * pe[3] + ps[2] * pe[3]), rel=1e-5)
    # without alignment the two pairs are two texts
    pieces = decode_pipeline("illiberal x", [view], DecodeSettings(scoring="pipeline", top_k=2, align_to_words=False))
    assert [a["answer"] for a in pieces] == ["illiberal", "liberal"]


def test_top_k_fills_across_windows():
    """Each window's top_k pairs all give one word: Hugging Face returns one answer per window
    although more spans exist; ours returns top_k, the other spans by their pair scores."""
    views = []
    context = "aaaa bbbb cccc dddd"
    for w, word_start_char in enumerate((0, 10)):
        # one window over two words, each of two pieces; a strong start and end in the first word
        start = np.array([0, -9, -9, 4.0, 3.9, -2, -3], dtype=np.float32)
        end = np.array([0, -9, -9, 3.8, 4.0, -3, -2], dtype=np.float32)
        offsets = np.array([[word_start_char, word_start_char + 2], [word_start_char + 2, word_start_char + 4], [word_start_char + 5, word_start_char + 7], [word_start_char + 7, word_start_char + 9]])
        views.append(WindowView(start, end, 3, offsets, np.array([True, False, True, False])))
    settings = DecodeSettings(scoring="pipeline", top_k=3)
    answers = decode_pipeline(context, views, settings)
    assert len(answers) == 3
    assert {a["answer"] for a in answers[:2]} == {"aaaa", "cccc"}
    assert answers[2]["answer"] in {"aaaa bbbb", "cccc dddd", "bbbb", "dddd"}
    assert answers == sorted(answers, key=lambda a: -a["score"])
    # as many as there are distinct texts when top_k is larger
    many = decode_pipeline(context, views, DecodeSettings(scoring="pipeline", top_k=50))
    assert sorted(a["answer"] for a in many) == sorted({"aaaa", "bbbb", "aaaa bbbb", "cccc", "dddd", "cccc dddd"})
