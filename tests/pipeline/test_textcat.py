"""`bert_textcat`: overfitting and round trips, parity with `transformers`' fine-tuned
`BertForSequenceClassification` (also over several windows), bad input, export, `spacy train`.

Every expected value comes from `transformers` (or numpy/torch maths) in the same process,
never from the component itself.
"""
import json
import math
import shutil
from itertools import islice

import numpy as np
import pytest
import spacy

from tests.pipeline.spacy_cli import run_spacy, train_briefly
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_bert.corpora import read_goemotions, read_sst2, write_textcat_docbin
from spacy_bert.layers.stages.windows import plan_windows
from spacy_bert.pipeline.export import export_component


SINGLE_DATA = [
    ("I loved this movie, it was great", {"POS": 1.0, "NEG": 0.0}),
    ("I hated this movie, it was awful", {"POS": 0.0, "NEG": 1.0}),
    ("What a wonderful day", {"POS": 1.0, "NEG": 0.0}),
    ("What a terrible day", {"POS": 0.0, "NEG": 1.0}),
]
# Several labels per text, independent (their scores do not sum to 1). A random tiny BERT
# learns one contrast between the texts in ~30 updates; label patterns that need several
# independent contrasts take 100+ updates, so the patterns here share one contrast.
MULTI_DATA = [
    ("I loved this movie, it was great", {"POS": 1.0, "FUN": 1.0, "NEG": 0.0}),
    ("I hated this movie, it was awful", {"POS": 0.0, "FUN": 0.0, "NEG": 1.0}),
    ("What a wonderful day", {"POS": 1.0, "FUN": 1.0, "NEG": 0.0}),
    ("What a terrible day", {"POS": 0.0, "FUN": 0.0, "NEG": 1.0}),
]
LISTENER_MODEL = {
    "@architectures": "spacy-bert.BertSequenceClassifier.v1",
    "nO": None,
    "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"},
}
SETUPS = ["own-single", "own-multi", "listener-single", "listener-multi"]
ID2LABEL = {0: "neg", 1: "neu", 2: "pos"}
PARITY_TEXTS = [
    "I really enjoyed this film!",
    "",
    "   \n\t ",
    "Terrible. Just terrible, the worst caf\xe9 in town.",
    "OK",
]


# -- helpers ---------------------------------------------------------------------------
def textcat_pipeline(checkpoint, multi_label, listener, **cfg):
    nlp = spacy.blank("en")
    config = {"multi_label": multi_label, **cfg}
    if listener:
        nlp.add_pipe("bert", config={"checkpoint": str(checkpoint)})
        config["model"] = LISTENER_MODEL
    else:
        config["checkpoint"] = str(checkpoint)
    nlp.add_pipe("bert_textcat", config=config)
    return nlp


def make_examples(nlp, data):
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in data]


def parse_setup(setup):
    owner, kind = setup.split("-")
    return owner == "listener", kind == "multi"


def cats_array(doc, labels):
    return np.array([doc.cats[label] for label in labels], dtype=np.float64)


def softmax(x):
    return torch.softmax(torch.as_tensor(x, dtype=torch.float64), dim=-1).numpy()


def sigmoid(x):
    return torch.sigmoid(torch.as_tensor(x, dtype=torch.float64)).numpy()


