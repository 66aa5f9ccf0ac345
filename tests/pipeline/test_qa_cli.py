"""`spacy train configs/qa.cfg` on a small XQuAD slice, then `evaluate-qa` and export to transformers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import spacy
import torch

import spacy_bert.pipeline  # noqa: F401
from spacy_bert.pipeline.export import export_component
from spacy_bert.pipeline.qa_evaluate import evaluate_qa
from tests.paths import XQUAD
from tests.pipeline.spacy_cli import REPO, run_spacy


def squad_slice(source, target, paragraphs):
    data = json.loads(source.read_text(encoding="utf-8"))
    article = data["data"][0]
    sliced = {"version": data.get("version", "1.1"), "data": [{"title": article.get("title", ""), "paragraphs": article["paragraphs"][:paragraphs]}]}
    target.write_text(json.dumps(sliced), encoding="utf-8")
    return target, sum(len(p["qas"]) for p in sliced["data"][0]["paragraphs"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert_dir):
    tmp = tmp_path_factory.mktemp("qa-train")
    train, _ = squad_slice(XQUAD / "train.json", tmp / "train.json", 2)
    dev, n_dev = squad_slice(XQUAD / "dev.json", tmp / "dev.json", 2)
    code = tmp / "register.py"
    code.write_text("import spacy_bert.pipeline  # registers bert_qa and spacy-bert.SquadCorpus.v1\n")
    run_spacy(
        "train", str(REPO / "configs" / "qa.cfg"),
        "--code", str(code),
        "--output", str(tmp / "out"),
        "--paths.train", str(train),
        "--paths.dev", str(dev),
        "--paths.checkpoint", str(tiny_bert_dir),
        "--components.bert_qa.max_seq_len", "64",
        "--components.bert_qa.doc_stride", "16",
        "--training.max_steps", "4",
        "--training.eval_frequency", "2",
        "--gpu-id", "-1",
    )
    return tmp / "out" / "model-best", dev, n_dev, tmp


def test_spacy_train_then_evaluate_qa(trained):
    model_best, dev, n_dev, tmp = trained
    meta = json.loads((model_best / "meta.json").read_text())
    assert "qa_f1" in meta["performance"]
    result = evaluate_qa(model_best, dev, tmp / "metrics.json")
    written = json.loads((tmp / "metrics.json").read_text())
    assert written["predictions"] == result["predictions"] and len(result["predictions"]) == n_dev
    assert all(isinstance(text, str) for text in result["predictions"].values())
    scores = result["scores"]
    assert scores["total"] == n_dev and 0.0 <= scores["exact"] <= scores["f1"] <= 100.0
    assert scores["qa_f1"] == pytest.approx(scores["f1"] / 100)


def test_evaluate_qa_command(trained):
    """`spacy bert evaluate-qa` (here through its alias `python -m spacy_bert`) writes the same file."""
    model_best, dev, n_dev, tmp = trained
    out = subprocess.run(
        [sys.executable, "-m", "spacy_bert", "evaluate-qa", str(model_best), str(dev), "--output", str(tmp / "cli.json")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "qa_f1" in out.stdout
    written = json.loads((tmp / "cli.json").read_text())
    assert len(written["predictions"]) == n_dev and "f1" in written["scores"]


def test_export_loads_in_transformers_with_equal_logits(trained):
    import transformers

    model_best, _, _, tmp = trained
    nlp = spacy.load(model_best)
    out = export_component(nlp, "bert_qa", tmp / "hf")
    model, info = transformers.AutoModelForQuestionAnswering.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    question, context = "Who wrote it?", "The report was written by the panel in 2007."
    qa = nlp.get_pipe("bert_qa")
    windows = qa.run_windows([context], [question])
    encoded = tokenizer(question, context, return_tensors="pt")
    with torch.no_grad():
        theirs = model.eval()(**encoded)
    assert np.abs(windows.start_logits[0] - theirs.start_logits[0].numpy()).max() <= 1e-4
    assert np.abs(windows.end_logits[0] - theirs.end_logits[0].numpy()).max() <= 1e-4
