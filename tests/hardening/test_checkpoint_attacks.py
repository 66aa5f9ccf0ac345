"""Hostile or broken checkpoint directories: coded errors (or warnings), never a raw error,
never a read outside the directory, never a huge allocation."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import spacy_bert
from spacy_bert.checkpoint import files as checkpoint_files
from tests.modeling.helpers import TINY

REPO_ROOT = Path(__file__).resolve().parents[2]


def _edit_config(directory: Path, **fields) -> None:
    config = json.loads((directory / "config.json").read_text())
    config.update(fields)
    (directory / "config.json").write_text(json.dumps(config))


def _shard(directory: Path, names=("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")):
    """Split model.safetensors into two shards named `names` (relative to `directory`), with an index."""
    tensors = load_file(str(directory / "model.safetensors"))
    order = sorted(tensors)
    half = len(order) // 2
    weight_map = {}
    for i, name in enumerate(order):
        weight_map[name] = names[0] if i < half else names[1]
    for shard in set(names):
        target = Path(shard) if os.path.isabs(shard) else directory / shard
        target.parent.mkdir(parents=True, exist_ok=True)
        save_file({n: tensors[n] for n in order if weight_map[n] == shard}, str(target))
    (directory / "model.safetensors").unlink()
    (directory / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return weight_map


# -- shard paths stay inside the checkpoint directory ----------------------------------------

@pytest.mark.parametrize("second", ["../outside.safetensors", "ABSOLUTE", "sub/model-2.safetensors", "..", ""])
def test_shard_names_must_be_plain_file_names(tiny_mlm_dir, tmp_path, second):
    if second == "ABSOLUTE":
        second = str(tmp_path / "elsewhere" / "model-2.safetensors")
    if second in ("..", ""):
        weight_map = _shard(tiny_mlm_dir)
        first_name = next(iter(weight_map))
        weight_map[first_name] = second
        (tiny_mlm_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    else:
        _shard(tiny_mlm_dir, ("model-1.safetensors", second))
    with pytest.raises(ValueError, match="E130"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


@pytest.mark.parametrize("value", [None, 3, ["model-1.safetensors"], {"file": "x"}])
def test_non_string_shard_entry(tiny_mlm_dir, value):
    weight_map = _shard(tiny_mlm_dir, ("model-1.safetensors", "model-2.safetensors"))
    weight_map[sorted(weight_map)[0]] = value
    (tiny_mlm_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError, match="E131"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_bin_shard_index_is_confined_too(tiny_mlm_dir):
    tensors = load_file(str(tiny_mlm_dir / "model.safetensors"))
    (tiny_mlm_dir / "model.safetensors").unlink()
    torch.save(tensors, tiny_mlm_dir.parent / "outside.bin")
    weight_map = {name: "../outside.bin" for name in tensors}
    (tiny_mlm_dir / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError, match="E130"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_hugging_face_cache_symlinks_keep_working(tiny_mlm_dir, tmp_path):
    """A cache snapshot's files are symlinks into ../../blobs: plain names, so they load."""
    reference = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    weight_map = _shard(tiny_mlm_dir, ("model-1.safetensors", "model-2.safetensors"))
    repo = tmp_path / "models--org--name"
    snapshot = repo / "snapshots" / "abc123"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name in ["config.json", "model.safetensors.index.json", *set(weight_map.values())]:
        blob = repo / "blobs" / f"blob-{name}"
        (tiny_mlm_dir / name).rename(blob)
        (snapshot / name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    model = spacy_bert.BertForMaskedLM.from_pretrained(snapshot)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)


# -- memory bombs: refused from the headers, in milliseconds, without memory growth ----------

_BOMB_SCRIPT = r"""
import json, resource, sys, time, warnings
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # a bug here must not take the machine down
import torch, spacy_bert
warnings.simplefilter("ignore")
results = []
for cls_name, directory, overrides in json.loads(sys.argv[1]):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        getattr(spacy_bert, cls_name).from_pretrained(directory, **overrides)
        message = "loaded"
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
    ms = (time.perf_counter() - start) * 1000
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    results.append({"message": message, "ms": ms, "growth_mb": growth_mb})
print(json.dumps(results))
"""

BOMBS = [
    # (id, config.json fields, class, from_pretrained overrides, code, words the message must hold)
    ("vocab_size", {"vocab_size": 10**9}, "BertModel", {}, "E133", ["vocab_size=1000000000", "99 rows"]),
    ("intermediate_size", {"intermediate_size": 10**9}, "BertModel", {}, "E133", ["intermediate_size=1000000000", "37 rows"]),
    ("num_hidden_layers", {"num_hidden_layers": 10**5}, "BertModel", {}, "E133", ["num_hidden_layers=100000", "2 layer(s)"]),
    ("num_labels", {"num_labels": 10**8, "id2label": None, "label2id": None}, "BertForTokenClassification", {}, "E134", ["100,000,000 labels"]),
    ("num_labels_override", {}, "BertForSequenceClassification", {"num_labels": 10**8}, "E134", ["100,000,000 labels"]),
    ("num_labels_bare_encoder", {"num_labels": 10**8, "id2label": None, "label2id": None}, "BertModel", {}, "E134", ["100,000,000 labels"]),
    ("vocab_size_bin", {"vocab_size": 10**9}, "BertModel", {}, "E133", ["vocab_size=1000000000"]),
]


