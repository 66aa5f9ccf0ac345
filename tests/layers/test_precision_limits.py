"""Issue 22, item 3 (int8): small models quantize instead of failing with a wrong cause.

- A model with fewer positions than int8's built-in calibration texts (max_position_embeddings
  8 or 16; the texts need 28) raised E005, which blames the user's input. Calibration now runs
  in windows that fit, [CLS] and [SEP] in each (W751 says so); every calibration piece is in
  exactly one window.
- A model whose Linears have no more input channels than the 16 outlier channels int8 keeps in
  fp32 (hidden_size 4 or 8) failed in `topk` ("selected index k out of range"). Those Linears
  stay fp32 `nn.Linear`s (W750 names them); wider ones in the same model still run int8.

Expected outputs are the fp32 model's (the same weights, `precision="float32"`).
"""
import dataclasses
import warnings

import pytest
import spacy
import torch
from torch import nn

import spacy_bert.layers.precision.policy as P
import spacy_bert.pipeline  # noqa: F401  (registers the factories)
from spacy_bert import BertConfig, BertForMaskedLM, BertModel, BertTokenizer
from spacy_bert.layers.precision.policy import DEFAULT_INT8, LINEAR_KINDS, Int8Linear, fit_positions, prediction_model

#: 16 fp32 outlier channels on every Linear kind (DEFAULT_INT8 keeps none on the attention output)
EVERY_KIND = dataclasses.replace(DEFAULT_INT8, outlier_kinds=LINEAR_KINDS)

SENTENCES = ["Berlin was founded around 1237 by merchants.", "A cat sat on the mat."]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return BertTokenizer.from_pretrained(minilm_dir)


def tiny(cls=BertModel, positions=64, hidden=32, intermediate=64):
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2 if hidden % 2 == 0 and hidden > 4 else 1,
        intermediate_size=intermediate, max_position_embeddings=positions,
    )
    return cls(config).eval()


def hidden_states(model, tokenizer, limit):
    """Last hidden states of SENTENCES (cut to `limit` positions) and the mask of real pieces."""
    enc = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"][:, :limit], enc["attention_mask"][:, :limit]
    with torch.inference_mode():
        bert = model if isinstance(model, BertModel) else model.bert
        return bert(input_ids=ids, attention_mask=mask).last_hidden_state, mask.bool()


def assert_close_to_fp32(model, derived, tokenizer, limit, min_cosine=0.999):
    fp32, mask = hidden_states(model, tokenizer, limit)
    int8, _ = hidden_states(derived, tokenizer, limit)
    cosine = torch.nn.functional.cosine_similarity(fp32, int8, dim=-1)[mask]
    assert cosine.min().item() >= min_cosine


def linear_types(model):
    bert = model if isinstance(model, BertModel) else model.bert
    return {path: type(m) for path, m in bert.encoder.named_modules() if isinstance(m, (nn.Linear, Int8Linear))}


# -- calibration windows ----------------------------------------------------------------------
@pytest.mark.parametrize("limit", [3, 8, 16])
def test_calibration_windows_fit_and_keep_every_piece(tokenizer, limit):
    batch = P.calibration_batch(tokenizer)
    assert batch["input_ids"].shape[1] > limit  # the built-in texts are longer than the model
    with pytest.warns(UserWarning, match=rf"W751.*max_position_embeddings={limit}\b"):
        fitted = fit_positions(batch, limit, specials=True)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    bodies, expected = [], []
    for row, keep in zip(batch["input_ids"].tolist(), batch["attention_mask"].bool().tolist()):
        real = [p for p, k in zip(row, keep) if k]
        expected.extend(real[1:-1])
    for row, keep in zip(fitted["input_ids"].tolist(), fitted["attention_mask"].bool().tolist()):
        real = [p for p, k in zip(row, keep) if k]
        assert 3 <= len(real) <= limit and real[0] == cls and real[-1] == sep
        bodies.extend(real[1:-1])
    assert bodies == expected  # every piece once, in order
    assert fitted["input_ids"].shape[1] <= limit


def test_calibration_without_a_tokenizer_fits_too():
    batch = P.calibration_batch(None, 30522)
    with pytest.warns(UserWarning, match="W751"):
        fitted = fit_positions(batch, 8, specials=False)
    assert fitted["input_ids"].shape[1] == 8
    assert fitted["input_ids"][fitted["attention_mask"].bool()].tolist() == batch["input_ids"].flatten().tolist()