def hf_classifier(multi_label, **overrides):
    """A random transformers BertForSequenceClassification with the uncased vocabulary. Its
    weights are larger than BERT's default init (initializer_range 0.1, classifier std 1), so
    the probabilities differ clearly between texts and between windows of one text."""
    from tests.modeling.helpers import hf_model

    config = dict(
        vocab_size=30522,
        initializer_range=0.1,
        id2label=dict(ID2LABEL),
        label2id={v: k for k, v in ID2LABEL.items()},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    model = hf_model("BertForSequenceClassification", **{**config, **overrides})
    with torch.no_grad():
        torch.manual_seed(1)
        model.classifier.weight.normal_(0.0, 1.0)
    return model.eval()


def save_hf(model, directory, minilm_dir):
    import transformers

    model.save_pretrained(directory)
    transformers.BertTokenizerFast.from_pretrained(minilm_dir).save_pretrained(directory)
    return directory


def hf_logits(model, tokenizer, text):
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits[0].double().numpy()


# -- fixtures --------------------------------------------------------------------------
# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hf_checkpoints(tmp_path_factory, minilm_dir):
    """{multi_label: (transformers model, directory)} fine-tuned-looking checkpoints."""
    result = {}
    for multi in (False, True):
        model = hf_classifier(multi)
        directory = tmp_path_factory.mktemp("hf-multi" if multi else "hf-single")
        result[multi] = (model, save_hf(model, directory, minilm_dir))
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert_dir):
    """setup -> (nlp, examples, checkpoint copy), trained once per module (50 updates)."""
    cache = {}

    def get(setup):
        if setup not in cache:
            listener, multi = parse_setup(setup)
            checkpoint = tmp_path_factory.mktemp(f"ckpt-{setup}") / "checkpoint"
            shutil.copytree(tiny_bert_dir, checkpoint)
            fix_random_seed(0)
            nlp = textcat_pipeline(checkpoint, multi, listener)
            examples = make_examples(nlp, MULTI_DATA if multi else SINGLE_DATA)
            optimizer = nlp.initialize(get_examples=lambda: examples)
            for _ in range(50):
                nlp.update(examples, sgd=optimizer, losses={})
            cache[setup] = (nlp, examples, checkpoint)
        return cache[setup]

    return get


# -- 1. overfitting and round trips ----------------------------------------------------
@pytest.mark.parametrize("setup", SETUPS)
def test_overfitting_IO(setup, trained, tmp_path):
    listener, multi = parse_setup(setup)
    nlp, examples, checkpoint = trained(setup)
    data = MULTI_DATA if multi else SINGLE_DATA
    tc = nlp.get_pipe("bert_textcat")
    assert tc.owns_encoder is not listener
    assert set(tc.labels) == set(data[0][1])
    if listener:
        assert nlp.get_pipe("bert").listening_components == ["bert_textcat"]
    texts = [text for text, _ in data]
    docs = list(nlp.pipe(texts))
    for doc, (text, gold) in zip(docs, data):
        assert list(doc.cats) == list(tc.labels)
        scores = cats_array(doc, tc.labels)
        assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
        if multi:
            assert {label for label, s in doc.cats.items() if s > 0.5} == {l for l, v in gold.items() if v == 1.0}, (text, doc.cats)
            if sum(gold.values()) == 2:
                assert sum(doc.cats.values()) > 1.0  # independent sigmoids, not a softmax
        else:
            assert max(doc.cats, key=doc.cats.get) == max(gold, key=gold.get), (text, doc.cats)
            assert math.isclose(sum(doc.cats.values()), 1.0, abs_tol=1e-5)
        # nlp(text) and nlp.pipe agree (up to the padding of the batch)
        np.testing.assert_allclose(cats_array(nlp(text), tc.labels), scores, atol=1e-5)
    docs = [nlp(text) for text in texts]  # the references of the round trips: one text at a time

    scores = nlp.evaluate(examples)
    assert "cats_score" in scores and "cats_macro_f" in scores
    assert scores["cats_macro_f"] == pytest.approx(1.0)

    # to_disk / spacy.load, without the original checkpoint
    shutil.rmtree(checkpoint, ignore_errors=True)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for text, doc in zip(texts, docs):
        assert loaded(text).cats == doc.cats
    if not listener:
        # the saved model/ folder is a checkpoint transformers loads
        config = json.loads((tmp_path / "pipeline" / "bert_textcat" / "model" / "config.json").read_text())
        assert config["architectures"] == ["BertForSequenceClassification"]

    # to_bytes / from_bytes into a pipeline built from the same config
    fresh = spacy.util.load_model_from_config(nlp.config, auto_fill=True, validate=True)
    fresh.from_bytes(nlp.to_bytes())
    assert fresh.get_pipe("bert_textcat").labels == tc.labels
    for text, doc in zip(texts, docs):
        assert fresh(text).cats == doc.cats


