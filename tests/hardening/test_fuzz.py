"""A standing fuzz and fault suite.

Random Unicode (control characters, astral planes, combining marks, ZWJ sequences, RTL text,
CJK, NUL, very long words) runs through `bert`, `bert_ner` and `bert_textcat` (tiny random
models with the real uncased vocabulary) with the alignment invariants checked on every Doc;
random byte faults in a checkpoint's files must give a coded error or a clean load.

Fast by default; `SPACY_BERT_FUZZ=10000` runs 10,000 texts (and a tenth as many faults).
Texts are drawn from `random.Random(seed)` per text, so a failure names a reproducible text.
"""
import json
import os
import random
import re

import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example

import spacy_bert
from spacy_bert import BertTokenizer
from tests.modeling.helpers import TINY

N_TEXTS = int(os.environ.get("SPACY_BERT_FUZZ", "48"))
N_FAULTS = max(24, N_TEXTS // 10)
HIDDEN = 32

POOLS = {
    "ascii": list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()-[]{}#@&*/\\"),
    "control": [chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]],
    "combining": [chr(c) for c in range(0x300, 0x370)] + ["\u20dd", "\u0e49", "\u093f", "\u1ab0"],
    "zwj": ["\u200d", "\u200c", "\ufe0f", "\U0001f469\u200d\U0001f4bb", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f3fd", "\U0001f44d\U0001f3fd"],
    "rtl": [chr(c) for c in [*range(0x5D0, 0x5EB), *range(0x627, 0x64B)]] + ["\u202e", "\u202d", "\u200f", "\u061c", "\u2067"],
    "cjk": [chr(c) for c in [*range(0x4E00, 0x4F00), *range(0x3041, 0x3097), *range(0xAC00, 0xAC40)]] + list("。、ー「」"),
    "space": [" ", " ", " ", "\n", "\t", "\r", "\u00a0", "\u2028", "\u3000", "\u200b", "\ufeff", "\x0b", "\x0c"],
    "nul": ["\x00"],
}


def _random_char(rng: random.Random) -> str:
    """Any Unicode scalar value (no lone surrogates: they are not text and cannot be UTF-8)."""
    while True:
        code = rng.choice([rng.randrange(0x80, 0x10000), rng.randrange(0x10000, 0x110000)])
        if not 0xD800 <= code <= 0xDFFF:
            return chr(code)


def random_text(seed: int) -> str:
    rng = random.Random(seed)
    pools = rng.sample(sorted(POOLS), rng.randint(1, 4))
    parts = []
    for _ in range(rng.randint(0, 60)):
        roll = rng.random()
        if roll < 0.1:
            parts.append(_random_char(rng))
        elif roll < 0.13:  # a very long word: one character repeated, or random letters
            length = rng.randint(50, 1500)
            parts.append(rng.choice(POOLS["ascii"][:52]) * length if rng.random() < 0.5 else
                         "".join(rng.choices(POOLS[rng.choice(pools)], k=length)))
        else:
            parts.append(rng.choice(POOLS[rng.choice(pools)]))
    return "".join(parts)


@pytest.fixture(scope="module")
def nlp(tiny_bert_dir):
    """`bert` (its own encoder) + `bert_ner` + `bert_textcat` (each with its own encoder)."""
    torch.manual_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 24, "stride": 6, "store_piece_states": True})
    nlp.add_pipe("bert_ner", config={"checkpoint": str(tiny_bert_dir)})
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir)})
    text = "Alice lives in Paris"
    egs = [Example.from_dict(nlp.make_doc(text), {"entities": [(0, 5, "PER"), (15, 20, "LOC")], "cats": {"A": 1.0, "B": 0.0}})]
    nlp.initialize(lambda: egs)
    return nlp


def check_doc(doc, tokenizer) -> None:
    """The alignment invariants of one annotated Doc (AssertionError otherwise)."""
    text = doc.text
    data = doc._.bert
    assert doc.tensor.shape == (len(doc), HIDDEN) and np.isfinite(doc.tensor).all()
    # nothing truncated: exactly the pieces of the whole text
    ids, _ = tokenizer.encode_with_offsets(text)
    assert data.piece_ids.tolist() == ids
    offsets = data.piece_offsets
    assert offsets.shape == (len(ids), 2)
    assert ((0 <= offsets[:, 0]) & (offsets[:, 0] <= offsets[:, 1]) & (offsets[:, 1] <= len(text))).all()
    assert data.lengths.shape == (len(doc),) and int(data.lengths.sum()) == len(data.piece_indices)
    assert data.last_hidden_state.shape == (len(ids), HIDDEN) and np.isfinite(data.last_hidden_state).all()
    covered = np.zeros(len(ids), dtype=bool)
    for token in doc:
        start, end = token.idx, token.idx + len(token)
        for piece in data.pieces_of(token.i):
            s, e = offsets[piece]
            # every piece of a token lies (at least partly) inside the token's char span
            assert s < end and e > start, (token.i, token.text, int(s), int(e))
            covered[piece] = True
    # every piece that covers text belongs to some token (nothing silently dropped)
    assert covered[offsets[:, 0] < offsets[:, 1]].all()
    # bert_ner: entities are spans of this Doc, each scored
    group = doc.spans["bert_ner"]
    assert len(group) == len(doc.ents) == len(group.attrs["scores"])
    for ent, score in zip(group, group.attrs["scores"]):
        assert 0 <= ent.start < ent.end <= len(doc) and ent.label_ in ("PER", "LOC")
        assert 0.0 <= score <= 1.0
    # bert_textcat: one finite probability per label, summing to 1 (exclusive classes)
    assert sorted(doc.cats) == ["A", "B"]
    assert all(0.0 <= p <= 1.0 for p in doc.cats.values()) and abs(sum(doc.cats.values()) - 1.0) < 1e-4


