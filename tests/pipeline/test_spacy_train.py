"""`spacy train configs/ner_listener.cfg` end to end on CPU, on a slice of WNUT-17, tiny checkpoint."""
import spacy

from tests.pipeline.spacy_cli import run_spacy, train_briefly, wnut_slice


def test_convert_train_evaluate(tmp_path, tiny_bert_dir):
    train, dev = wnut_slice(tmp_path)
    best = train_briefly("ner_listener.cfg", train, dev, tiny_bert_dir, tmp_path / "training")
    assert (best / "bert" / "model" / "model.safetensors").is_file()
    nlp = spacy.load(best)
    assert nlp.pipe_names == ["bert", "ner"]
    assert nlp("Going to Paris with Taylor Swift").tensor.shape[1] == 32
    scores = run_spacy("evaluate", str(best), str(dev), "--gpu-id", "-1")
    assert "NER P" in scores
