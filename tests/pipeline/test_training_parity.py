"""Trajectory parity: K steps of `nlp.update` equal K steps of Hugging Face's fine-tuning loop.

The loop is the recipe of the Hugging Face examples and `Trainer`: `torch.optim.AdamW` with
weight decay 0.01 except on biases and LayerNorm weights, `clip_grad_norm_(..., 1.0)` over all
parameters, and a linear warm-up/decay schedule stepped after every optimizer step. Ours is
`spacy-bert.AdamW.v1` with thinc's `warmup_linear.v1` and `step_schedules()` after each update,
as `spacy train` runs them. Same tiny checkpoint (dropout off), same batches in the same order;
after K steps every parameter must equal the loop's within ATOL (bert_ner, bert_textcat, own or
listening; bert_qa and bert_fill_mask, whose whole `BertFor*` model sits in the shim, with
their losses: QA's mean of start and end cross-entropy with padding masked out of each softmax,
and MLM on the very masks our component drew). thinc's `Adam.v1` (clipping
each parameter on its own, decaying biases and LayerNorm weights, epsilon before the bias
correction) is shown to leave that tolerance, so the test can tell the recipes apart.
"""
import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import registry
from thinc.api import Adam

from spacy_bert.layers.stages.hooks import MaskPieces

from spacy_bert.checkpoint import checkpoint_tensors
from spacy_bert.layers.encoder import get_shim
from spacy_bert.layers.training.optim import AdamW, decays
from spacy_bert.hf_reference import word_piece_labels

K = 10
LR = 1e-3
WARMUP = 2
#: Max abs difference of any parameter after K steps. The parameters move by ~1e-2 in K steps;
#: float32 rounding in two implementations leaves ~2e-6 (the key biases, whose true gradient
#: is zero, move by rounding noise only), thinc's Adam.v1 leaves > 1e-4.
ATOL = 2e-5

NER_ROWS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NER_DATA = [
    ("Alice Smith lives in Paris now", [(0, 11, "PER"), (21, 26, "LOC")]),
    ("I like London and Berlin", [(7, 13, "LOC"), (18, 24, "LOC")]),
    ("Who is Shaka Khan", [(7, 17, "PER")]),
    ("Mr Johnson flew from New York to San Francisco", [(3, 10, "PER"), (21, 29, "LOC"), (33, 46, "LOC")]),
    ("the quick brown fox jumps over the lazy dog", []),
]
CAT_ROWS = ["neg", "pos"]
CAT_DATA = [
    ("what a wonderful day this is", "pos"),
    ("this was a terrible film", "neg"),
    ("I loved every minute", "pos"),
    ("the food was cold and bland", "neg"),
    ("great service and friendly people", "pos"),
]
#: (context, question, answer): one window each (bert_qa).
QA_DATA = [
    ("Alice Smith lives in Paris now.", "Where does Alice live?", "Paris"),
    ("Berlin was founded around 1237 by merchants.", "When was Berlin founded?", "around 1237"),
    ("The cat sat on the mat all day long.", "Where did the cat sit?", "on the mat"),
    ("Mr Johnson flew from New York to San Francisco.", "Who flew to San Francisco?", "Mr Johnson"),
    ("Green tea is my favourite drink in winter.", "What is the favourite drink?", "Green tea"),
]
MLM_DATA = [
    "The cat sat on the mat. It was a sunny day.",
    "Paris is the capital of France and Berlin is the capital of Germany.",
    "I like green tea, coffee is fine too, but water is best.",
    "Mr Johnson flew from New York to San Francisco last week.",
    "the quick brown fox jumps over the lazy dog",
]
#: Batches (indices into the data), a different split at each step.
BATCHES = [[0, 1], [2, 3, 4], [1, 3], [0, 2, 4], [4, 1, 0]]


# torch on one thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def schedule(step: int) -> float:
    """`get_linear_schedule_with_warmup`'s factor, = thinc's `warmup_linear.v1` / initial_rate."""
    if step < WARMUP:
        return step / max(1, WARMUP)
    return max(0.0, (K - step) / max(1.0, K - WARMUP))


