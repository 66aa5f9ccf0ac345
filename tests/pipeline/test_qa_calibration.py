"""Calibrated bert_qa scores and answers across documents (issue 27).

- Platt fitting recovers known parameters; ECE and the null threshold on hand-made rows;
- calibration round trip: fit on a SQuAD file, save, load: the same calibrated scores; a
  load-time override of `calibration` wins; a bad value is E870;
- `ask_documents` equals asking each document and merging by hand; uncalibrated: W870;
- `spacy bert calibrate-qa` writes a loadable calibrated pipeline.
"""
import json
import math
import warnings

import numpy as np
import pytest
import spacy

import spacy_bert
import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert.pipeline.qa_calibration import Calibration, expected_calibration_error, fit_null_threshold, fit_platt, reliability_table
from spacy_bert.pipeline.qa_fit import calibrate_qa
from tests.error_codes import raises_code

CONTEXTS = [
    "Berlin was founded around 1237 by merchants who traded salt and amber along the Spree.",
    "The harbour master of Hamburg counted forty ships in the winter of 1842 and wrote it down.",
    "Marie Curie received the Nobel Prize in Physics in 1903 and in Chemistry in 1911.",
    "The Rhine flows from the Swiss Alps through Germany and the Netherlands into the North Sea.",
    "In 1969 the Apollo 11 crew landed on the Moon and returned to Earth eight days later.",
    "Vienna hosted the congress of 1815, where diplomats redrew the borders of Europe.",
]
QUESTIONS = ["Who traded salt?", "When was it?", "Where does it flow?", "What did they count?"]


@pytest.fixture(scope="module")
def qa_dir(make_tiny_head):
    return make_tiny_head("BertForQuestionAnswering")[1]


@pytest.fixture(scope="module")
def nlp(qa_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(qa_dir), "max_seq_len": 48, "doc_stride": 16})
    return nlp


@pytest.fixture(scope="module")
def dev_file(nlp, tmp_path_factory):
    """A SQuAD file whose gold is the model's own answer for every other question and another
    span of the context for the rest, so both right and wrong answers are there to fit on."""
    paragraphs = []
    for p, context in enumerate(CONTEXTS):
        doc = spacy_bert.ask(nlp, context, QUESTIONS)
        qas = []
        for q, question in enumerate(QUESTIONS):
            best = doc._.answers[str(q)][0]
            if (p + q) % 2 == 0:
                start, text = best["start"], best["answer"]
            else:
                word = context.split()[-2]  # a span the random model rarely picks
                start, text = context.index(word), word
            qas.append({"id": f"{p}-{q}", "question": question, "answers": [{"text": text, "answer_start": start}]})
        paragraphs.append({"context": context, "qas": qas})
    path = tmp_path_factory.mktemp("qa-dev") / "dev.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}), encoding="utf-8")
    return path


def test_fit_platt_recovers_known_parameters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20000) * 2
    p = 1 / (1 + np.exp(-(1.5 * x - 0.5)))
    y = (rng.random(20000) < p).astype(float)
    slope, bias = fit_platt(x, y)
    assert slope == pytest.approx(1.5, abs=0.08) and bias == pytest.approx(-0.5, abs=0.08)


def test_ece_and_reliability_by_hand():
    conf = [0.05, 0.15, 0.95, 0.95, 1.0]
    correct = [0, 1, 1, 0, 1]
    table = reliability_table(conf, correct)
    assert [(r["bin"], r["count"]) for r in table] == [("0.0-0.1", 1), ("0.1-0.2", 1), ("0.9-1.0", 3)]
    # |0 - .05| + |1 - .15| + 3 * |2/3 - (0.95 + 0.95 + 1.0) / 3|, over 5 answers
    expected = (0.05 + 0.85 + 3 * abs(2 / 3 - 2.9 / 3)) / 5
    assert expected_calibration_error(conf, correct) == pytest.approx(expected)