def test_random_unicode_through_every_component(nlp, tiny_bert_dir):
    tokenizer = BertTokenizer.from_pretrained(tiny_bert_dir)
    texts = [random_text(seed) for seed in range(N_TEXTS)]
    # fixed cases every run: the empty text, whitespace only, NUL only, one huge word
    texts += ["", " ", "\n\n\t", "\x00" * 5, "a" * 5000, "\u0301" * 20, "\U0001f469\u200d\U0001f4bb" * 30]
    for seed, doc in enumerate(nlp.pipe(texts, batch_size=16)):
        try:
            check_doc(doc, tokenizer)
        except AssertionError as error:
            raise AssertionError(f"text #{seed} {doc.text[:300]!r}: {error}") from error


# -- faults in checkpoint files: a coded error or a clean load, nothing else ---------------------

CODED = re.compile(r"\[[EW]\d+\]")


def is_coded(message: str) -> bool:
    return bool(CODED.search(message))


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fault-source")
    torch.manual_seed(0)
    spacy_bert.BertForMaskedLM(spacy_bert.BertConfig(**TINY)).save_pretrained(directory)
    return {name: (directory / name).read_bytes() for name in ("config.json", "model.safetensors")}


def _mutate(data: bytes, rng: random.Random, header_end: int) -> bytes:
    data = bytearray(data)
    kind = rng.choice(["flip", "byte", "cut", "insert"])
    at = rng.randrange(min(len(data), header_end))  # the structured part: headers and JSON
    if kind == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        data[at] = rng.randrange(256)
    elif kind == "cut":
        del data[at:]
    else:
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_random_faults_in_checkpoint_files(tmp_path, checkpoint_bytes):
    for seed in range(N_FAULTS):
        rng = random.Random(seed)
        name = rng.choice(sorted(checkpoint_bytes))
        original = checkpoint_bytes[name]
        header_end = len(original) if name == "config.json" else 8 + int.from_bytes(original[:8], "little")
        directory = tmp_path / f"fault-{seed}"
        directory.mkdir()
        for other, data in checkpoint_bytes.items():
            (directory / other).write_bytes(_mutate(data, rng, header_end) if other == name else data)
        try:
            spacy_bert.BertForMaskedLM.from_pretrained(directory)
        except (ValueError, FileNotFoundError, TypeError) as error:
            assert is_coded(str(error)), f"fault #{seed} in {name}: uncoded {type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - anything else is a raw error reaching the user
            raise AssertionError(f"fault #{seed} in {name}: raw {type(error).__name__}: {error}") from error


HOSTILE_VALUES = [None, -1, 0, 1, 2**63, 10**30, 1e308, float("nan"), -0.5, 0.5, 3.7, "x", "", "12", True, False,
                  [], [1, 2], {}, {"0": "O"}, {"a": 1}]
CONFIG_FIELDS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
                 "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type",
                 "use_cache", "classifier_dropout", "is_decoder", "add_cross_attention", "id2label", "label2id",
                 "num_labels", "problem_type", "tie_word_embeddings", "architectures", "model_type", "torch_dtype"]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("cls_name", ["BertForMaskedLM", "BertForTokenClassification"])
def test_hostile_config_values(tmp_path, checkpoint_bytes, cls_name):
    """Each config field set to a hostile JSON value: a coded error or a clean load."""
    config = json.loads(checkpoint_bytes["config.json"])
    rng = random.Random(cls_name)
    cases = [(field, value) for field in CONFIG_FIELDS for value in HOSTILE_VALUES]
    failures = []
    for case, (field, value) in enumerate(rng.sample(cases, min(len(cases), N_FAULTS))):
        directory = tmp_path / f"{cls_name}-{case}"
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(checkpoint_bytes["model.safetensors"])
        (directory / "config.json").write_text(json.dumps({**config, field: value}))
        try:
            getattr(spacy_bert, cls_name).from_pretrained(directory)
        except (ValueError, FileNotFoundError, TypeError) as error:
            if not is_coded(str(error)):
                failures.append(f"{field}={value!r}: uncoded {type(error).__name__}: {error}")
        except Exception as error:  # noqa: BLE001 - anything else is a raw error reaching the user
            failures.append(f"{field}={value!r}: raw {type(error).__name__}: {error}")
    assert not failures, "\n".join(failures)
