"""`spacy train configs/ner_listener.cfg` end to end on CPU, on a slice of WNUT-17, tiny checkpoint."""
from pathlib import Path

import spacy

from tests.pipeline.spacy_cli import run_spacy

from spacy_bert.corpora import convert_conll

REPO = Path(__file__).resolve().parents[2]


def test_convert_train_evaluate(tmp_path, shared_dir, tiny_bert_dir):
    wnut = shared_dir / "data" / "wnut17"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, lines in (("wnut17train.conll", 300), ("emerging.dev.conll", 200)):
        head = "".join((wnut / name).open(encoding="utf-8").readlines()[:lines])
        (tmp_path / name).write_text(head, encoding="utf-8")
        convert_conll(tmp_path / name, corpus / name.replace(".conll", ".spacy"))
    output = tmp_path / "training"
    run_spacy(
        "train", str(REPO / "configs" / "ner_listener.cfg"),
        "--output", str(output),
        "--paths.train", str(corpus / "wnut17train.spacy"),
        "--paths.dev", str(corpus / "emerging.dev.spacy"),
        "--paths.checkpoint", str(tiny_bert_dir),
        "--training.max_steps", "4",
        "--training.eval_frequency", "2",
        "--gpu-id", "-1",
    )
    best = output / "model-best"
    assert (best / "bert" / "model" / "model.safetensors").is_file()
    nlp = spacy.load(best)
    assert nlp.pipe_names == ["bert", "ner"]
    assert nlp("Going to Paris with Taylor Swift").tensor.shape[1] == 32
    scores = run_spacy("evaluate", str(best), str(corpus / "emerging.dev.spacy"), "--gpu-id", "-1")
    assert "NER P" in scores
