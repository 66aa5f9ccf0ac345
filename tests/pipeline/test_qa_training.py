"""Training `bert_qa`: run_qa.py's features, one step equal to transformers, overfitting and
saving, the SQuAD reader and the official metrics."""
import json
import shutil

import pytest
import spacy
import torch
from spacy.training import Example

import spacy_bert
from spacy_bert.checkpoint.keys import to_checkpoint_name
from spacy_bert.layers.heads.qa import qa_shim
from spacy_bert.pipeline.qa import window_labels
from spacy_bert.pipeline.qa_metrics import exact_score, f1_score, normalize_answer, squad_scores
from spacy_bert.pipeline.qa_squad import read_squad, squad_corpus_v1
from tests.error_codes import raises_code
from spacy_bert.hf_reference import hf_train_labels
from tests.pipeline.test_qa import LONG_CONTEXT, hf_features, make_nlp, qa_checkpoint  # noqa: F401


def answer_at(context, text, occurrence=0):
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(text, start + 1)
    return {"start": start, "end": start + len(text), "answer": text}


def example(nlp, context, questions, gold):
    """An Example as the SQuAD reader makes it: questions on the predicted Doc, gold answers on the reference."""
    predicted = nlp.make_doc(context)
    predicted._.questions = [{"id": qid, "question": q} for qid, q in questions]
    reference = nlp.make_doc(context)
    reference._.questions = list(predicted._.questions)
    reference._.answers = gold
    return Example(predicted, reference)


def test_labels_equal_run_qa_also_across_a_window_boundary(qa_checkpoint, hf_uncased_tokenizer):
    _, directory = qa_checkpoint
    qa = make_nlp(directory).get_pipe("bert_qa")
    question = "Where was amber traded?"
    windows = qa.run_windows([LONG_CONTEXT], [question])
    plan = windows.plan
    features = hf_features(hf_uncased_tokenizer, question, LONG_CONTEXT)
    offsets = windows.encoded.piece_offsets[0]
    # an answer across the boundary of the first window: its first piece inside, its last outside
    first_end = int(plan.start[0] + plan.length[0])
    across = {"start": int(offsets[first_end - 2, 0]), "end": int(offsets[first_end + 1, 1])}
    inside = answer_at(LONG_CONTEXT, "Köpenick-3")
    for answer in (across, inside, None):
        span = None if answer is None else (answer["start"], answer["end"])
        ours = window_labels(windows, [span])
        theirs = hf_train_labels(features, LONG_CONTEXT, answer)
        assert ours[0].tolist() == theirs[0] and ours[1].tolist() == theirs[1], answer
    ours = window_labels(windows, [(across["start"], across["end"])])
    assert ours[0][0] == 0 and ours[0][1] > 0  # window 0 cannot hold it ([CLS]); window 1 does


def test_one_step_loss_and_gradients_equal_transformers(qa_checkpoint, hf_uncased_tokenizer):
    hf_model, directory = qa_checkpoint
    nlp = make_nlp(directory)
    qa = nlp.get_pipe("bert_qa")
    answer = answer_at(LONG_CONTEXT, "Köpenick-3")
    questions = [("q1", "Where was amber traded?"), ("q2", "Who won the war?")]
    eg = example(nlp, LONG_CONTEXT, questions, {"q1": [answer], "q2": []})
    losses = qa.update([eg])  # no optimiser: the gradients stay on the torch parameters
    model = qa_shim(qa.model).model
    # transformers: every feature of both questions, each alone (no padding), mean of HF's loss
    hf_model.train()
    hf_model.zero_grad()
    feature_losses = []
    for (qid, question), gold in zip(questions, (answer, None)):
        features = hf_features(hf_uncased_tokenizer, question, LONG_CONTEXT)
        starts, ends = hf_train_labels(features, LONG_CONTEXT, gold)
        for i in range(len(features["input_ids"])):
            out = hf_model(
                input_ids=torch.tensor([features["input_ids"][i]]), token_type_ids=torch.tensor([features["token_type_ids"][i]]),
                start_positions=torch.tensor([starts[i]]), end_positions=torch.tensor([ends[i]]),
            )
            feature_losses.append(out.loss)
    loss = torch.stack(feature_losses).mean()
    loss.backward()
    hf_model.eval()
    assert abs(losses["bert_qa"] - loss.item()) <= 1e-5
    theirs = {name: p.grad for name, p in hf_model.named_parameters()}
    ours = {to_checkpoint_name(name): p.grad for name, p in model.named_parameters()}
    assert set(ours) == set(theirs)
    for name, grad in theirs.items():
        assert ours[name] is not None, name
        assert torch.allclose(ours[name], grad, atol=1e-6, rtol=1e-4), (name, (ours[name] - grad).abs().max())


