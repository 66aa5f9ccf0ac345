"""`bert_fill_mask` as MLM (+NSP) pretraining: masking statistics, loss and gradients equal to
transformers, overfitting, scoring, `spacy train configs/pretrain.cfg` -> export -> `bert_ner`."""
import shutil
import warnings

import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import spacy_bert.pipeline  # noqa: F401  (registers the factories without reinstalling)
from spacy_bert.layers.stages.hooks import IGNORE_INDEX, MaskPieces
from spacy_bert.layers.heads.mlm_train import PairInputs, mlm_update, plan_mlm_inputs
from spacy_bert.pipeline.fill_mask import text_seed
from tests.error_codes import raises_code
from tests.tiny import TINY_BERT
from tests.pipeline.spacy_cli import REPO, run_spacy, train_briefly, wnut_slice

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TEXTS = [
    "The cat sat on the mat. It was a sunny day. The dog slept.",
    "Paris is the capital of France. Berlin is the capital of Germany.",
    "I like green tea. Coffee is fine too. Water is best.",
]


def hf_checkpoint(directory, minilm_dir, class_name: str):
    """A random transformers `class_name` (tiny config, no dropout) with the uncased tokenizer."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(**TINY_BERT, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = getattr(transformers, class_name)(config).eval()
    model.save_pretrained(directory)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir / name, directory / name)
    return model


def fill_mask_nlp(checkpoint, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_fill_mask", config={"checkpoint": str(checkpoint), **config})
    return nlp


def examples(nlp, texts):
    return [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]


# -- masking ------------------------------------------------------------------------------------
def test_masking_statistics_over_100000_pieces(tiny_bert_dir):
    nlp = fill_mask_nlp(tiny_bert_dir, window=64, stride=8)
    pipe = nlp.get_pipe("bert_fill_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe._ensure_loaded()
    tokenizer = pipe.tokenizer
    words = (TEXTS[0] + " " + TEXTS[1] + " " + TEXTS[2]).split()
    texts = [" ".join(words[i % 7 :] + words[: i % 7]) for i in range(2800)]
    hook = pipe._hook()
    assert isinstance(hook, MaskPieces)
    _, batches = plan_mlm_inputs(tokenizer, pipe.settings(), texts)
    originals = [b.input_ids.copy() for b in batches]
    rng = np.random.default_rng(0)
    content = chosen = masked = random = kept = specials_hit = 0
    for batch, original in zip(batches, originals):
        ids, labels = hook(batch.input_ids, batch.attention_mask, batch.special_mask, rng)
        is_chosen = labels != IGNORE_INDEX
        content += int((~batch.special_mask).sum())
        chosen += int(is_chosen.sum())
        specials_hit += int((is_chosen & batch.special_mask).sum()) + int((ids != original)[batch.special_mask].sum())
        masked += int((ids[is_chosen] == tokenizer.mask_token_id).sum())
        kept += int((ids[is_chosen] == original[is_chosen]).sum())
        random += int(((ids[is_chosen] != original[is_chosen]) & (ids[is_chosen] != tokenizer.mask_token_id)).sum())
        assert np.array_equal(labels[is_chosen], original[is_chosen])
    assert content >= 100_000
    assert specials_hit == 0
    assert abs(chosen / content - 0.15) <= 0.005
    assert abs(masked / chosen - 0.8) <= 0.01
    assert abs(random / chosen - 0.1) <= 0.01
    assert abs(kept / chosen - 0.1) <= 0.01


def test_masking_repeats_with_the_seed(tiny_bert_dir):
    def run():
        fix_random_seed(0)
        nlp = fill_mask_nlp(tiny_bert_dir, window=64, stride=8)
        egs = examples(nlp, TEXTS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nlp.initialize(lambda: egs)
            return [nlp.update(egs, sgd=Adam(1e-3))["bert_fill_mask"] for _ in range(3)]

    assert run() == run()


def test_text_seed_is_a_stable_checksum():
    assert text_seed("abc") == 891568578  # CRC-32, the same in every process (unlike hash())


# -- loss and gradients ----------------------------------------------------------------------------
class Recorder:
    """A MaskPieces that records the ids and labels it produced."""

    def __init__(self, hook):
        self.hook = hook
        self.seen = []

    def __call__(self, input_ids, attention_mask, special_mask, rng):
        ids, labels = self.hook(input_ids, attention_mask, special_mask, rng)
        self.seen.append((ids, labels, attention_mask))
        return ids, labels


def assert_grads_equal(ours, theirs):
    their_grads = {n: p.grad for n, p in theirs.named_parameters() if p.grad is not None}
    our_grads = {n: p.grad for n, p in ours.named_parameters() if p.grad is not None}
    assert set(our_grads) == set(their_grads)
    for name, grad in their_grads.items():
        torch.testing.assert_close(our_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_mlm_loss_and_gradients_equal_transformers(tmp_path, minilm_dir):
    hf = hf_checkpoint(tmp_path, minilm_dir, "BertForMaskedLM")
    nlp = fill_mask_nlp(tmp_path, window=64, stride=8, max_batch_items=100_000, mlm_probability=0.3)
    pipe = nlp.get_pipe("bert_fill_mask")
    pipe._ensure_loaded()
    recorder = Recorder(pipe._hook())
    loss, stats = mlm_update(pipe.shim, pipe.settings(), TEXTS * 3, recorder, np.random.default_rng(1))
    assert len(recorder.seen) == 1 and stats.n_masked > 5
    ids, labels, mask = (torch.from_numpy(a) for a in recorder.seen[0])
    out = hf(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    assert abs(loss - float(out.loss.detach())) <= 1e-5
    assert_grads_equal(pipe.shim.model, hf)


def test_mlm_nsp_loss_and_gradients_equal_transformers(tmp_path, minilm_dir, monkeypatch):
    from spacy_bert.layers.stages import run as run_stage

    # One padded batch in the pairs' order, so transformers sees the same single batch.
    monkeypatch.setattr(run_stage, "plan_batches", lambda lengths, budget: [np.arange(len(lengths))])
    hf = hf_checkpoint(tmp_path, minilm_dir, "BertForPreTraining")
    nlp = fill_mask_nlp(tmp_path, window=64, stride=8, max_batch_items=100_000, objective="mlm+nsp", mlm_probability=0.3)
    pipe = nlp.get_pipe("bert_fill_mask")
    pipe._ensure_loaded()
    pairs = pipe.nsp_pairs([nlp(t) for t in TEXTS * 4], np.random.default_rng(3))
    assert set(pairs.labels.tolist()) == {0, 1}
    recorder = Recorder(pipe._hook())
    loss, _ = mlm_update(pipe.shim, pipe.settings(), [], recorder, np.random.default_rng(1), pairs)
    assert len(recorder.seen) == 1
    ids, labels, mask = (torch.from_numpy(a) for a in recorder.seen[0])
    token_types = torch.zeros_like(ids)
    for i, (a, b) in enumerate(zip(pairs.a_ids, pairs.b_ids)):
        token_types[i, len(a) + 2 : len(a) + len(b) + 3] = 1
    out = hf(input_ids=ids, attention_mask=mask, token_type_ids=token_types, labels=labels, next_sentence_label=torch.from_numpy(pairs.labels))
    out.loss.backward()
    assert abs(loss - float(out.loss.detach())) <= 1e-5
    assert_grads_equal(pipe.shim.model, hf)


def test_nsp_pairs_follow_the_bert_recipe(tiny_bert_dir):
    nlp = fill_mask_nlp(tiny_bert_dir, window=24, stride=4, objective="mlm+nsp")
    pipe = nlp.get_pipe("bert_fill_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe._ensure_loaded()
    docs = [nlp.make_doc(t) for t in TEXTS * 40]
    pairs = pipe.nsp_pairs(docs, np.random.default_rng(0))
    assert len(pairs.labels) == len(docs)
    assert abs(pairs.labels.mean() - 0.5) < 0.1  # half continuations, half random
    assert all(len(a) + len(b) + 3 <= 24 and len(a) and len(b) for a, b in zip(pairs.a_ids, pairs.b_ids))


# -- training end to end -----------------------------------------------------------------------
@pytest.mark.slow
def test_overfitting_IO(tmp_path, tiny_bert_dir):
    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, checkpoint)
    fix_random_seed(0)
    nlp = fill_mask_nlp(checkpoint, window=64, stride=8, mlm_probability=0.3, top_k=3)
    texts = ["red apples grow on trees .", "blue whales swim through oceans .", "tall giraffes eat green leaves ."]
    egs = examples(nlp, texts)
    with pytest.warns(UserWarning, match="W630"):
        nlp.initialize(lambda: egs)
    optimizer = Adam(0.005)
    for _ in range(500):
        nlp.update(egs, sgd=optimizer)
    queries = ["red apples grow on [MASK] .", "blue whales swim through [MASK] .", "tall giraffes eat green [MASK] ."]
    expected = ["trees", "oceans", "leaves"]
    docs = list(nlp.pipe(queries))
    assert [d._.fill_mask[0]["predictions"][0]["token_str"] for d in docs] == expected
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(checkpoint)
    loaded = spacy.load(tmp_path / "pipeline")
    assert [d._.fill_mask for d in loaded.pipe(queries)] == [d._.fill_mask for d in docs]
    scores = loaded.evaluate(egs)
    again = loaded.evaluate(egs)
    keys = ("mlm_acc", "mlm_loss", "mlm_ppl", "nsp_acc")
    assert {k: scores[k] for k in keys} == {k: again[k] for k in keys}  # deterministic masking
    assert 0.0 <= scores["mlm_acc"] <= 1.0 and scores["mlm_ppl"] > 1.0


@pytest.mark.slow
@pytest.mark.parametrize("objective,hf_class", [("mlm", "BertForMaskedLM"), ("mlm+nsp", "BertForPreTraining")])
def test_spacy_train_pretrain_export_then_ner(tmp_path, data_dir, tiny_bert_dir, objective, hf_class):
    import transformers

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = (data_dir / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()
    (corpus / "train.txt").write_text("\n".join(lines[:40]), encoding="utf-8")
    (corpus / "dev.txt").write_text("\n".join(lines[100:120]), encoding="utf-8")
    code = tmp_path / "code.py"  # the factory without reinstalling the package's entry points
    code.write_text("import spacy_bert.pipeline\n")
    run_spacy(
        "train", str(REPO / "configs" / "pretrain.cfg"), "--code", str(code),
        "--output", str(tmp_path / "pretrain"),
        "--paths.train", str(corpus / "train.txt"), "--paths.dev", str(corpus / "dev.txt"),
        "--paths.checkpoint", str(tiny_bert_dir),
        "--components.bert_fill_mask.objective", objective,
        "--components.bert_fill_mask.window", "64", "--components.bert_fill_mask.stride", "8",
        "--training.max_steps", "4", "--training.eval_frequency", "2", "--gpu-id", "-1",
    )
    from spacy_bert.pipeline.export import export_component

    export = tmp_path / "export"
    export_component(spacy.load(tmp_path / "pretrain" / "model-last"), "bert_fill_mask", export)
    model, info = getattr(transformers, hf_class).from_pretrained(export, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    train, dev = wnut_slice(tmp_path)
    best = train_briefly("ner.cfg", train, dev, export, tmp_path / "ner")
    assert spacy.load(best).pipe_names == ["bert_ner"]


# -- bad inputs ---------------------------------------------------------------------------------------
def test_empty_corpus_is_a_coded_error(tiny_bert_dir):
    nlp = fill_mask_nlp(tiny_bert_dir)
    with raises_code("E633"):
        nlp.initialize(lambda: examples(nlp, ["", "   "]))


def test_one_sentence_corpus_with_nsp_is_a_coded_error(tiny_bert_dir):
    nlp = fill_mask_nlp(tiny_bert_dir, objective="mlm+nsp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with raises_code("E634"):
            nlp.initialize(lambda: examples(nlp, ["Only one sentence here."]))


@pytest.mark.slow
def test_a_million_character_line_trains_in_windows(tiny_bert_dir):
    # 1 % masking: the cost is the (masked pieces x 30,522) projection, not the windows
    nlp = fill_mask_nlp(tiny_bert_dir, window=64, stride=8, max_batch_items=8192, mlm_probability=0.01)
    line = ("lobsters live in the sea and walk on the floor " * 21_000)[:1_000_000]
    egs = examples(nlp, [line])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: egs)
        losses = nlp.update(egs, sgd=Adam(1e-4))
    assert np.isfinite(losses["bert_fill_mask"]) and losses["bert_fill_mask"] > 0


def test_whole_word_masking_by_spacy_tokens(tiny_bert_dir):
    nlp = fill_mask_nlp(tiny_bert_dir, window=64, stride=8, whole_word=True)
    pipe = nlp.get_pipe("bert_fill_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe._ensure_loaded()
    tokenizer = pipe.tokenizer
    # words of several pieces (giraffes -> gi ##raf ##fe ##s), so whole-word masking shows
    docs = [nlp.make_doc("Tall giraffes and unbelievably huge hippopotamuses wander. " * (i % 5 + 1)) for i in range(1000)]
    hook = pipe._hook()
    _, batches = plan_mlm_inputs(tokenizer, pipe.settings(), [d.text for d in docs], None, pipe._word_starts(docs))
    rng = np.random.default_rng(0)
    words = chosen_words = 0
    kinds = {"mask": 0, "random": 0, "kept": 0}
    for batch in batches:
        original = batch.input_ids.copy()
        ids, labels = hook(batch.input_ids, batch.attention_mask, batch.special_mask, rng, batch.word_ids)
        assert not (labels != IGNORE_INDEX)[batch.special_mask].any()
        for word in np.unique(batch.word_ids[batch.word_ids >= 0]):
            at = batch.word_ids == word
            scored = labels[at] != IGNORE_INDEX
            assert scored.all() or not scored.any()  # a word is scored whole or not at all
            words += 1
            if scored.all():
                chosen_words += 1
                if (ids[at] == tokenizer.mask_token_id).all():
                    kinds["mask"] += 1
                elif (ids[at] == original[at]).all():
                    kinds["kept"] += 1
                else:
                    kinds["random"] += 1
    assert words > 20_000
    assert abs(chosen_words / words - 0.15) <= 0.01
    assert abs(kinds["mask"] / chosen_words - 0.8) <= 0.02
    assert abs(kinds["random"] / chosen_words - 0.1) <= 0.02


def test_whole_word_training_runs(tiny_bert_dir):
    fix_random_seed(0)
    nlp = fill_mask_nlp(tiny_bert_dir, window=64, stride=8, whole_word=True)
    egs = examples(nlp, TEXTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.initialize(lambda: egs)
        losses = nlp.update(egs, sgd=Adam(1e-3))
        scores = nlp.evaluate(egs)
    assert np.isfinite(losses["bert_fill_mask"]) and scores["mlm_acc"] is not None
