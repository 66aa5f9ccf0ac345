"""`BertJapaneseTokenizer` (issue 28): ids identical to transformers' `BertJapaneseTokenizer`
for every supported word x sub-word combination, offsets proven against the text, pickles and
saved files that transformers reloads identically, coded errors for what we do not implement.

Every expected id comes from transformers' `BertJapaneseTokenizer` in this process. The
vocabulary is built from TRAIN_TEXTS with transformers' own MeCab word tokenizer (words, their
first character + `##` characters, and all characters), so the held-out TEXTS exercise whole
words, word pieces and `[UNK]`.
"""
import json
import pickle
import sys
import unicodedata
from pathlib import Path

import pytest
import transformers  # the test extra installs it and the [ja] packages (fugashi, ...)

from spacy_bert.tokenization import BertTokenizer, align_pieces_to_tokens
from spacy_bert.tokenization.japanese import BertJapaneseTokenizer
from tests.error_codes import raises_code


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# The vocabulary's source (never tokenized in a parity test).
TRAIN_TEXTS = [
    "吾輩は猫である。名前はまだ無い。",
    "東京都に住んでいる友達と京都へ旅行しました。",
    "今日は天気が良いので、公園で散歩をします。",
    "日本語の自然言語処理は面白いです。",
    "彼女はコーヒーを飲みながら本を読んでいた。",
    "新しいスマートフォンを買いました。Apple の iPhone です。",
    "会議は午後3時から始まります。",
    "BERT モデルを spaCy で使う。",
]

# Held out: kana, kanji, Latin, numbers, full-width and half-width forms, emoji, whitespace.
TEXTS = [
    "猫は静かに窓の外を見ていた。",
    "来週、大阪と名古屋に出張します。",
    "ＡＢＣ株式会社の売上は１２３億円でした。",
    "ｶﾀｶﾅとﾊﾝｶｸの文字が混ざっている。",
    "今日はいい天気ですね😀🌸",
    "東京タワーの高さは333メートルです。",
    "Python と JavaScript でプログラムを書く。",
    "iPhone 15 Pro を 2023年9月22日に買った。",
    "「こんにちは」と彼は言った。",
    "この本は、とても面白かった！",
    "Ｈｅｌｌｏ　Ｗｏｒｌｄ　全角スペース",
    "半角スペース   が   たくさん",
    "改行\nと\tタブ\r\nを含む文",
    "①②③ と ㈱ と ㍻ と ｷﾛ の互換文字",
    "ｽﾏｰﾄﾌｫﾝのｱﾌﾟﾘを更新した。",
    "ＡＩ（人工知能）の研究が進んでいる。",
    "メールアドレスは test@example.com です。",
    "価格は¥1,980（税込）です。",
    "富士山の標高は3776mです。",
    "彼女は「明日また来ます」と言って帰った。",
    "英語の Transformer は日本語でも使われる。",
    "絵文字👨‍👩‍👧‍👦と国旗🇯🇵も入れてみる。",
    "supercalifragilisticexpialidocious" * 4 + "は長い単語",
    "漢字ばかりの文章国際連合安全保障理事会常任理事国",
    "ひらがなだけのぶんしょうをかいてみました",
    "カタカナダケノブンショウヲカイテミマシタ",
    "[MASK] は特別な トークン です [SEP] ね",
    "Ⅻ月の ﬁ 合字と ½ の分数",
    "",
    "   ",
]

# (word_tokenizer_type, subword_tokenizer_type, extra config): every combination we support.
COMBOS = {
    "mecab-unidic_lite-wordpiece": ("mecab", "wordpiece", {"mecab_kwargs": {"mecab_dic": "unidic_lite"}}),
    "mecab-unidic_lite-wordpiece-lower": ("mecab", "wordpiece", {"mecab_kwargs": {"mecab_dic": "unidic_lite"},
                                                                 "do_lower_case": True}),
    "mecab-unidic_lite-character": ("mecab", "character", {"mecab_kwargs": {"mecab_dic": "unidic_lite"}}),
    "mecab-ipadic-wordpiece": ("mecab", "wordpiece", {"mecab_kwargs": {"mecab_dic": "ipadic"}}),
    "mecab-ipadic-character-lower": ("mecab", "character", {"mecab_kwargs": {"mecab_dic": "ipadic"},
                                                            "do_lower_case": True}),
    "mecab-no-nfkc": ("mecab", "wordpiece", {"mecab_kwargs": {"mecab_dic": "unidic_lite", "normalize_text": False}}),
    "mecab-no-nfkc-character-lower": ("mecab", "character", {"mecab_kwargs": {"normalize_text": False},
                                                             "do_lower_case": True}),
    "mecab-never-split": ("mecab", "wordpiece", {"do_lower_case": True, "never_split": ["Apple", "BERT"]}),
    "sudachi-A-wordpiece": ("sudachi", "wordpiece", {"sudachi_kwargs": {"sudachi_split_mode": "A"}}),
    "sudachi-B-wordpiece-lower": ("sudachi", "wordpiece", {"sudachi_kwargs": {"sudachi_split_mode": "B"},
                                                          "do_lower_case": True}),
    "sudachi-C-wordpiece": ("sudachi", "wordpiece", {"sudachi_kwargs": {"sudachi_split_mode": "C"}}),
    "sudachi-A-character": ("sudachi", "character", {}),
    "sudachi-character-trim": ("sudachi", "character", {"sudachi_kwargs": {"trim_whitespace": True}}),
    "basic-wordpiece": ("basic", "wordpiece", {}),
    "basic-wordpiece-lower": ("basic", "wordpiece", {"do_lower_case": True}),
    "basic-character": ("basic", "character", {}),
    "no-word-tokenizer-character": ("mecab", "character", {"do_word_tokenize": False}),
}


