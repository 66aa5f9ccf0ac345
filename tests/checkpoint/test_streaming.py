"""The one model builder: meta device, streaming, ties, fresh heads, dtypes, bytes, memory.

Issue 23 §4: a model is built from its weights holding about one model in memory, not two.
"""
import ctypes
import dataclasses
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as safetensors_bytes

from spacy_bert.checkpoint import build_model, bytes_weights, directory_weights, load_pretrained
from spacy_bert.checkpoint import stream as stream_module
from spacy_bert.json_files import atomic_write, write_json
from spacy_bert.modeling import BertConfig, BertForMaskedLM, BertForPreTraining, BertModel
from spacy_bert.modeling import pretrained as pretrained_module
from tests.error_codes import raises_code
from tests.modeling.helpers import TINY

REPO = Path(__file__).resolve().parents[2]


def _saved(tmp_path: Path, model: torch.nn.Module, name: str = "ckpt") -> Path:
    directory = tmp_path / name
    model.save_pretrained(directory)
    return directory


def _state(model: torch.nn.Module):
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


def test_an_encoder_checkpoint_into_an_mlm_head_keeps_ties_and_initialises_only_the_head(tmp_path):
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(**TINY)).eval()
    directory = _saved(tmp_path, encoder)
    with pytest.warns(UserWarning, match="W102"):
        model = load_pretrained(BertForMaskedLM, directory)
    embeddings = model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.weight is embeddings  # tied after building on meta
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    assert torch.equal(embeddings, encoder.embeddings.word_embeddings.weight)  # not re-initialised
    transform = model.cls.predictions.transform
    assert torch.equal(transform.LayerNorm.weight, torch.ones_like(transform.LayerNorm.weight))
    assert torch.equal(transform.LayerNorm.bias, torch.zeros_like(transform.LayerNorm.bias))
    assert torch.equal(transform.dense.bias, torch.zeros_like(transform.dense.bias))
    assert torch.equal(model.cls.predictions.bias, torch.zeros_like(model.cls.predictions.bias))
    # Hugging Face's N(0, initializer_range) init, not uninitialised memory.
    std = float(transform.dense.weight.detach().std())
    assert 0.5 * TINY.get("initializer_range", 0.02) < std < 2 * TINY.get("initializer_range", 0.02)
    assert all(not t.is_meta for t in model.state_dict().values())


def test_every_parameter_comes_from_the_file(tmp_path):
    torch.manual_seed(1)
    source = BertForPreTraining(BertConfig(**TINY)).eval()
    expected = _state(source)
    assert expected
    model = load_pretrained(BertForPreTraining, _saved(tmp_path, source))
    got = model.state_dict()
    assert set(got) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name


