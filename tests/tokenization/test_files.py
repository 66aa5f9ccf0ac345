"""from_pretrained / save_pretrained against transformers on real checkpoint directories."""
import json
import shutil
import warnings

import pytest

from spacy_bert.tokenization import BertTokenizer

ALL = dict(return_offsets_mapping=True, return_special_tokens_mask=True)


def hf_from_pretrained(hf_bert, directory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hf_bert.from_pretrained(str(directory))


def assert_encode_alike(ours, theirs, texts, **kwargs):
    got = ours(texts, **ALL, **kwargs)
    expected = theirs(texts, **ALL, **kwargs)
    assert set(got) == set(expected)
    for key in expected:
        if key == "offset_mapping":
            assert [[tuple(o) for o in row] for row in got[key]] == [[tuple(o) for o in row] for row in expected[key]]
        else:
            assert got[key] == expected[key], key


@pytest.fixture(scope="module")
def legacy_mlm_pair(hf_bert, legacy_mlm_dir):
    return BertTokenizer.from_pretrained(legacy_mlm_dir), hf_from_pretrained(hf_bert, legacy_mlm_dir)


@pytest.fixture(scope="module")
def minilm_pair(hf_bert, minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir), hf_from_pretrained(hf_bert, minilm_dir)


@pytest.mark.parametrize("which", ["legacy_mlm", "minilm"])
def test_from_pretrained_matches_transformers(request, corpus, which):
    ours, theirs = request.getfixturevalue(f"{which}_pair")
    assert_encode_alike(ours, theirs, corpus)
    assert_encode_alike(ours, theirs, corpus[:4], text_pair=corpus[4:8], padding=True)
    assert ours.get_vocab() == theirs.get_vocab()
    assert ours.model_max_length == theirs.model_max_length
    assert ours.do_lower_case is True
    assert ours.all_special_ids == theirs.all_special_ids
    ids = theirs(corpus[-1])["input_ids"]
    assert ours.decode(ids) == theirs.decode(ids)


@pytest.mark.parametrize("which", ["legacy_mlm", "minilm"])
def test_truncation_and_padding_of_tokenizer_json_do_not_apply(request, wiki_text, which):
    # minilm's tokenizer.json truncates at 128, legacy_mlm's at 512 and pads: never for us.
    ours, theirs = request.getfixturevalue(f"{which}_pair")
    text = " ".join(wiki_text.split()[:2000])
    ids = ours(text)["input_ids"]
    assert len(ids) > 300
    assert ids == theirs(text)["input_ids"]
    assert ours.backend_tokenizer.truncation is None and ours.backend_tokenizer.padding is None
    assert ours.encode_with_offsets(text)[0] == ids[1:-1]


def test_minilm_300_piece_text_keeps_all_pieces(minilm_pair):
    ours, theirs = minilm_pair
    text = " ".join(["lobster"] * 300)
    assert len(theirs(text, add_special_tokens=False)["input_ids"]) == 300
    assert len(ours(text)["input_ids"]) == 302
    assert len(ours.backend_tokenizer.encode(text, add_special_tokens=False).ids) == 300


def test_from_pretrained_reads_vocab_txt_without_tokenizer_json(hf_bert, legacy_mlm_dir, tmp_path, corpus):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    shutil.copy(legacy_mlm_dir / "tokenizer_config.json", tmp_path / "tokenizer_config.json")
    ours = BertTokenizer.from_pretrained(tmp_path)
    assert_encode_alike(ours, hf_from_pretrained(hf_bert, tmp_path), corpus)


def test_from_pretrained_with_only_vocab_txt_uses_transformers_defaults(hf_bert, legacy_mlm_dir, tmp_path, corpus):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    ours = BertTokenizer.from_pretrained(tmp_path)
    theirs = hf_from_pretrained(hf_bert, tmp_path)
    assert ours.model_max_length == theirs.model_max_length  # "no limit"
    assert_encode_alike(ours, theirs, corpus, truncation=True)


@pytest.mark.filterwarnings("ignore:Truncation to max_length")
def test_from_pretrained_options_from_config(hf_bert, legacy_mlm_dir, tmp_path, corpus):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    config = json.loads((legacy_mlm_dir / "tokenizer_config.json").read_text())
    config.update(do_lower_case=False, strip_accents=True, model_max_length=64)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = BertTokenizer.from_pretrained(tmp_path)
    assert (ours.do_lower_case, ours.strip_accents, ours.model_max_length) == (False, True, 64)
    assert_encode_alike(ours, hf_from_pretrained(hf_bert, tmp_path), corpus, truncation=True, padding="max_length")


def test_overrides_of_from_pretrained(legacy_mlm_dir):
    assert BertTokenizer.from_pretrained(legacy_mlm_dir, model_max_length=128).model_max_length == 128


@pytest.mark.parametrize("options", [
    {},
    {"do_lower_case": False, "strip_accents": True, "model_max_length": 256},
    {"never_split": ["[unused1]", "hello"], "tokenize_chinese_chars": False},
])
def test_save_pretrained_round_trip_loads_in_transformers(hf_bert, uncased_vocab_file, tmp_path, corpus, options):
    ours = BertTokenizer(uncased_vocab_file, **options)
    written = ours.save_pretrained(tmp_path / "saved")
    names = sorted(path.name for path in written)
    assert names == ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "BertTokenizer"
    saved_json = json.loads((tmp_path / "saved" / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved_json["truncation"] is None and saved_json["padding"] is None
    theirs = hf_from_pretrained(hf_bert, tmp_path / "saved")
    texts = corpus + ["a [unused1] b hello [unused1]"]
    assert_encode_alike(ours, theirs, texts, padding=True)
    assert theirs.model_max_length == ours.model_max_length
    again = BertTokenizer.from_pretrained(tmp_path / "saved")
    assert_encode_alike(again, theirs, texts, padding=True)
    assert (again.do_lower_case, again.strip_accents, again.never_split) == \
        (ours.do_lower_case, ours.strip_accents, ours.never_split)
    assert (tmp_path / "saved" / "vocab.txt").read_text(encoding="utf-8") == \
        uncased_vocab_file.read_text(encoding="utf-8")


def test_saved_vocab_txt_alone_loads_in_transformers(hf_bert, legacy_mlm_dir, tmp_path, corpus):
    BertTokenizer.from_pretrained(legacy_mlm_dir).save_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    assert_encode_alike(BertTokenizer.from_pretrained(tmp_path), hf_from_pretrained(hf_bert, tmp_path), corpus)


def test_added_tokens_beyond_the_vocabulary_keep_their_ids(hf_bert, legacy_mlm_dir, tmp_path):
    theirs = hf_from_pretrained(hf_bert, legacy_mlm_dir)
    theirs.add_tokens(["<e1>", "</e1>"])
    theirs.save_pretrained(str(tmp_path))
    ours = BertTokenizer.from_pretrained(tmp_path)
    text = "The <e1>lobster</e1> lives in the sea."
    assert ours(text)["input_ids"] == theirs(text)["input_ids"]
    assert len(ours) == len(theirs) and ours.vocab_size == theirs.vocab_size


def test_special_tokens_as_added_token_dicts(legacy_mlm_dir, tmp_path):
    shutil.copy(legacy_mlm_dir / "vocab.txt", tmp_path / "vocab.txt")
    config = {"unk_token": {"content": "[UNK]", "special": True}, "do_lower_case": True}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"mask_token": {"content": "[MASK]"}}))
    ours = BertTokenizer.from_pretrained(tmp_path)
    assert ours.unk_token == "[UNK]" and ours.mask_token == "[MASK]"