def build_vocab():
    from transformers.models.bert_japanese.tokenization_bert_japanese import MecabTokenizer

    mecab = MecabTokenizer(mecab_dic="unidic_lite")
    entries = []
    for text in TRAIN_TEXTS:
        for word in mecab.tokenize(text):
            entries += [word, word.lower(), word[0]] + ["##" + c for c in word[1:]]
        normal = unicodedata.normalize("NFKC", text)
        entries += list(normal) + ["##" + c for c in normal]
    entries += [" "]  # so that a whitespace character piece (Sudachi, character) has an id
    words = sorted({e for e in entries if e.strip() or e == " "} - set(SPECIALS))
    return SPECIALS + words


VOCAB = build_vocab()


def write_checkpoint(directory: Path, word: str, subword: str, extra: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    config = {"tokenizer_class": "BertJapaneseTokenizer", "word_tokenizer_type": word,
              "subword_tokenizer_type": subword, "model_max_length": 512, **extra}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return directory


@pytest.fixture(scope="module", params=sorted(COMBOS))
def pair(request, tmp_path_factory):
    """(ours, transformers', config) for one combination, from the same directory."""
    word, subword, extra = COMBOS[request.param]
    directory = write_checkpoint(tmp_path_factory.mktemp(request.param), word, subword, extra)
    hf = transformers.AutoTokenizer.from_pretrained(str(directory))
    assert type(hf).__name__ == "BertJapaneseTokenizer"
    return BertTokenizer.from_pretrained(directory), hf, extra


def strip_accents(text):
    """transformers' BasicTokenizer accent stripping (do_lower_case with the "basic" words)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def check_offsets(text, ids, offsets, tokenizer, lower):
    """Every piece is (NFKC'd, maybe lower-cased) text of its span; spans in order, no whitespace inside."""
    assert len(ids) == len(offsets)
    previous = (0, 0)
    for index, (start, end) in zip(ids, offsets):
        assert 0 <= start < end <= len(text), (text, start, end)
        assert start >= previous[0] and end >= previous[1], (text, previous, (start, end))
        previous = (start, end)
        piece = tokenizer.convert_ids_to_tokens(index)
        source = text[start:end]
        if piece == "[UNK]":
            continue
        if piece == " ":  # Sudachi's whitespace words with character pieces
            assert source.isspace()
            continue
        assert not any(c.isspace() for c in source), (text, source)
        normal = unicodedata.normalize("NFKC", source)
        forms = (normal, normal.lower(), source, source.lower(), strip_accents(source.lower()))
        assert piece.removeprefix("##") in forms or (
            # an NFKC expansion ("㍻" -> "平成") gives several pieces for one character
            end - start == 1 and piece.removeprefix("##") in normal.lower()), (text, piece, source)


def test_ids_equal_transformers(pair):
    ours, hf, extra = pair
    expected = hf(TEXTS)["input_ids"]
    got = ours(TEXTS)["input_ids"]
    mismatches = [(t, hf.convert_ids_to_tokens(e), ours.convert_ids_to_tokens(g))
                  for t, e, g in zip(TEXTS, expected, got) if e != g]
    assert not mismatches, mismatches
    # the vocabulary is exercised: whole words, continuation pieces and [UNK] all occur
    flat = [i for row in got for i in row]
    tokens = set(ours.convert_ids_to_tokens(flat))
    assert ours.unk_token in tokens and len(tokens) > 10


def test_offsets_of_every_piece(pair):
    ours, hf, extra = pair
    lower = extra.get("do_lower_case", False)
    for text, (ids, offsets) in zip(TEXTS, ours.encode_batch_with_offsets(TEXTS)):
        assert ids == hf(text, add_special_tokens=False)["input_ids"]
        check_offsets(text, ids, offsets, ours, lower)


def test_pairs_and_special_tokens_equal_transformers(pair):
    ours, hf, _ = pair
    a, b = TEXTS[0], TEXTS[6]
    assert ours(a, b)["input_ids"] == hf(a, b)["input_ids"]
    assert ours(a, b)["token_type_ids"] == hf(a, b, return_token_type_ids=True)["token_type_ids"]
    assert ours.decode(ours.encode(a), skip_special_tokens=True).replace(" ", "") == \
        hf.decode(hf.encode(a), skip_special_tokens=True).replace(" ", "")


def test_pickle_copy_and_save_reload_in_transformers(pair, tmp_path):
    import copy

    ours, _, _ = pair
    expected = ours(TEXTS)["input_ids"]
    for clone in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
        assert type(clone) is BertJapaneseTokenizer and clone(TEXTS)["input_ids"] == expected
    ours.save_pretrained(tmp_path)
    assert not (tmp_path / "tokenizer.json").exists()
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "BertJapaneseTokenizer"
    assert config["word_tokenizer_type"] == ours.settings.word_tokenizer_type
    assert config["subword_tokenizer_type"] == ours.settings.subword_tokenizer_type
    reloaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(reloaded).__name__ == "BertJapaneseTokenizer"
    assert reloaded(TEXTS)["input_ids"] == expected
    assert BertTokenizer.from_pretrained(tmp_path)(TEXTS)["input_ids"] == expected


@pytest.mark.parametrize("split_mode", ["A", "B", "C"])
def test_alignment_to_spacy_ja_and_zh_tokens(tmp_path, split_mode):
    """Every spaCy token with a character the tokenizer keeps gets pieces (ja modes A/B/C, zh)."""
    import spacy

    directory = write_checkpoint(tmp_path, "mecab", "wordpiece", {})
    tokenizer = BertTokenizer.from_pretrained(directory)
    nlps = [spacy.blank("ja", config={"nlp": {"tokenizer": {"split_mode": split_mode}}}), spacy.blank("zh")]
    for nlp in nlps:
        for doc, (ids, offsets) in zip(nlp.pipe(TEXTS), tokenizer.encode_batch_with_offsets(TEXTS)):
            alignment = align_pieces_to_tokens(offsets, [(t.idx, t.idx + len(t)) for t in doc], len(ids))
            for token, n in zip(doc, alignment.lengths):
                assert n > 0 or token.is_space, (nlp.lang, doc.text, token.text)


# ---- coded errors ----------------------------------------------------------------------


@pytest.mark.parametrize("config, code", [
    ({"word_tokenizer_type": "jumanpp"}, "E832"),
    ({"word_tokenizer_type": "spacy"}, "E831"),
    ({"subword_tokenizer_type": "sentencepiece"}, "E831"),
    ({"do_subword_tokenize": False}, "E831"),
    ({"mecab_kwargs": {"mecab_dic": "jumandic"}}, "E831"),
    ({"mecab_kwargs": {"dictionary": "unidic_lite"}}, "E831"),
    ({"word_tokenizer_type": "sudachi", "sudachi_kwargs": {"sudachi_split_mode": "D"}}, "E831"),
    ({"word_tokenizer_type": "sudachi", "sudachi_kwargs": {"sudachi_projection": "reading"}}, "E831"),
    ({"tokenizer_class": "XLMRobertaTokenizer"}, "E830"),
    ({"tokenizer_class": "BertJapaneseTokenizerFast"}, "E830"),
])
def test_unsupported_settings_are_coded_errors(tmp_path, config, code):
    write_checkpoint(tmp_path, "mecab", "wordpiece", config)
    with raises_code(code):
        BertTokenizer.from_pretrained(tmp_path)


def test_missing_packages_and_dictionaries(tmp_path, monkeypatch):
    write_checkpoint(tmp_path / "unidic", "mecab", "wordpiece", {"mecab_kwargs": {"mecab_dic": "unidic"}})
    try:
        import unidic  # noqa: F401 (full UniDic: a separate download)
        code = "E834"
    except ImportError:
        code = "E833"
    with raises_code(code, match="unidic", exception=ImportError):
        BertTokenizer.from_pretrained(tmp_path / "unidic")
    write_checkpoint(tmp_path / "full", "sudachi", "wordpiece", {"sudachi_kwargs": {"sudachi_dict_type": "full"}})
    with raises_code("E836"):  # sudachidict_full is not installed
        BertTokenizer.from_pretrained(tmp_path / "full")
    write_checkpoint(tmp_path / "ok", "mecab", "wordpiece", {})
    monkeypatch.setitem(sys.modules, "fugashi", None)  # as if not installed
    with raises_code("E833", match=r"spacy-bert\[ja\]", exception=ImportError):
        BertTokenizer.from_pretrained(tmp_path / "ok")


def test_no_vocab_txt_and_foreign_tokenizer_json(tmp_path):
    write_checkpoint(tmp_path / "ja", "mecab", "wordpiece", {})
    (tmp_path / "ja" / "vocab.txt").unlink()
    with raises_code("E839", exception=FileNotFoundError):
        BertTokenizer.from_pretrained(tmp_path / "ja")
    bert = tmp_path / "bert"
    bert.mkdir()
    data = {"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(SPECIALS)}, "unk_token": "[UNK]",
                      "continuing_subword_prefix": "##"},
            "normalizer": {"type": "NFKC"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}
    (bert / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with raises_code("E838", match="NFKC"):
        BertTokenizer.from_pretrained(bert)
    data["normalizer"], data["pre_tokenizer"] = None, {"type": "Metaspace"}
    (bert / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with raises_code("E838", match="Metaspace"):
        BertTokenizer.from_pretrained(bert)