@pytest.mark.parametrize("fmt", ["safetensors_shards", "bin", "bin_shards", "bin_legacy"])
def test_every_file_layout_loads_the_same_tensors(tmp_path, fmt, monkeypatch):
    torch.manual_seed(2)
    source = BertModel(BertConfig(**TINY)).eval()
    reference = _saved(tmp_path, source, "reference")
    directory = tmp_path / fmt
    directory.mkdir()
    (directory / "config.json").write_text((reference / "config.json").read_text())
    state = {name: t.contiguous() for name, t in source.state_dict().items()}
    names = sorted(state)
    halves = {"part-1": names[: len(names) // 2], "part-2": names[len(names) // 2 :]}
    if fmt == "safetensors_shards":
        from safetensors.torch import save_file

        for part, keys in halves.items():
            save_file({k: state[k] for k in keys}, str(directory / f"{part}.safetensors"))
        index = {"weight_map": {k: f"{part}.safetensors" for part, keys in halves.items() for k in keys}}
        (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    elif fmt == "bin_shards":
        for part, keys in halves.items():
            torch.save({k: state[k] for k in keys}, directory / f"{part}.bin")
        index = {"weight_map": {k: f"{part}.bin" for part, keys in halves.items() for k in keys}}
        (directory / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    else:
        torch.save(state, directory / "pytorch_model.bin", _use_new_zipfile_serialization=fmt != "bin_legacy")
    # One tensor per group: every group reopens (or re-maps) its file.
    monkeypatch.setattr(stream_module, "GROUP_BYTES", 1)
    model = load_pretrained(BertModel, directory)
    for name, tensor in state.items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_dtype_policy(tmp_path):
    torch.manual_seed(3)
    source = BertModel(BertConfig(**TINY)).to(torch.bfloat16).eval()
    directory = _saved(tmp_path, source)
    assert json.loads((directory / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_pretrained(BertModel, directory).dtype == torch.float32  # Hugging Face's default
    auto = load_pretrained(BertModel, directory, dtype="auto")
    assert {p.dtype for p in auto.parameters()} == {torch.bfloat16}
    for name, tensor in source.state_dict().items():
        assert torch.equal(auto.state_dict()[name], tensor), name
    assert BertModel.from_pretrained(directory, torch_dtype=torch.float16).dtype == torch.float16
    with raises_code("E040"):
        load_pretrained(BertModel, directory, dtype="int8")


def test_bytes_weights_are_read_in_place_and_checked(tmp_path):
    torch.manual_seed(4)
    source = BertModel(BertConfig(**TINY)).eval()
    data = safetensors_bytes({k: v.contiguous() for k, v in source.state_dict().items()})
    weights = bytes_weights(data, "payload")
    name, tensor = next(iter(weights.stream(["embeddings.word_embeddings.weight"])))
    assert name == "embeddings.word_embeddings.weight"
    # The tensor's memory lies inside the bytes object: no copy was made.
    buffer_start = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert buffer_start <= tensor.data_ptr() < buffer_start + len(data)
    model = build_model(BertModel, source.config, weights)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    first = next(k for k in header if k != "__metadata__")
    header[first]["data_offsets"] = [0, len(data)]  # past the end of the data
    raw = json.dumps(header).encode()
    bad = len(raw).to_bytes(8, "little") + raw + data[8 + header_size :]
    with raises_code("E103", match="data_offsets"):
        bytes_weights(bad, "payload")
    header[first]["data_offsets"] = [0, 4]  # fewer bytes than the shape needs
    raw = json.dumps(header).encode()
    with raises_code("E103", match="do not match"):
        bytes_weights(len(raw).to_bytes(8, "little") + raw + data[8 + header_size :], "payload")


def test_directory_weights_read_no_tensor_data(tmp_path, monkeypatch):
    directory = _saved(tmp_path, BertModel(BertConfig(**TINY)))
    calls = []
    monkeypatch.setattr(stream_module, "safe_open", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    weights = directory_weights(directory)  # the layout comes from layout.py's own safe_open
    assert weights.layout and not calls


def test_from_pretrained_without_the_checkpoint_package_is_a_coded_error(tmp_path, monkeypatch):
    directory = _saved(tmp_path, BertModel(BertConfig(**TINY)))
    monkeypatch.setattr(pretrained_module, "_CHECKPOINT_IO", {})
    with raises_code("E160", match="from_pretrained", exception=RuntimeError):
        BertModel.from_pretrained(directory)
    with raises_code("E160", match="save_pretrained", exception=RuntimeError):
        BertModel(BertConfig(**TINY)).save_pretrained(tmp_path / "out")


def test_config_is_a_dataclass_whose_fields_are_the_config_json_keys():
    """(Its defaults are compared with transformers' in tests/modeling/test_config_and_inputs.py.)"""
    declared = {f.name: f for f in dataclasses.fields(BertConfig)}
    written = BertConfig(foo=1).to_dict()
    assert set(declared) - {"extra"} <= set(written) | {"architectures"}
    assert set(written) - set(declared) == {"model_type", "foo"}  # the class constant and the unknown key
    fresh = BertConfig()
    for name, f in declared.items():
        if f.default is not dataclasses.MISSING:
            assert getattr(fresh, name) == f.default, name
    changed = dataclasses.replace(BertConfig(num_labels=3, foo=1), hidden_size=64, num_attention_heads=2)
    assert (changed.hidden_size, changed.num_labels, changed.extra) == (64, 3, {"foo": 1})
    assert BertConfig.from_dict(changed.to_dict()) == changed


def test_atomic_json_writer(tmp_path):
    path = tmp_path / "config.json"
    write_json({"b": 1, "a": "é"}, path)
    assert path.read_text(encoding="utf-8") == '{\n  "b": 1,\n  "a": "é"\n}\n'
    write_json({"b": 1, "a": 2}, path, sort_keys=True)
    assert json.loads(path.read_text()) == {"a": 2, "b": 1} and path.read_text().index('"a"') < path.read_text().index('"b"')
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    def fail_half_way(tmp):
        with open(tmp, "w") as f:
            f.write('{"half":')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail_half_way)
    assert json.loads(path.read_text()) == {"a": 2, "b": 1}  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no temporary left


_MEASURE = textwrap.dedent(
    """
    import sys
    import torch
    from spacy_bert.modeling import BertModel
    import spacy_bert.checkpoint.loading
    from spacy_bert.checkpoint import stream
    stream.GROUP_BYTES = 4 * 2**20  # a small group: the peak is then the model + 4 MiB
    def status(key):
        # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the process
        # that forked this one (the test runner), VmHWM belongs to this program's memory.
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    # Warm up on a tiny checkpoint of the same format first: the first load in a process pays
    # once for lazy imports, .pyc compilation (a fresh clone has none) and allocator arenas,
    # which is not memory that grows with the model.
    BertModel.from_pretrained(sys.argv[2])
    before = status("VmRSS")
    model = BertModel.from_pretrained(sys.argv[1])
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    print(status("VmHWM") - before, size)
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the RSS from /proc (Linux)")
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_loading_holds_about_one_model(tmp_path, fmt):
    """Peak RSS growth while loading a ~60 MB checkpoint in a fresh process is about one model
    (reading the whole file and then building the model, as before, needed two: growth 2.1x)."""
    torch.manual_seed(5)
    # Many mid-sized tensors (the largest 2.3 MiB), so one group of tensors is small beside the model.
    config = BertConfig(vocab_size=1000, hidden_size=384, num_hidden_layers=8, num_attention_heads=6, intermediate_size=1536)
    model = BertModel(config)
    directory = _saved(tmp_path, model)
    tiny = BertModel(BertConfig(**TINY))
    warm_up = _saved(tmp_path, tiny, "warm_up")
    if fmt == "bin":
        for saved, weights in ((directory, model), (warm_up, tiny)):
            torch.save({k: v.contiguous() for k, v in weights.state_dict().items()}, saved / "pytorch_model.bin")
            (saved / "model.safetensors").unlink()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(directory), str(warm_up)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        check=True,
    )
    growth, size = map(int, result.stdout.split())
    assert size > 50 * 2**20
    assert growth < 1.25 * size, f"peak RSS grew by {growth / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB model"


def test_full_init_draws_the_random_stream_as_building_the_class_does(tmp_path):
    directory = _saved(tmp_path, BertModel(BertConfig(**TINY)))
    torch.manual_seed(7)
    built = BertForMaskedLM(BertConfig.from_dict(json.loads((directory / "config.json").read_text())))
    after_building = torch.rand(3)
    torch.manual_seed(7)
    with pytest.warns(UserWarning, match="W102"):
        loaded = load_pretrained(BertForMaskedLM, directory, full_init=True)
    assert torch.equal(torch.rand(3), after_building)
    head = "cls.predictions.transform.dense.weight"
    assert torch.equal(loaded.state_dict()[head], built.state_dict()[head])
    weights = "bert.embeddings.word_embeddings.weight"
    assert not torch.equal(loaded.state_dict()[weights], built.state_dict()[weights])  # from the file
    torch.manual_seed(7)
    with pytest.warns(UserWarning, match="W102"):
        load_pretrained(BertForMaskedLM, directory)  # on meta: only the fresh head draws
    assert not torch.equal(torch.rand(3), after_building)