def save_hf_model(directory, minilm_dir, class_name, rows):
    """A tiny random transformers `class_name` (dropout off, the real uncased vocabulary)."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        num_labels=len(rows), id2label=dict(enumerate(rows)), label2id={r: i for i, r in enumerate(rows)},
    )
    config.architectures = [class_name]
    model = getattr(transformers, class_name)(config)
    model.save_pretrained(directory)
    transformers.BertTokenizerFast.from_pretrained(str(minilm_dir)).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory, minilm_dir):
    return save_hf_model(tmp_path_factory.mktemp("parity-ner"), minilm_dir, "BertForTokenClassification", NER_ROWS)


@pytest.fixture(scope="module")
def cat_dir(tmp_path_factory, minilm_dir):
    return save_hf_model(tmp_path_factory.mktemp("parity-cat"), minilm_dir, "BertForSequenceClassification", CAT_ROWS)


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory, minilm_dir):
    return save_hf_model(tmp_path_factory.mktemp("parity-qa"), minilm_dir, "BertForQuestionAnswering", ["start", "end"])


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory, minilm_dir):
    return save_hf_model(tmp_path_factory.mktemp("parity-mlm"), minilm_dir, "BertForMaskedLM", ["a", "b"])


# -- the Hugging Face loop -------------------------------------------------------------
def ner_batch(tokenizer, data):
    """Labels on the first piece of each space-separated word, -100 elsewhere."""
    return word_piece_labels(tokenizer, data, NER_ROWS)


def cat_batch(tokenizer, data):
    enc = tokenizer([t for t, _ in data], return_tensors="pt", padding=True)
    return enc, torch.tensor([CAT_ROWS.index(c) for _, c in data])


def qa_batch(tokenizer, data):
    """(question, context) features, labelled with the pieces holding the answer's first and
    last characters (run_qa.py's rule for an answer inside the window)."""
    enc = tokenizer([q for _, q, _ in data], [c for c, _, _ in data], return_tensors="pt", padding=True, return_offsets_mapping=True)
    offsets = enc.pop("offset_mapping")
    starts, ends = [], []
    for row, (context, _, answer) in enumerate(data):
        a = context.index(answer)
        b = a + len(answer)
        pieces = [i for i, s in enumerate(enc.sequence_ids(row)) if s == 1]
        starts.append(max(i for i in pieces if offsets[row, i, 0] <= a))
        ends.append(min(i for i in pieces if offsets[row, i, 1] >= b))
    return enc, (torch.tensor(starts), torch.tensor(ends))


def qa_loss(model, enc, labels):
    """Hugging Face's QA loss, (CE(start) + CE(end)) / 2, with padding left out of each softmax
    (as on unpadded features)."""
    out = model(**enc)
    pad = enc["attention_mask"] == 0
    low = torch.finfo(torch.float32).min
    start = torch.nn.functional.cross_entropy(out.start_logits.masked_fill(pad, low), labels[0])
    end = torch.nn.functional.cross_entropy(out.end_logits.masked_fill(pad, low), labels[1])
    return (start + end) / 2


def mean_pooled_loss(model, enc, labels):
    """`BertForSequenceClassification` with the classifier on the mean of the text's piece
    states ([CLS], [SEP] and padding left out) instead of the pooled [CLS]."""
    states = model.bert(**enc).last_hidden_state
    mask = enc["attention_mask"].clone()
    mask[:, 0] = 0  # [CLS]
    mask[torch.arange(len(mask)), enc["attention_mask"].sum(1) - 1] = 0  # [SEP]
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    logits = model.classifier(model.dropout(pooled))
    return torch.nn.functional.cross_entropy(logits, labels)


def hf_trajectory(directory, class_name, data, make_batch, mean=False, loss_fn=None):
    """The parameters after K steps of the Hugging Face recipe (`mean`: the classifier reads
    mean-pooled piece states; `loss_fn(model, enc, labels)`: another loss than the model's)."""
    import transformers

    model = getattr(transformers, class_name).from_pretrained(str(directory))
    model.train()
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(directory))
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=LR, eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    for step in range(K):
        enc, labels = make_batch(tokenizer, [data[i] for i in BATCHES[step % len(BATCHES)]])
        if loss_fn is not None:
            loss = loss_fn(model, enc, labels)
        else:
            loss = mean_pooled_loss(model, enc, labels) if mean else model(**enc, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


# -- ours ------------------------------------------------------------------------------
def make_optimizer(name):
    rate = {"@schedules": "warmup_linear.v1", "initial_rate": LR, "warmup_steps": WARMUP, "total_steps": K}
    if name == "adamw":
        return registry.resolve({"o": {"@optimizers": "spacy-bert.AdamW.v1", "learn_rate": rate}})["o"]
    # thinc's Adam as the shipped configs used to configure it
    return registry.resolve(
        {"o": {"@optimizers": "Adam.v1", "learn_rate": rate, "L2": 0.01, "L2_is_weight_decay": True, "grad_clip": 1.0, "use_averages": False}}
    )["o"]


def build(factory, mode, directory, rows):
    """A pipeline with `factory` on its own encoder or listening to a `bert` component, its
    head set to the checkpoint's head (so both sides start from the same weights)."""
    import transformers

    nlp = spacy.blank("en")
    settings = {"window": 64, "stride": 16}
    if mode == "own":
        nlp.add_pipe(factory, config={"checkpoint": str(directory), **settings})
    else:
        nlp.add_pipe("bert", config={"checkpoint": str(directory), **settings})
        arch = "spacy-bert.BertTokenClassifier.v1" if factory == "bert_ner" else "spacy-bert.BertSequenceClassifier.v1"
        model = {"@architectures": arch, "nO": None, "tok2vec": {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"}}
        nlp.add_pipe(factory, config={"model": model})
    if mode == "listener":
        class_name = "BertForTokenClassification" if factory == "bert_ner" else "BertForSequenceClassification"
        hf = getattr(transformers, class_name).from_pretrained(str(directory))
        head = {"W": hf.classifier.weight.detach().numpy().copy(), "b": hf.classifier.bias.detach().numpy().copy()}
        nlp.get_pipe(factory).set_head(head, rows)
    return nlp


def our_trajectory(factory, mode, directory, rows, examples, optimizer_name):
    nlp = build(factory, mode, directory, rows)
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    sgd = make_optimizer(optimizer_name)
    for step in range(K):
        training_step(nlp, [egs[i] for i in BATCHES[step % len(BATCHES)]], sgd)
    pipe = nlp.get_pipe(factory)
    shim = get_shim(nlp.get_pipe("bert").model if mode == "listener" else pipe.encoder)
    params = {f"bert.{name}": t.detach().clone() for name, t in checkpoint_tensors(shim.bert).items()}
    params["classifier.weight"] = torch.as_tensor(np.asarray(pipe.classifier.get_param("W")))
    params["classifier.bias"] = torch.as_tensor(np.asarray(pipe.classifier.get_param("b")))
    return params


def training_step(nlp, examples, sgd):
    """One step as `spacy train` runs it (spacy.training.loop.train_while_improving): every
    component's update first, then every finish_update, then the schedules.

    (`nlp.update(examples, sgd=sgd)` calls each component's finish_update right after its own
    update, so a shared `bert` component steps before its listeners have sent their gradients:
    with listeners, it applies them one step late. spaCy's loop does not.)"""
    nlp.update(examples, sgd=False, drop=0.0, losses={})
    for _, proc in nlp.pipeline:
        if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
            proc.finish_update(sgd)
    sgd.step_schedules()


def ner_examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in NER_DATA]


def cat_examples(nlp):
    return [Example.from_dict(nlp.make_doc(t), {"cats": {r: float(r == c) for r in CAT_ROWS}}) for t, c in CAT_DATA]


CASES = {
    "bert_ner": ("BertForTokenClassification", NER_DATA, ner_batch, NER_ROWS, ner_examples),
    "bert_textcat": ("BertForSequenceClassification", CAT_DATA, cat_batch, CAT_ROWS, cat_examples),
}


def max_differences(ours, theirs):
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
    return {name: float((ours[name] - theirs[name]).abs().max()) for name in theirs}


@pytest.fixture(scope="module")
def hf_params(ner_dir, cat_dir):
    cache = {}

    def get(factory):
        if factory not in cache:
            class_name, data, make_batch, _, _ = CASES[factory]
            cache[factory] = hf_trajectory(ner_dir if factory == "bert_ner" else cat_dir, class_name, data, make_batch)
        return cache[factory]

    return get


@pytest.mark.parametrize("mode", ["own", "listener"])
@pytest.mark.parametrize("factory", ["bert_ner", "bert_textcat"])
def test_k_steps_equal_the_hugging_face_loop(factory, mode, hf_params, ner_dir, cat_dir):
    _, _, _, rows, examples = CASES[factory]
    directory = ner_dir if factory == "bert_ner" else cat_dir
    theirs = hf_params(factory)
    ours = our_trajectory(factory, mode, directory, rows, examples, "adamw")
    diffs = max_differences(ours, theirs)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= ATOL, f"{worst} differs by {diffs[worst]:.3g} after {K} steps"
    # and the run moved: the parameters are not simply still at their start
    start = hf_start(directory, factory)
    assert max(float((theirs[n] - start[n]).abs().max()) for n in theirs) > 100 * ATOL


def hf_start(directory, factory):
    import transformers

    class_name = CASES[factory][0]
    model = getattr(transformers, class_name).from_pretrained(str(directory))
    return {name: p.detach() for name, p in model.named_parameters()}


def whole_model_trajectory(factory, directory, examples, config, patch=None):
    """K steps of `factory` (bert_qa / bert_fill_mask: the whole model in the shim) as `spacy
    train` runs them; returns (pipe, its parameters by Hugging Face name)."""
    nlp = spacy.blank("en")
    nlp.add_pipe(factory, config={"checkpoint": str(directory), **config})
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    pipe = nlp.get_pipe(factory)
    if patch is not None:
        patch(pipe)
    sgd = make_optimizer("adamw")
    for step in range(K):
        training_step(nlp, [egs[i] for i in BATCHES[step % len(BATCHES)]], sgd)
    return pipe, {name: p.detach().clone() for name, p in pipe.shim.model.named_parameters()}


def qa_examples(nlp):
    egs = []
    for context, question, answer in QA_DATA:
        predicted, reference = nlp.make_doc(context), nlp.make_doc(context)
        predicted._.questions = reference._.questions = [{"id": "q", "question": question}]
        start = context.index(answer)
        reference._.answers = {"q": [{"start": start, "end": start + len(answer), "answer": answer}]}
        egs.append(Example(predicted, reference))
    return egs


#: Parameters of bert_qa whose true gradient is zero: the start and end softmaxes do not change
#: when every position's logit moves by the same amount, which is all that `qa_outputs.bias`
#: and the last LayerNorm's bias (through `qa_outputs.weight`) can do. Their gradients are
#: float32 rounding noise (~1e-8), which Adam scales up to steps of about the learning rate, in
#: directions that differ between any two implementations; they cannot be compared.
QA_ZERO_GRADIENT = ("qa_outputs.bias", "bert.encoder.layer.1.output.LayerNorm.bias")


def assert_trajectories_equal(ours, theirs, start, noise_only=()):
    """Every parameter within ATOL of the loop's after K steps (those of `noise_only`, whose
    true gradient is zero, only within the learning rate summed over the steps), and the run
    moved."""
    for name in noise_only:
        bound = LR * K
        assert float((ours[name] - start[name]).abs().max()) <= bound and float((theirs[name] - start[name]).abs().max()) <= bound
        theirs = {n: t for n, t in theirs.items() if n != name}
    diffs = max_differences(ours, theirs)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= ATOL, f"{worst} differs by {diffs[worst]:.3g} after {K} steps"
    assert max(float((theirs[n] - start[n]).abs().max()) for n in theirs) > 100 * ATOL


def test_bert_qa_k_steps_equal_the_hugging_face_loop(qa_dir):
    import transformers

    theirs = hf_trajectory(qa_dir, "BertForQuestionAnswering", QA_DATA, qa_batch, loss_fn=qa_loss)
    _, ours = whole_model_trajectory("bert_qa", qa_dir, qa_examples, {"max_seq_len": 64, "doc_stride": 16})
    start = {n: p.detach() for n, p in transformers.BertForQuestionAnswering.from_pretrained(str(qa_dir)).named_parameters()}
    assert_trajectories_equal(ours, theirs, start, noise_only=QA_ZERO_GRADIENT)


class RecordingMask(MaskPieces):
    """BERT's masking, recording each batch it masks (ids, labels, attention mask, token types
    are filled in by the caller's batch) so the Hugging Face loop trains on the same masks."""

    seen: list = []

    def __call__(self, input_ids, attention_mask, special_mask, rng):
        ids, labels = super().__call__(input_ids, attention_mask, special_mask, rng)
        RecordingMask.seen.append((ids.copy(), labels.copy(), attention_mask.copy()))
        return ids, labels


def test_bert_fill_mask_k_steps_equal_the_hugging_face_loop(mlm_dir):
    import transformers

    RecordingMask.seen = []

    def record(pipe):
        tokenizer = pipe.tokenizer
        pipe._hook = lambda: RecordingMask(tokenizer.mask_token_id, tokenizer.vocab_size, probability=0.3)

    config = {"window": 64, "stride": 16, "max_batch_items": 100_000, "mlm_probability": 0.3}
    _, ours = whole_model_trajectory("bert_fill_mask", mlm_dir, lambda nlp: [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in MLM_DATA], config, record)
    assert len(RecordingMask.seen) == K  # one padded batch per step
    steps = iter(RecordingMask.seen)

    def replay(tokenizer, data):
        ids, labels, mask = (torch.from_numpy(a) for a in next(steps))
        return {"input_ids": ids, "attention_mask": mask}, labels

    theirs = hf_trajectory(mlm_dir, "BertForMaskedLM", MLM_DATA, replay)
    start = {n: p.detach() for n, p in transformers.BertForMaskedLM.from_pretrained(str(mlm_dir)).named_parameters()}
    assert_trajectories_equal(ours, theirs, start)


def test_thinc_adam_is_not_the_recipe(hf_params, ner_dir):
    """The same run with thinc's `Adam.v1` (the old configs) leaves the tolerance."""
    theirs = hf_params("bert_ner")
    ours = our_trajectory("bert_ner", "own", ner_dir, NER_ROWS, ner_examples, "thinc")
    assert max(max_differences(ours, theirs).values()) > 5 * ATOL


def test_adamw_step_equals_torch_adamw():
    """One parameter, several steps with varying gradients: torch's AdamW arithmetic, with
    decay on weights and none on biases and LayerNorm weights."""
    rng = np.random.default_rng(0)
    for name, decayed in (("encoder.layer.0.output.dense.weight", True), ("encoder.layer.0.output.dense.bias", False), ("embeddings.LayerNorm.weight", False), ("W", True), ("b", False)):
        assert decays(name) is decayed
        w0 = rng.normal(size=(4, 3)).astype("float32")
        ours = AdamW(0.01, weight_decay=0.1, max_grad_norm=0.0)
        param = torch.nn.Parameter(torch.tensor(w0))
        theirs = torch.optim.AdamW([param], lr=0.01, weight_decay=0.1 if decayed else 0.0, eps=1e-8)
        w = w0.copy()
        for _ in range(5):
            g = (rng.normal(size=w0.shape) * 1e-3).astype("float32")
            w, _ = ours((1, name), w, g.copy())
            param.grad = torch.tensor(g)
            theirs.step()
        np.testing.assert_allclose(w, param.detach().numpy(), rtol=0, atol=1e-6)


def test_user_thinc_optimizer_still_trains(ner_dir):
    """A plain thinc optimizer is used as given (no global clipping, its own arithmetic)."""
    nlp = build("bert_ner", "own", ner_dir, NER_ROWS)
    egs = ner_examples(nlp)
    nlp.initialize(lambda: egs)
    sgd = Adam(1e-3)
    first = nlp.update(egs, sgd=sgd, losses={})["bert_ner"]
    for _ in range(5):
        last = nlp.update(egs, sgd=sgd, losses={})["bert_ner"]
    assert last < first


def test_mean_pooled_textcat_equals_the_loop_with_mean_pooling(cat_dir):
    """`pooling = "mean"`: K steps equal the same recipe on mean-pooled piece states."""
    theirs = hf_trajectory(cat_dir, "BertForSequenceClassification", CAT_DATA, cat_batch, mean=True)
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy-bert.BertSequenceClassifier.v1", "nO": None, "pooling": "mean", "tok2vec": {"@architectures": "spacy-bert.BertEncoder.v1"}}
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(cat_dir), "window": 64, "stride": 16, "model": model})
    egs = cat_examples(nlp)
    nlp.initialize(lambda: egs)
    sgd = make_optimizer("adamw")
    for step in range(K):
        training_step(nlp, [egs[i] for i in BATCHES[step % len(BATCHES)]], sgd)
    pipe = nlp.get_pipe("bert_textcat")
    ours = {f"bert.{name}": t.detach().clone() for name, t in checkpoint_tensors(get_shim(pipe.encoder).bert).items()}
    ours["classifier.weight"] = torch.as_tensor(np.asarray(pipe.classifier.get_param("W")))
    ours["classifier.bias"] = torch.as_tensor(np.asarray(pipe.classifier.get_param("b")))
    diffs = max_differences(ours, theirs)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= ATOL, f"{worst} differs by {diffs[worst]:.3g} after {K} steps"


def test_bad_sequence_pooling():
    from spacy_bert.layers.heads.linear import bert_sequence_classifier_v1
    from spacy_bert.layers.encoder import BertEncoder

    with pytest.raises(ValueError, match="E680"):
        bert_sequence_classifier_v1(BertEncoder(), pooling="max")


def test_export_of_a_mean_pooled_head_warns(cat_dir, tmp_path):
    """Export says plainly that transformers pools [CLS], and config.json records the pooling."""
    import json

    from spacy_bert.pipeline.export import export_component

    nlp = spacy.blank("en")
    model = {"@architectures": "spacy-bert.BertSequenceClassifier.v1", "nO": None, "pooling": "mean", "tok2vec": {"@architectures": "spacy-bert.BertEncoder.v1"}}
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(cat_dir), "window": 64, "stride": 16, "model": model})
    egs = cat_examples(nlp)
    nlp.initialize(lambda: egs)
    with pytest.warns(UserWarning, match="W680"):
        out = export_component(nlp, "bert_textcat", tmp_path / "hf")
    assert json.loads((out / "config.json").read_text())["spacy_bert_pooling"] == "mean"