def test_null_threshold_maximises_exact_match():
    # (null - span margin, EM if the span is chosen, EM if null is chosen)
    rows = [(-3.0, 1, 0), (-1.0, 1, 0), (0.5, 0, 1), (2.0, 0, 1), (-0.5, 0, 1)]
    t = fit_null_threshold(rows, default=0.0)
    assert -1.0 < t < -0.5  # null for margins -0.5, 0.5, 2.0; the span for -3 and -1: 5 of 5
    assert fit_null_threshold([], default=0.25) == 0.25


def test_calibration_value_is_checked(qa_dir):
    nlp = spacy.blank("en")
    with raises_code("E870"):
        nlp.add_pipe("bert_qa", config={"checkpoint": str(qa_dir), "calibration": {"feature": "nope", "slope": 1.0, "bias": 0.0}})
    assert Calibration("logit", 2.0, -1.0)({"logit": 0.5, "score": 0.1}) == pytest.approx(0.5)


def test_calibration_round_trip(nlp, dev_file, tmp_path):
    report = calibrate_qa(nlp, dev_file, holdout=0.34)
    qa = nlp.get_pipe("bert_qa")
    stored = qa.cfg["calibration"]
    assert stored == report["calibration"] and stored["feature"] in ("logit", "score")
    assert nlp.config["components"]["bert_qa"]["calibration"] == stored
    assert report["held_out"]["questions"] > 0 and report["fit"]["questions"] > report["held_out"]["questions"]
    assert set(report["choice"]["candidates"]) == {"logit", "score"}
    cal = Calibration.from_config(stored, "bert_qa")
    before = spacy_bert.ask(nlp, CONTEXTS[0], QUESTIONS)
    for q in range(len(QUESTIONS)):
        for answer in before._.answers[str(q)]:
            assert 0.0 < answer["calibrated_score"] < 1.0
            assert set(answer) == {"score", "calibrated_score", "start", "end", "answer"}
            if cal.feature == "score":  # then the map is checkable from the answer alone
                logodds = math.log(answer["score"] / (1 - answer["score"]))
                assert answer["calibrated_score"] == pytest.approx(1 / (1 + math.exp(-(cal.slope * logodds + cal.bias))))
    nlp.to_disk(tmp_path / "calibrated")
    loaded = spacy.load(tmp_path / "calibrated")
    assert loaded.get_pipe("bert_qa").cfg["calibration"] == stored
    after = spacy_bert.ask(loaded, CONTEXTS[0], QUESTIONS)
    assert after._.answers == before._.answers
    # a load-time override wins: null is uncalibrated
    plain = spacy.load(tmp_path / "calibrated", config={"components": {"bert_qa": {"calibration": None}}})
    answers = spacy_bert.ask(plain, CONTEXTS[0], QUESTIONS)._.answers
    assert all("calibrated_score" not in a for found in answers.values() for a in found)
    assert [a["score"] for a in answers["0"]] == [a["score"] for a in before._.answers["0"]]


def test_ask_documents_equals_asking_each_and_merging(nlp, dev_file):
    if nlp.get_pipe("bert_qa").cfg["calibration"] is None:
        calibrate_qa(nlp, dev_file, holdout=0.0)
    question, k = "Who traded salt?", 4
    found = spacy_bert.ask_documents(nlp, question, CONTEXTS[:3] + [nlp.make_doc(CONTEXTS[3])] + CONTEXTS[4:], top_k=k, batch_size=2)
    qa = nlp.get_pipe("bert_qa")
    by_hand = []
    saved_top_k = qa.cfg["top_k"]
    qa.cfg["top_k"] = k
    try:
        for i, context in enumerate(CONTEXTS):
            for a in spacy_bert.ask(nlp, context, question)._.answers["0"]:
                by_hand.append({"document": i, **a})
    finally:
        qa.cfg["top_k"] = saved_top_k
    by_hand.sort(key=lambda a: -a["calibrated_score"])
    assert len(found) == k
    assert [(a["document"], a["start"], a["end"], a["answer"]) for a in found] == [(a["document"], a["start"], a["end"], a["answer"]) for a in by_hand[:k]]
    for a, b in zip(found, by_hand):
        assert a["calibrated_score"] == pytest.approx(b["calibrated_score"], abs=1e-6)
        assert CONTEXTS[a["document"]][a["start"] : a["end"]] == a["answer"]