TRIPLES = [
    ("The old bridge of Tarnow was built by Mira Holt in 1612 from grey stone.", "Who built the old bridge?", "Mira Holt"),
    ("Lake Venn lies north of the hills and is famous for its silver eels.", "What is Lake Venn famous for?", "silver eels"),
    ("Every spring the town of Brisk holds a market where farmers sell honey.", "What do farmers sell?", "honey"),
]


def test_overfitting_IO(tiny_bert_dir, tmp_path):
    checkpoint = tmp_path / "encoder"
    shutil.copytree(tiny_bert_dir, checkpoint)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(checkpoint), "max_seq_len": 64, "doc_stride": 16})
    examples = [example(nlp, c, [("q", q)], {"q": [answer_at(c, a)]}) for c, q, a in TRIPLES]
    optimizer = nlp.initialize(get_examples=lambda: examples)
    optimizer.learn_rate = 1e-3
    for _ in range(200):
        losses = nlp.update(examples, sgd=optimizer)
    assert losses["bert_qa"] < 0.1, losses

    def answers(pipeline):
        return [spacy_bert.ask(pipeline, c, [q])._.answers["0"][0]["answer"] for c, q, _ in TRIPLES]

    assert answers(nlp) == [a for _, _, a in TRIPLES]
    scores = nlp.evaluate(examples)
    assert scores["qa_exact"] == 1.0 and scores["qa_f1"] == 1.0
    expected = [spacy_bert.ask(nlp, c, [q])._.answers for c, q, _ in TRIPLES]
    nlp.to_disk(tmp_path / "pipeline")
    data = nlp.to_bytes()
    shutil.rmtree(checkpoint)  # the saved pipeline must not need it
    loaded = spacy.load(tmp_path / "pipeline")
    assert [spacy_bert.ask(loaded, c, [q])._.answers for c, q, _ in TRIPLES] == expected
    restored = spacy.blank("en")
    restored.add_pipe("bert_qa", config={"checkpoint": str(checkpoint), "max_seq_len": 64, "doc_stride": 16})
    restored.from_bytes(data)
    assert [spacy_bert.ask(restored, c, [q])._.answers for c, q, _ in TRIPLES] == expected