@pytest.fixture(scope="module")
def no_dropout_dir(tmp_path_factory, tiny_bert_dir):
    """The tiny checkpoint without dropout, so a training step is deterministic."""
    directory = tmp_path_factory.mktemp("tiny-no-dropout") / "checkpoint"
    shutil.copytree(tiny_bert_dir, directory)
    config = json.loads((directory / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_update_gradients_match_transformers(multi, no_dropout_dir):
    """One training step computes transformers' loss (cross-entropy / BCE with logits, batch
    mean) and its gradients for every encoder and classifier parameter."""
    import transformers

    from spacy_bert.layers.encoder import get_shim

    data = MULTI_DATA if multi else SINGLE_DATA
    fix_random_seed(0)
    nlp = textcat_pipeline(no_dropout_dir, multi, listener=False)
    tc = nlp.get_pipe("bert_textcat")
    examples = make_examples(nlp, data)
    nlp.initialize(get_examples=lambda: examples)
    labels = list(tc.labels)

    # transformers: the same checkpoint, our freshly initialised classifier
    hf = transformers.BertForSequenceClassification.from_pretrained(
        no_dropout_dir,
        num_labels=len(labels),
        problem_type="multi_label_classification" if multi else "single_label_classification",
    )
    with torch.no_grad():
        hf.classifier.weight.copy_(torch.from_numpy(np.asarray(tc.classifier.get_param("W"))))
        hf.classifier.bias.copy_(torch.from_numpy(np.asarray(tc.classifier.get_param("b"))))
    hf.train()
    tokenizer = transformers.BertTokenizerFast.from_pretrained(no_dropout_dir)
    total = 0.0
    for text, cats in data:  # one text at a time: no padding; the batch mean by hand
        if multi:
            target = torch.tensor([[cats[label] for label in labels]])
        else:
            target = torch.tensor([labels.index(max(cats, key=cats.get))])
        total = total + hf(**tokenizer(text, return_tensors="pt"), labels=target).loss / len(data)
    total.backward()

    shim = get_shim(tc.encoder)
    for param in shim.bert.parameters():
        param.grad = None
    logits, backprop = tc.model.begin_update([eg.predicted for eg in examples])
    loss, d_logits = tc.get_loss(examples, logits)
    backprop(d_logits)
    assert loss == pytest.approx(total.item(), abs=1e-6)
    ours = dict(shim.bert.named_parameters())
    theirs = dict(hf.bert.named_parameters())
    assert set(ours) == set(theirs)
    for name, param in theirs.items():
        g_ours, g_theirs = ours[name].grad, param.grad
        assert g_ours is not None, name
        scale = g_theirs.abs().max().item()
        assert (g_ours - g_theirs).abs().max().item() <= 1e-9 + 1e-3 * scale, name
    np.testing.assert_allclose(np.asarray(tc.classifier.get_grad("W")), hf.classifier.weight.grad.numpy(), atol=1e-7, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(tc.classifier.get_grad("b")), hf.classifier.bias.grad.numpy(), atol=1e-7, rtol=1e-4)


# -- 2. parity with a fine-tuned transformers head ---------------------------------------
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_finetuned_checkpoint_parity(multi, hf_checkpoints, hf_uncased_tokenizer):
    model, directory = hf_checkpoints[multi]
    nlp = spacy.blank("en")
    tc = nlp.add_pipe("bert_textcat", config={"checkpoint": str(directory), "multi_label": multi})
    # no nlp.initialize(): the head and labels come from the checkpoint
    docs = list(nlp.pipe(PARITY_TEXTS))
    assert tc.labels == ("neg", "neu", "pos")
    for text, doc in zip(PARITY_TEXTS, docs):
        logits = hf_logits(model, hf_uncased_tokenizer, text)
        expected = sigmoid(logits) if multi else softmax(logits)
        np.testing.assert_allclose(cats_array(doc, tc.labels), expected, atol=1e-5, rtol=0, err_msg=repr(text))
        assert list(doc.cats) == ["neg", "neu", "pos"]
    # the classifier is not trivially uniform: the texts get different predictions
    assert np.ptp(np.stack([cats_array(d, tc.labels) for d in docs]), axis=0).max() > 0.01


def test_problem_type_mismatch(hf_checkpoints):
    for multi in (False, True):
        _, directory = hf_checkpoints[multi]
        nlp = spacy.blank("en")
        nlp.add_pipe("bert_textcat", config={"checkpoint": str(directory), "multi_label": not multi})
        with pytest.raises(ValueError, match="problem_type") as excinfo:
            nlp("some text")
        assert "multi_label = " in str(excinfo.value)


# -- 3. long texts: the mean of the windows' logits ----------------------------------------
def documented_windows(n, window, stride):
    """The placement documented in spacy_bert/layers/stages/windows.py, written out independently."""
    content = window - 2
    if n <= content:
        return [(0, n)]
    step = content - stride
    starts = []
    start = 0
    while start + content < n:
        starts.append(start)
        start += step
    starts.append(n - content)
    return [(s, content) for s in starts]


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_long_text_mean_of_window_logits(multi, hf_checkpoints, hf_uncased_tokenizer):
    model, directory = hf_checkpoints[multi]
    assert model.config.max_position_embeddings == 64
    text = " ".join(
        f"Sentence {i} says the film was {'great' if i % 3 else 'dreadful'}, unbelievably so." for i in range(30)
    )
    ids = hf_uncased_tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = documented_windows(len(ids), 64, 16)
    assert len(windows) >= 4
    # the documented placement is what the package plans
    plan = plan_windows([len(ids)], 64, 16)
    assert [(int(s), int(l)) for s, l in zip(plan.start, plan.length)] == windows
    with torch.no_grad():
        window_logits = [
            model(input_ids=torch.tensor([[hf_uncased_tokenizer.cls_token_id, *ids[s : s + l], hf_uncased_tokenizer.sep_token_id]])).logits[0]
            .double()
            .numpy()
            for s, l in windows
        ]
    mean = np.mean(window_logits, axis=0)
    expected = sigmoid(mean) if multi else softmax(mean)

    nlp = spacy.blank("en")
    tc = nlp.add_pipe("bert_textcat", config={"checkpoint": str(directory), "multi_label": multi, "window": 64, "stride": 16})
    doc = nlp(text)
    np.testing.assert_allclose(cats_array(doc, tc.labels), expected, atol=1e-5, rtol=0)
    # and it differs from classifying only the first window (truncation)
    first = sigmoid(window_logits[0]) if multi else softmax(window_logits[0])
    assert np.abs(first - expected).max() > 1e-3
    # in a batch with short texts, and with one window per forward pass, nothing changes
    texts = ["short", text, "", text[: len(text) // 2]]
    batched = [cats_array(d, tc.labels) for d in nlp.pipe(texts, batch_size=4)]
    np.testing.assert_allclose(batched[1], expected, atol=1e-5, rtol=0)
    small = spacy.blank("en")
    small.add_pipe(
        "bert_textcat",
        config={"checkpoint": str(directory), "multi_label": multi, "window": 64, "stride": 16, "max_batch_items": 64},
    )
    for text_, scores in zip(texts, batched):
        np.testing.assert_allclose(cats_array(small(text_), tc.labels), scores, atol=1e-5, rtol=0)


# -- 4. bad input ------------------------------------------------------------------------
def test_empty_whitespace_and_huge_docs(hf_checkpoints):
    _, directory = hf_checkpoints[False]
    nlp = spacy.blank("en")
    nlp.max_length = 200_000
    tc = nlp.add_pipe("bert_textcat", config={"checkpoint": str(directory)})
    huge = ("lorem ipsum dolor, sit amet! " * 4000)[:100_000]
    assert len(huge) == 100_000
    texts = ["", "   ", " \n\n\t  ", huge, "short"]
    docs = list(nlp.pipe(texts, batch_size=2))
    for text, doc in zip(texts, docs):
        scores = cats_array(doc, tc.labels)
        assert scores.shape == (3,)
        assert np.all(np.isfinite(scores))
        assert math.isclose(scores.sum(), 1.0, abs_tol=1e-5)
    # the same text alone or in a batch gives the same scores
    np.testing.assert_allclose(cats_array(nlp(""), tc.labels), cats_array(docs[0], tc.labels), atol=1e-6)
    # an empty batch is fine
    assert tc.predict([]).shape == (0, 3)


def test_initialize_one_label(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir)})
    examples = [Example.from_dict(nlp.make_doc("only one label"), {"cats": {"ONLY": 1.0}})]
    with pytest.raises(ValueError, match="at least two labels"):
        nlp.initialize(get_examples=lambda: examples)

    nlp = spacy.blank("en")
    tc = nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir), "multi_label": True})
    optimizer = nlp.initialize(get_examples=lambda: examples)
    nlp.update(examples, sgd=optimizer)
    assert tc.labels == ("ONLY",)
    cats = nlp("only one label").cats
    assert list(cats) == ["ONLY"] and 0.0 < cats["ONLY"] < 1.0