def test_calibration_that_fits_is_unchanged(tokenizer):
    batch = P.calibration_batch(tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_positions(batch, 64, specials=True) is batch


@pytest.mark.parametrize("positions", [8, 16])
@pytest.mark.parametrize("with_tokenizer", [True, False], ids=["tokenizer", "random-ids"])
def test_int8_on_a_model_with_few_positions(tokenizer, positions, with_tokenizer):
    """The issue's case: E005 ("The input has 28 positions") before; now int8 runs."""
    model = tiny(positions=positions)
    with pytest.warns(UserWarning, match="W751"):
        derived = prediction_model(model, "int8", tokenizer=tokenizer if with_tokenizer else None, name="bert")
    assert all(t is Int8Linear for t in linear_types(derived).values())
    assert_close_to_fp32(model, derived, tokenizer, positions)


# -- narrow Linears ------------------------------------------------------------------------------
def test_int8_with_hidden_size_4_keeps_every_linear_fp32(tokenizer):
    model = tiny(hidden=4, intermediate=8)
    with pytest.warns(UserWarning, match=r"W750.*keeps 12 Linear.*4/8 input channel.*runs float32 throughout"):
        derived = prediction_model(model, "int8", EVERY_KIND, tokenizer=tokenizer)
    assert set(linear_types(derived).values()) == {nn.Linear}
    fp32, mask = hidden_states(model, tokenizer, 64)
    same, _ = hidden_states(derived, tokenizer, 64)
    assert torch.equal(fp32, same)  # nothing was quantized: the fp32 arithmetic, exactly


def test_int8_with_hidden_size_8_quantizes_the_wide_ones(tokenizer):
    """hidden 8: query/key/value, attention output and intermediate read 8 channels (fp32);
    output.dense reads the 32 intermediate channels and still runs int8."""
    model = tiny(hidden=8, intermediate=32)
    with pytest.warns(UserWarning, match=r"W750.*keeps 10 Linear.*The other Linears run int8"):
        derived = prediction_model(model, "int8", EVERY_KIND, tokenizer=tokenizer)
    types = linear_types(derived)
    assert {p for p, t in types.items() if t is Int8Linear} == {"layer.0.output.dense", "layer.1.output.dense"}
    assert all(t is nn.Linear for p, t in types.items() if not p.endswith("output.dense") or "attention" in p)
    assert_close_to_fp32(model, derived, tokenizer, 64)


# -- through a component ------------------------------------------------------------------------
@pytest.mark.parametrize("positions,hidden", [(16, 32), (8, 32), (64, 8)])
def test_fill_mask_int8_on_small_models(tmp_path, tokenizer, positions, hidden):
    """bert_fill_mask in int8 on the issue's small models: the same masks filled as in fp32,
    the top prediction's score within 1e-3 (every Linear that is int8 is close to fp32 here)."""
    directory = tmp_path / "mlm"
    tiny(BertForMaskedLM, positions=positions, hidden=hidden, intermediate=4 * hidden).save_pretrained(directory, tokenizer=tokenizer)
    text = "Berlin was founded around [MASK] by merchants who traded salt and amber along the [MASK] Spree."
    docs = {}
    for precision in ("float32", "int8"):
        nlp = spacy.blank("en")
        nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(directory), "precision": precision, "window": positions, "stride": 2})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\[W75[01]\]")
            docs[precision] = nlp(text)
    fp32, int8 = docs["float32"]._.fill_mask, docs["int8"]._.fill_mask
    assert [(e["start"], e["end"]) for e in int8] == [(e["start"], e["end"]) for e in fp32] and len(int8) == 2
    for a, b in zip(fp32, int8):
        by_token = {p["token"]: p["score"] for p in b["predictions"]}
        best = a["predictions"][0]
        assert best["token"] in by_token and abs(by_token[best["token"]] - best["score"]) <= 1e-3


def test_bert_int8_on_a_model_with_few_positions(tmp_path, tokenizer):
    """The shared `bert` encoder in int8 on a 16-position model: token vectors of a text of
    several windows stay close to fp32's, and the warning names the component."""
    directory = tmp_path / "enc"
    tiny(positions=16).save_pretrained(directory, tokenizer=tokenizer)
    text = "Berlin was founded around 1237 by merchants who traded salt and amber along the river Spree."
    tensors = {}
    for precision in ("float32", "int8"):
        nlp = spacy.blank("en")
        nlp.add_pipe("bert", config={"checkpoint": str(directory), "precision": precision, "window": 16, "stride": 4})
        if precision == "int8":
            with pytest.warns(UserWarning, match=r"W751\] bert: .*max_position_embeddings=16"):
                tensors[precision] = nlp(text).tensor
        else:
            tensors[precision] = nlp(text).tensor
    a, b = torch.from_numpy(tensors["float32"]), torch.from_numpy(tensors["int8"])
    assert a.shape == b.shape
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min().item() >= 0.999