# -- the SQuAD reader ---------------------------------------------------------------------
def squad_file(tmp_path, paragraphs, version="1.1", name="squad.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]}), encoding="utf-8")
    return path


def test_reader_v11_keeps_every_gold_answer(tmp_path):
    context = "Berlin was founded around 1237 by merchants."
    path = squad_file(tmp_path, [{"context": context, "qas": [
        {"id": "a", "question": "When?", "answers": [{"text": "1237", "answer_start": 26}, {"text": "around 1237", "answer_start": 19}]},
        {"id": "b", "question": "Who?", "answers": [{"text": "merchants", "answer_start": 34}]},
    ]}])
    nlp = spacy.blank("en")
    (eg,) = list(squad_corpus_v1(path)(nlp))
    assert eg.predicted.text == context and eg.predicted._.questions == [{"id": "a", "question": "When?"}, {"id": "b", "question": "Who?"}]
    assert eg.reference._.answers == {
        "a": [{"start": 26, "end": 30, "answer": "1237"}, {"start": 19, "end": 30, "answer": "around 1237"}],
        "b": [{"start": 34, "end": 43, "answer": "merchants"}],
    }
    assert eg.predicted._.answers is None


def test_reader_split_questions_gives_one_example_per_question(tmp_path):
    context = "Berlin was founded around 1237 by merchants."
    path = squad_file(tmp_path, [{"context": context, "qas": [
        {"id": "a", "question": "When?", "answers": [{"text": "1237", "answer_start": 26}, {"text": "around 1237", "answer_start": 19}]},
        {"id": "b", "question": "Who?", "answers": [{"text": "merchants", "answer_start": 34}]},
    ]}])
    first, second = list(squad_corpus_v1(path, split_questions=True)(spacy.blank("en")))
    assert first.predicted.text == second.predicted.text == context
    assert first.predicted._.questions == [{"id": "a", "question": "When?"}]
    assert second.reference._.questions == [{"id": "b", "question": "Who?"}]
    assert first.reference._.answers == {"a": [{"start": 26, "end": 30, "answer": "1237"}, {"start": 19, "end": 30, "answer": "around 1237"}]}
    assert second.reference._.answers == {"b": [{"start": 34, "end": 43, "answer": "merchants"}]}


def test_reader_v20_unanswerable_and_limit(tmp_path):
    paragraphs = [
        {"context": "Lake Venn has eels.", "qas": [
            {"id": "x", "question": "Who owns it?", "answers": [], "is_impossible": True, "plausible_answers": [{"text": "eels", "answer_start": 14}]},
            {"id": "y", "question": "What does it have?", "answers": [{"text": "eels", "answer_start": 14}], "is_impossible": False},
        ]},
        {"context": "Second.", "qas": []},
    ]
    path = squad_file(tmp_path, paragraphs, version="v2.0")
    assert len(read_squad(path)) == 2 and len(read_squad(path, limit=1)) == 1
    (eg,) = list(squad_corpus_v1(path, limit=1)(spacy.blank("en")))
    assert eg.reference._.answers == {"x": [], "y": [{"start": 14, "end": 18, "answer": "eels"}]}


def test_reader_misaligned_answer_names_the_question(tmp_path):
    path = squad_file(tmp_path, [{"context": "Berlin was founded around 1237.", "qas": [
        {"id": "q-17", "question": "When?", "answers": [{"text": "1237", "answer_start": 25}]},
    ]}])
    with raises_code("E607", match="q-17"):
        read_squad(path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "1.1", "articles": []}))
    with raises_code("E608"):
        read_squad(bad)


# -- metrics ------------------------------------------------------------------------------
def test_official_normalisation_and_scores():
    assert normalize_answer("The  Old, bridge!") == "old bridge"
    assert exact_score("the Old Bridge", "old bridge.") == 1
    assert f1_score("Mira Holt", "by Mira Holt in") == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert f1_score("", "") == 1.0 and f1_score("", "x") == 0.0
    nlp = spacy.blank("en")
    egs = [
        example(nlp, "Mira Holt built it.", [("a", "Who?"), ("b", "Why?"), ("c", "When?")],
                {"a": [answer_at("Mira Holt built it.", "Mira Holt"), answer_at("Mira Holt built it.", "Holt")], "b": [], "c": [answer_at("Mira Holt built it.", "built")]}),
    ]
    egs[0].predicted._.answers = {"a": [{"score": 1.0, "start": 5, "end": 9, "answer": "Holt"}], "b": [{"score": 1.0, "start": 0, "end": 0, "answer": ""}]}
    scores = squad_scores(egs)  # c has no prediction: 0
    assert scores["qa_exact"] == pytest.approx(2 / 3) and scores["qa_f1"] == pytest.approx(2 / 3)
    assert scores["qa_has_ans_exact"] == 0.5 and scores["qa_no_ans_exact"] == 1.0


def test_bad_gold_answers_and_evaluate_without_qa(qa_checkpoint):
    nlp = make_nlp(qa_checkpoint[1])
    context = "Mira Holt built it."
    for bad in ({"start": 0, "end": 4, "answer": "Holt"}, "Mira Holt"):
        eg = example(nlp, context, [("a", "Who?")], {"a": [bad]})
        with raises_code("E610", match="'a'"):
            nlp.update([eg])
    from spacy_bert.pipeline.qa_evaluate import evaluate_qa

    with raises_code("E611"):
        evaluate_qa(spacy.blank("en"), "unused.json")