def test_encoder_only_checkpoint_needs_initialize(tiny_bert_dir):
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir)})
    with pytest.raises(ValueError, match="has no labels yet"):
        nlp("no labels")


def test_head_size_disagrees_with_labels(tmp_path, minilm_dir):
    model = hf_classifier(False, num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    directory = save_hf(model, tmp_path / "hf", minilm_dir)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["id2label"] = {"0": "neg", "1": "neu", "2": "pos"}
    config["label2id"] = {"neg": 0, "neu": 1, "pos": 2}
    config_path.write_text(json.dumps(config))
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(directory)})
    with pytest.raises(ValueError, match="classifier.weight"):
        nlp("mismatched head")


@pytest.mark.parametrize("threshold", [1.5, -0.1])
def test_bad_threshold(threshold, tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="threshold"):
        nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir), "multi_label": True, "threshold": threshold})


def test_missing_cats_are_masked(tiny_bert_dir):
    nlp = spacy.blank("en")
    tc = nlp.add_pipe("bert_textcat", config={"checkpoint": str(tiny_bert_dir), "multi_label": True})
    data = [
        ("the food was good", {"FOOD": 1.0, "SERVICE": 0.0, "PRICE": 0.0}),
        ("the waiter was slow", {"SERVICE": 1.0}),  # FOOD and PRICE unknown
        ("expensive", {"PRICE": 1.0, "FOOD": 0.0}),  # SERVICE unknown
    ]
    examples = make_examples(nlp, data)
    fix_random_seed(0)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    labels = list(tc.labels)
    assert labels == ["FOOD", "SERVICE", "PRICE"]

    # the loss and gradient only count the given cats (binary cross-entropy with logits, mean)
    logits = np.array([[0.3, -1.2, 2.0], [1.5, 0.7, -0.4], [-2.0, 0.1, 0.9]], dtype="float32")
    loss, d_logits = tc.get_loss(examples, tc.model.ops.asarray2f(logits))
    known = np.array([[label in cats for label in labels] for _, cats in data])
    truths = np.array([[cats.get(label, 0.0) for label in labels] for _, cats in data])
    x = torch.tensor(logits[known], dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.tensor(truths[known]))
    expected.backward()
    assert loss == pytest.approx(expected.item(), abs=1e-6)
    d_logits = tc.model.ops.to_numpy(d_logits)
    assert np.all(d_logits[~known] == 0.0)
    np.testing.assert_allclose(d_logits[known], x.grad.numpy(), atol=1e-6)

    # and training runs
    losses = {}
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert np.isfinite(losses["bert_textcat"])
    assert set(nlp("the food was good").cats) == set(labels)