def test_memory_bombs_are_refused_before_allocating(tmp_path):
    cases = []
    for name, fields, cls_name, overrides, _, _ in BOMBS:
        torch.manual_seed(0)
        directory = tmp_path / name
        spacy_bert.BertModel(spacy_bert.BertConfig(**TINY)).save_pretrained(directory)
        if name.endswith("_bin"):
            tensors = load_file(str(directory / "model.safetensors"))
            (directory / "model.safetensors").unlink()
            torch.save(tensors, directory / "pytorch_model.bin")
        config = json.loads((directory / "config.json").read_text())
        config.update(fields)
        (directory / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
        cases.append((cls_name, str(directory), overrides))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _BOMB_SCRIPT, json.dumps(cases)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    report = []
    for (name, _, _, _, code, words), result in zip(BOMBS, results, strict=True):
        report.append(f"{name}: {result['ms']:.0f} ms, peak RSS +{result['growth_mb']:.0f} MB")
        assert result["message"].startswith("ValueError") and code in result["message"], (name, result["message"])
        for word in words:
            assert word in result["message"], (name, word, result["message"])
        assert result["growth_mb"] < 500, (name, result)
        assert result["ms"] < 2000, (name, result)  # milliseconds, with room for a loaded CI machine
    print("\n".join(report))


def test_a_config_a_little_off_still_lists_every_tensor(tiny_mlm_dir):
    """Small disagreements build a normal-size model and keep strict loading's full report (E108)."""
    _edit_config(tiny_mlm_dir, intermediate_size=40)
    with pytest.raises(ValueError, match="6 tensor\\(s\\) have the wrong shape"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_config_json_too_large(tiny_mlm_dir, monkeypatch):
    monkeypatch.setattr(checkpoint_files, "MAX_CONFIG_BYTES", 100)
    with pytest.raises(ValueError, match="E136.*config.json"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_deeply_nested_config_json(tiny_mlm_dir):
    config = (tiny_mlm_dir / "config.json").read_text().rstrip().rstrip("}")
    (tiny_mlm_dir / "config.json").write_text(config + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match="E107.*nested too deeply"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_nested_but_parseable_config_value(tiny_mlm_dir):
    config = (tiny_mlm_dir / "config.json").read_text().rstrip().rstrip("}")
    (tiny_mlm_dir / "config.json").write_text(config + ', "x": ' + "[" * 500 + "]" * 500 + "}")
    with pytest.raises(ValueError, match="E037"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


@pytest.mark.parametrize("id2label,code", [({"a": "O", "b": "X"}, "E038"), ({"0": "O", "5": "X"}, "E039")])
def test_id2label_in_config_json(tiny_mlm_dir, id2label, code):
    _edit_config(tiny_mlm_dir, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    with pytest.raises(ValueError, match=code):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


@pytest.mark.parametrize("eps", [0, -1e-12])
def test_layer_norm_eps_in_config_json(tiny_mlm_dir, eps):
    _edit_config(tiny_mlm_dir, layer_norm_eps=eps)
    with pytest.raises(ValueError, match="E003.*layer_norm_eps"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


# -- weights of the wrong dtype, or with NaN -------------------------------------------------

def _rewrite(directory: Path, edit) -> None:
    tensors = load_file(str(directory / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(directory / "model.safetensors"))


@pytest.mark.parametrize("dtype", [torch.int8, torch.int64, torch.bool, torch.uint8])
def test_integer_weights_for_float_parameters(tiny_mlm_dir, dtype):
    name = "bert.encoder.layer.0.attention.self.query.weight"
    _rewrite(tiny_mlm_dir, lambda t: t.__setitem__(name, t[name].to(dtype)))
    with pytest.raises(ValueError, match=f"E135(?s:.*){name}: {str(dtype).removeprefix('torch.')}"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def _patch_header_dtype(path: Path, tensor: str, dtype: str) -> None:
    """Rewrite one tensor's dtype in the header, in place (same length: the offsets stay right)."""
    data = bytearray(path.read_bytes())
    size = struct.unpack("<Q", data[:8])[0]
    at = data.index(b'"F32"', data.index(json.dumps(tensor).encode(), 8, 8 + size))
    data[at : at + 5] = json.dumps(dtype).encode()
    path.write_bytes(bytes(data))


def test_header_dtype_that_lies_about_the_size(tiny_mlm_dir):
    _patch_header_dtype(tiny_mlm_dir / "model.safetensors", "bert.embeddings.word_embeddings.weight", "F16")
    with pytest.raises(ValueError, match="E103.*model.safetensors"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_header_dtype_that_lies_about_the_kind(tiny_mlm_dir):
    _patch_header_dtype(tiny_mlm_dir / "model.safetensors", "bert.embeddings.word_embeddings.weight", "I32")
    with pytest.raises(ValueError, match="E135(?s:.*)word_embeddings.weight: int32"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_float64_checkpoint_is_cast_with_a_warning(tiny_mlm_dir):
    reference = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    _rewrite(tiny_mlm_dir, lambda t: t.update({k: v.double() for k, v in t.items()}))
    with pytest.warns(UserWarning, match="W130.*float64"):
        model = spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert a.dtype == torch.float32 and torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_checkpoints_load_without_warning(tiny_mlm_dir, dtype, recwarn):
    _rewrite(tiny_mlm_dir, lambda t: t.update({k: v.to(dtype) for k, v in t.items()}))
    spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
    assert not [w for w in recwarn if "W130" in str(w.message)]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_named(tiny_mlm_dir, value):
    name = "bert.encoder.layer.1.output.dense.bias"

    def poison(tensors):
        tensors[name][3] = value

    _rewrite(tiny_mlm_dir, poison)
    with pytest.warns(UserWarning, match=f"W131.*{name}"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


# -- corrupt files ---------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0, 4, 8, 40, 0.5, -1])
def test_truncated_safetensors(tiny_mlm_dir, keep):
    path = tiny_mlm_dir / "model.safetensors"
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="E103.*model.safetensors"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_huge_header_length(tiny_mlm_dir):
    path = tiny_mlm_dir / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + path.read_bytes()[8:])
    with pytest.raises(ValueError, match="E103.*model.safetensors"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_deleted_config_json(tiny_mlm_dir):
    (tiny_mlm_dir / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="E106"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


# -- tokenizer files -------------------------------------------------------------------------

@pytest.fixture
def tokenizer_dir(tmp_path, minilm_dir):
    directory = tmp_path / "tok"
    directory.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            (directory / name).write_bytes((minilm_dir / name).read_bytes())
    return directory


@pytest.mark.parametrize("value", [-5, 10**6, 2**70, 1.5, "x", True, None])
def test_tokenizer_json_ids_out_of_range(tokenizer_dir, value):
    data = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    data["model"]["vocab"]["the"] = value
    (tokenizer_dir / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="E241.*tokenizer.json"):
        spacy_bert.BertTokenizer.from_pretrained(tokenizer_dir)


@pytest.mark.parametrize("value", [2**70, -1, "x", None])
def test_tokenizer_json_added_token_ids(tokenizer_dir, value):
    data = json.loads((tokenizer_dir / "tokenizer.json").read_text())
    data["added_tokens"][0]["id"] = value
    (tokenizer_dir / "tokenizer.json").write_text(json.dumps(data))
    (tokenizer_dir / "tokenizer_config.json").unlink()  # added tokens then come from tokenizer.json
    with pytest.raises(ValueError, match="E242"):
        spacy_bert.BertTokenizer.from_pretrained(tokenizer_dir)


def test_vocab_txt_not_utf8_names_the_file(tiny_mlm_dir):
    (tiny_mlm_dir / "vocab.txt").write_bytes("[PAD]\n[UNK]\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="E240.*vocab.txt"):
        spacy_bert.BertTokenizer.from_pretrained(tiny_mlm_dir)
    with pytest.raises(ValueError, match="E240.*vocab.txt"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)


def test_safetensors_bytes_layout_and_preflight(tiny_mlm_dir):
    """The helper a serialized pipeline's from_bytes can run before building its model."""
    from spacy_bert.checkpoint.layout import safetensors_bytes_layout
    from spacy_bert.checkpoint.preflight import check_config_fits_weights

    data = (tiny_mlm_dir / "model.safetensors").read_bytes()
    layout = safetensors_bytes_layout(data, "payload")
    assert layout["bert.embeddings.word_embeddings.weight"].shape == (99, 32)
    config = json.loads((tiny_mlm_dir / "config.json").read_text())
    check_config_fits_weights(config, {}, layout, "payload")
    with pytest.raises(ValueError, match="E133"):
        check_config_fits_weights({**config, "vocab_size": 10**9}, {}, layout, "payload")
    for bad in (b"", data[:7], struct.pack("<Q", 2**40) + data[8:], struct.pack("<Q", 2) + b"[]" + data[10:]):
        with pytest.raises(ValueError, match="E103.*payload"):
            safetensors_bytes_layout(bad, "payload")


def test_deeply_nested_tokenizer_json(tokenizer_dir):
    text = (tokenizer_dir / "tokenizer.json").read_text().rstrip().rstrip("}")
    (tokenizer_dir / "tokenizer.json").write_text(text + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match="E215.*tokenizer.json.*nested too deeply"):
        spacy_bert.BertTokenizer.from_pretrained(tokenizer_dir)


def test_deeply_nested_tokenizer_json_in_a_checkpoint(tiny_mlm_dir):
    (tiny_mlm_dir / "tokenizer.json").write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ValueError, match="E107.*tokenizer.json.*nested too deeply"):
        spacy_bert.BertForMaskedLM.from_pretrained(tiny_mlm_dir)
