"""Broken or mismatched checkpoint directories give clear errors, never a half-loaded model."""
import json
import pickle
import shutil

import pytest
import torch

import spacy_bert
from spacy_bert.checkpoint import resolve_checkpoint_dir
from tests.modeling.helpers import TINY


def test_missing_directory_names_the_path(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError, match="no/such/dir"):
        spacy_bert.BertModel.from_pretrained(missing)


def test_offline_hub_id_says_to_pass_a_local_directory(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="local Hugging Face checkpoint directory"):
        resolve_checkpoint_dir("some-org/some-model-that-is-not-here")


def test_file_instead_of_directory(tiny_mlm_dir):
    with pytest.raises(FileNotFoundError, match="pass the directory"):
        spacy_bert.BertModel.from_pretrained(tiny_mlm_dir / "config.json")


def test_missing_config(tiny_mlm_dir):
    (tiny_mlm_dir / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="No config.json"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_corrupt_config(tiny_mlm_dir):
    (tiny_mlm_dir / "config.json").write_text("{ not json")
    with pytest.raises(ValueError, match="config.json"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_missing_weights_lists_what_was_looked_for(tiny_mlm_dir):
    (tiny_mlm_dir / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors.*pytorch_model.bin"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_corrupt_safetensors(tiny_mlm_dir):
    data = (tiny_mlm_dir / "model.safetensors").read_bytes()
    (tiny_mlm_dir / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_garbage_safetensors(tiny_mlm_dir):
    (tiny_mlm_dir / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="model.safetensors"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


class Payload:
    """Any non-tensor object: unpickling it fully could run arbitrary code."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_bin_with_pickled_object_is_refused(tiny_mlm_dir, capsys):
    tensors = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir).state_dict()
    (tiny_mlm_dir / "model.safetensors").unlink()
    with open(tiny_mlm_dir / "pytorch_model.bin", "wb") as f:
        pickle.dump({"weights": dict(tensors), "evil": Payload()}, f)
    with pytest.raises(ValueError, match="Refusing to load"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    assert "pwned" not in capsys.readouterr().out


def test_plain_bin_checkpoint_loads(tiny_mlm_dir):
    reference = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    (tiny_mlm_dir / "model.safetensors").unlink()
    torch.save({k: v.clone() for k, v in reference.state_dict().items()}, tiny_mlm_dir / "pytorch_model.bin")
    model = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name


def test_sharded_safetensors(tiny_mlm_dir):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_mlm_dir / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    save_file({n: tensors[n] for n in names[:half]}, str(tiny_mlm_dir / "model-00001-of-00002.safetensors"))
    save_file({n: tensors[n] for n in names[half:]}, str(tiny_mlm_dir / "model-00002-of-00002.safetensors"))
    weight_map = {n: f"model-0000{1 if i < half else 2}-of-00002.safetensors" for i, n in enumerate(names)}
    (tiny_mlm_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    reference = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    (tiny_mlm_dir / "model.safetensors").unlink()
    sharded = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    for a, b in zip(sharded.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)
    (tiny_mlm_dir / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_shape_mismatch_names_every_tensor(tiny_mlm_dir):
    config = json.loads((tiny_mlm_dir / "config.json").read_text())
    config["intermediate_size"] = 40
    (tiny_mlm_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as error:
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    message = str(error.value)
    assert "6 tensor(s) have the wrong shape" in message  # 2 layers x (intermediate w, b; output w)
    assert "bert.encoder.layer.1.output.dense.weight: checkpoint (32, 37), model (32, 40)" in message


def test_vocab_size_smaller_than_the_embeddings(tiny_mlm_dir):
    config = json.loads((tiny_mlm_dir / "config.json").read_text())
    config["vocab_size"] = 90
    (tiny_mlm_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="word_embeddings.weight: checkpoint \\(99, 32\\), model \\(90, 32\\)"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_tokenizer_vocab_larger_than_config(tiny_mlm_dir):
    (tiny_mlm_dir / "vocab.txt").write_text("\n".join(f"tok{i}" for i in range(150)) + "\n")
    with pytest.raises(ValueError, match="150 entries.*vocab_size=99"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_missing_encoder_tensor(tiny_mlm_dir):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_mlm_dir / "model.safetensors"))
    del tensors["bert.encoder.layer.1.attention.self.query.weight"]
    save_file(tensors, str(tiny_mlm_dir / "model.safetensors"))
    with pytest.raises(ValueError, match=r"(?s)lacks 1 tensor.*layer.1.attention.self.query.weight"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_unknown_tensor(tiny_mlm_dir):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_mlm_dir / "model.safetensors"))
    tensors["bert.encoder.layer.7.something.weight"] = torch.zeros(2)
    save_file(tensors, str(tiny_mlm_dir / "model.safetensors"))
    with pytest.raises(ValueError, match=r"(?s)does not know.*layer.7.something.weight"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_invalid_config_values(tiny_mlm_dir):
    config = json.loads((tiny_mlm_dir / "config.json").read_text())
    config["num_attention_heads"] = 5
    (tiny_mlm_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"hidden_size \(32\) is not a multiple of num_attention_heads \(5\)"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_save_over_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError):
        spacy_bert.BertModel(spacy_bert.BertConfig(**TINY)).save_pretrained(target)