# -- 5. export ---------------------------------------------------------------------------
def check_export(nlp, out, multi):
    import transformers

    tc = nlp.get_pipe("bert_textcat")
    model, info = transformers.AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info.get("mismatched_keys"), info
    assert model.config.problem_type == ("multi_label_classification" if multi else "single_label_classification")
    assert model.config.id2label == dict(enumerate(tc.labels))
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    data = MULTI_DATA if multi else SINGLE_DATA
    for text in [t for t, _ in data] + ["", "An unseen sentence about nothing in particular."]:
        doc = nlp(text)
        ours = tc.model.ops.to_numpy(tc.model.predict([doc]))[0]
        theirs = hf_logits(model, tokenizer, text)
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0, err_msg=repr(text))
        expected = sigmoid(theirs) if multi else softmax(theirs)
        np.testing.assert_allclose(cats_array(doc, tc.labels), expected, atol=1e-4, rtol=0)
    return model


@pytest.mark.parametrize("setup", SETUPS)
def test_export(setup, trained, tmp_path):
    listener, multi = parse_setup(setup)
    nlp, _, _ = trained(setup)
    out = export_component(nlp, "bert_textcat", tmp_path / "hf")
    exported = check_export(nlp, out, multi)
    if setup == "listener-single":
        # the CLI on the saved pipeline writes the same model
        nlp.to_disk(tmp_path / "pipeline")
        run_spacy("bert", "export", str(tmp_path / "pipeline"), "bert_textcat", str(tmp_path / "cli"))
        check_export(nlp, tmp_path / "cli", multi)
        import transformers

        from_cli = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "cli")
        for name, tensor in exported.state_dict().items():
            assert torch.equal(tensor, from_cli.state_dict()[name]), name