def test_ask_documents_uncalibrated_warns_and_bad_contexts(qa_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(qa_dir), "max_seq_len": 48, "doc_stride": 16})
    with pytest.warns(UserWarning, match="W870"):
        found = spacy_bert.ask_documents(nlp, "Who?", ["", CONTEXTS[0], CONTEXTS[1]], top_k=3)
    assert [a["score"] for a in found] == sorted((a["score"] for a in found), reverse=True)
    assert all(a["document"] in (1, 2) and "calibrated_score" not in a for a in found)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with raises_code("E872"):
            spacy_bert.ask_documents(nlp, "Who?", CONTEXTS[0])
        with raises_code("E873"):
            spacy_bert.ask_documents(nlp, "Who?", [CONTEXTS[0], 3])
        with raises_code("E750"):
            spacy_bert.ask_documents(nlp, "Who?", CONTEXTS, top_k=0)


def test_calibrate_qa_command(qa_dir, dev_file, tmp_path):
    """`spacy bert calibrate-qa PIPELINE DEV_JSON --output OUT --report R` (in-process)."""
    from typer.testing import CliRunner

    from spacy_bert.cli import bert_cli

    fresh = spacy.blank("en")
    fresh.add_pipe("bert_qa", config={"checkpoint": str(qa_dir), "max_seq_len": 48, "doc_stride": 16})
    fresh.to_disk(tmp_path / "pipeline")
    out, report = tmp_path / "calibrated", tmp_path / "report.json"
    result = CliRunner().invoke(bert_cli, ["calibrate-qa", str(tmp_path / "pipeline"), str(dev_file), "--output", str(out), "--report", str(report), "--holdout", "0.34"])
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and "held_out" in result.output
    written = json.loads(report.read_text())
    loaded = spacy.load(out)
    stored = loaded.get_pipe("bert_qa").cfg["calibration"]
    assert stored["feature"] == written["calibration"]["feature"]
    assert (stored["slope"], stored["bias"]) == pytest.approx((written["calibration"]["slope"], written["calibration"]["bias"]), rel=1e-8)  # the report's JSON keeps 10 digits
    assert spacy.load(tmp_path / "pipeline").get_pipe("bert_qa").cfg["calibration"] is None  # --output: the input is unchanged
    bad = CliRunner().invoke(bert_cli, ["calibrate-qa", str(tmp_path / "pipeline"), str(dev_file), "--holdout", "1.5"])
    assert bad.exit_code == 1 and "E874" in bad.output


def test_null_threshold_fitted_with_handle_impossible(nlp, dev_file):
    """scoring "squad" + handle_impossible: null_score_diff_threshold is fitted (every gold here
    is a span, so the fitted rule must not prefer the null answer where the span is right);
    scoring "pipeline": W871, the threshold unchanged."""
    qa = nlp.get_pipe("bert_qa")
    saved = dict(qa.cfg)
    try:
        qa.cfg.update(handle_impossible=True, null_score_diff_threshold=0.0)
        report = calibrate_qa(nlp, dev_file, holdout=0.0)
        threshold = report["null_score_diff_threshold"]
        assert qa.cfg["null_score_diff_threshold"] == threshold
        assert nlp.config["components"]["bert_qa"]["null_score_diff_threshold"] == threshold
        for p, context in enumerate(CONTEXTS):
            doc = spacy_bert.ask(nlp, context, QUESTIONS)
            for q in range(len(QUESTIONS)):
                if (p + q) % 2 == 0:  # gold = the model's own span: a null answer would lose it
                    assert doc._.answers[str(q)][0]["answer"] != ""
        qa.cfg.update(scoring="pipeline", null_score_diff_threshold=0.0)
        with pytest.warns(UserWarning, match="W871"):
            report = calibrate_qa(nlp, dev_file, holdout=0.0)
        assert "null_score_diff_threshold" not in report and qa.cfg["null_score_diff_threshold"] == 0.0
    finally:
        qa.cfg.clear()
        qa.cfg.update(saved)
        nlp.get_pipe_config("bert_qa")["null_score_diff_threshold"] = saved["null_score_diff_threshold"]