def test_corrupt_tokenizer_config_is_a_clear_error(tmp_path, uncased_vocab_file):
    from spacy_bert import BertTokenizer

    shutil.copy(uncased_vocab_file, tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text("{ not json")
    with pytest.raises(ValueError, match="tokenizer_config.json is not a valid tokenizer file"):
        BertTokenizer.from_pretrained(tmp_path)


def test_hub_id_resolves_as_for_the_model(minilm_dir, monkeypatch):
    """The tokenizer accepts the hub id that `BertModel.from_pretrained` accepts: the packaged
    all-MiniLM-L6-v2 resolves offline to the installed package's directory (no hub is asked:
    offline mode, and any download would fail the test)."""
    from spacy_bert import BertModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        import huggingface_hub
    except ImportError:
        pass
    else:
        def no_download(*args, **kwargs):
            raise AssertionError("the packaged checkpoint must not be downloaded")

        monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)

    hub_id = "sentence-transformers/all-MiniLM-L6-v2"
    by_id = BertTokenizer.from_pretrained(hub_id)
    by_dir = BertTokenizer.from_pretrained(minilm_dir)
    assert by_id.get_vocab() == by_dir.get_vocab() and len(by_id.get_vocab()) == 30522
    text = "Hub ids and directories tokenize alike."
    assert by_id(text)["input_ids"] == by_dir(text)["input_ids"]
    assert BertModel.from_pretrained(hub_id).config.vocab_size == len(by_id.get_vocab())


def test_unknown_hub_id_offline_names_it(tmp_path, monkeypatch):
    """An id that resolves to nothing keeps the tokenizer's own error (E201) naming it."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"\[E201\].*no-such-org/no-such-model"):
        BertTokenizer.from_pretrained("no-such-org/no-such-model")