# -- 6. spacy train ----------------------------------------------------------------------
@pytest.mark.parametrize("config_name", ["textcat.cfg", "textcat_multilabel.cfg"])
def test_spacy_train(config_name, tmp_path, data_dir, tiny_bert_dir):
    if config_name == "textcat.cfg":
        records = list(islice(read_sst2(data_dir / "sst2" / "dev.tsv"), 32))
        labels = ("negative", "positive")
    else:
        goemotions = data_dir / "goemotions"
        records = list(islice(read_goemotions(goemotions / "dev.tsv", goemotions / "labels.txt"), 32))
        labels = tuple(records[0][1])
        assert len(labels) == 28
    corpus = tmp_path / "corpus"
    assert write_textcat_docbin(records[:24], corpus / "train.spacy") == 24
    assert write_textcat_docbin(records[24:], corpus / "dev.spacy") == 8
    best = train_briefly(config_name, corpus / "train.spacy", corpus / "dev.spacy", tiny_bert_dir, tmp_path / "training")
    config = json.loads((best / "bert_textcat" / "model" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["hidden_size"] == 32
    nlp = spacy.load(best)
    assert nlp.pipe_names == ["bert_textcat"]
    assert nlp.get_pipe("bert_textcat").labels == labels
    cats = nlp(records[0][0]).cats
    assert list(cats) == list(labels)
    if config_name == "textcat.cfg":
        assert math.isclose(sum(cats.values()), 1.0, abs_tol=1e-5)
    scores = run_spacy("evaluate", str(best), str(corpus / "dev.spacy"), "--gpu-id", "-1")
    assert "TEXTCAT" in scores


# -- 7. replace_listeners (last: it fails until the bug it shows is fixed) -------------
def test_replace_listeners_keeps_window_settings(tiny_bert_dir, tmp_path):
    """After `nlp.replace_listeners`, bert_textcat owns a copy of the `bert` encoder with the
    `bert` component's window and stride; saving and loading must keep them."""
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": str(tiny_bert_dir), "window": 32, "stride": 8})
    nlp.add_pipe("bert_textcat", config={"model": LISTENER_MODEL})
    examples = make_examples(nlp, SINGLE_DATA)
    fix_random_seed(0)
    optimizer = nlp.initialize(get_examples=lambda: examples)
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    text = " ".join(f"sentence {i} was great or awful" for i in range(20))  # > 64 pieces
    before = nlp(text).cats
    nlp.replace_listeners("bert", "bert_textcat", ["model.tok2vec"])
    nlp.remove_pipe("bert")
    tc = nlp.get_pipe("bert_textcat")
    assert tc.owns_encoder
    assert nlp(text).cats == before
    assert tc.encoder.attrs["settings"].window == 32 and tc.encoder.attrs["settings"].stride == 8
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline").get_pipe("bert_textcat")
    assert (loaded.encoder.attrs["settings"].window, loaded.encoder.attrs["settings"].stride) == (32, 8), loaded.cfg
    assert spacy.load(tmp_path / "pipeline")(text).cats == before
    fresh = spacy.util.load_model_from_config(nlp.config, auto_fill=True)
    fresh.from_bytes(nlp.to_bytes())
    assert fresh(text).cats == before
