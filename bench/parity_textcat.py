"""The text-classification side of `python -m bench.training_parity` (`--task textcat`).

`bert_textcat` through the steps of `spacy train` against a plain PyTorch Hugging Face loop, on
the same texts, the same batches in the same order, the same seed and the same budget:

- data (`--data`, read from ../shared/data with spacy_bert.corpora's readers):
  `sst2`: 10,000 train sentences drawn with `random.Random(0).sample` from the 67,349 of
  train.tsv; dev.tsv (872) scored by accuracy.
  `trec`: train.txt split as `spacy bert convert-trec --held-out 0.1` splits it (seed 0):
  4,907 train questions, 545 held out; the held-out 10 % scored by accuracy (TREC has no dev
  file here, and its test set is not in ../shared/data).
  `goemotions`: train.tsv (43,410), dev.tsv (5,426), 28 independent labels; dev macro-F1 at
  threshold 0.5. Its budget is `--max-steps` (the whole train set is ~1,357 steps per epoch).
- ours: configs/textcat.cfg (sst2, trec) or configs/textcat_multilabel.cfg (goemotions) as
  shipped, with `components.bert_textcat.model.pooling` set from `--pooling`; the optimizer
  block as shipped (`spacy-bert.AdamW.v1`, warm-up 10 %, linear decay to 0 at the last step);
  the batcher replaced by `spacy.batch_by_sequence.v1` of 32 only to state the size (the batches
  themselves come from this script, as on the HF side); `training.dropout` 0.1.
- hf, `--pooling cls`: `BertForSequenceClassification` (pooler dense + tanh on [CLS] ->
  dropout -> linear). `--pooling mean`: `MeanPooledClassifier` below (BertModel -> masked
  mean of the last hidden states -> dropout -> linear). Both: cross-entropy (exclusive
  classes) or binary cross-entropy with logits (multi-label), mean over the batch, AdamW
  (weight decay 0.01 except biases and LayerNorm weights), `clip_grad_norm_(1.0)`,
  `get_linear_schedule_with_warmup` (10 % warm-up), the fast tokenizer (`padding=True`,
  `truncation=True`: at most 512 pieces, as our window).

The mean on both sides is over the text's word pieces without [CLS], [SEP] and padding: that is
what our `pooling = "mean"` computes (layers/heads/linear.py), so the two sides differ in the loop
only (sentence-transformers' own pooling includes [CLS] and [SEP]).

Both sides are scored by the same function from their predicted `doc.cats`-style dicts:
accuracy (argmax against the gold label; exclusive classes) and spaCy's `Scorer.score_cats`
macro/micro F (threshold 0.0 with exclusive classes, as our textcat scorer; `--threshold`,
0.5 by default, with multi-label).
"""
import math
import random
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from bench.harness import REPO, data_dir
from bench.training import batches_of, hf_adamw, loss_curve

TEXTCAT_DATA = ("sst2", "trec", "goemotions")
SST2_SAMPLE = 10_000
TREC_HELD_OUT = 0.1

Record = Tuple[str, Dict[str, float]]


# -- data --------------------------------------------------------------------------------
def load_textcat(name: str, seed: int = 0) -> Tuple[List[Record], List[Record], bool, str]:
    """(train, dev, multi_label, description of the dev set) for a data set of TEXTCAT_DATA.

    seed (int): the SST-2 sample is `random.Random(seed).sample(train, 10000)` and the TREC
    split `split_held_out(train, 0.1, seed)` (both seed 0 in the issue's budgets).
    """
    from spacy_bert.corpora import read_goemotions, read_sst2, read_trec, split_held_out

    if name == "sst2":
        train = list(read_sst2(data_dir("sst2", "train.tsv")))
        train = random.Random(seed).sample(train, SST2_SAMPLE)
        return train, list(read_sst2(data_dir("sst2", "dev.tsv"))), False, "SST-2 dev.tsv"
    if name == "trec":
        train, held_out = split_held_out(list(read_trec(data_dir("trec", "train.txt"))), TREC_HELD_OUT, seed)
        return train, held_out, False, f"TREC held-out {TREC_HELD_OUT:.0%} of train.txt (seed {seed})"
    if name == "goemotions":
        labels = data_dir("goemotions", "labels.txt")
        train = list(read_goemotions(data_dir("goemotions", "train.tsv"), labels))
        return train, list(read_goemotions(data_dir("goemotions", "dev.tsv"), labels)), True, "GoEmotions dev.tsv"
    raise ValueError(f"--data {name!r}: expected one of {', '.join(TEXTCAT_DATA)} with --task textcat")


# -- scoring (the same for both sides) --------------------------------------------------
def score_cats(gold: Sequence[Record], predicted: Sequence[Dict[str, float]], multi_label: bool, threshold: float) -> Dict[str, float]:
    """Accuracy (exclusive classes only), macro and micro F of predicted category scores.

    gold (Sequence[(str, Dict[str, float])]): the dev records.
    predicted (Sequence[Dict[str, float]]): one score per label for each record.
    RETURNS (Dict[str, float]): "acc" (exclusive classes), "macro_f", "micro_f", in 0..1, and
        "positives": how many labels were predicted (score >= threshold; multi-label).
    """
    import spacy
    from spacy.scorer import Scorer
    from spacy.training import Example

    nlp = spacy.blank("en")
    labels = list(gold[0][1])
    examples = []
    for (text, cats), scores in zip(gold, predicted):
        pred, ref = nlp.make_doc(text), nlp.make_doc(text)
        pred.cats, ref.cats = {l: float(scores[l]) for l in labels}, dict(cats)
        examples.append(Example(pred, ref))
    scored = Scorer.score_cats(examples, "cats", labels=labels, multi_label=multi_label, threshold=threshold if multi_label else 0.0)
    result = {"macro_f": scored["cats_macro_f"], "micro_f": scored["cats_micro_f"]}
    if multi_label:
        result["positives"] = sum(scores[l] >= threshold for scores in predicted for l in labels)
    else:
        hits = [max(labels, key=scores.get) == max(labels, key=cats.get) for (_, cats), scores in zip(gold, predicted)]
        result["acc"] = float(np.mean(hits))
    return result


def format_score(name: str, s: Dict[str, float], multi_label: bool, threshold: float) -> str:
    if multi_label:
        return f"dev macro-F1@{threshold} {100 * s['macro_f']:.1f} (micro-F1 {100 * s['micro_f']:.1f}, predicted labels {s['positives']})"
    return f"{name} accuracy {100 * s['acc']:.1f} (macro-F {100 * s['macro_f']:.1f})"


# -- the shared loop ---------------------------------------------------------------------
def plan(args, n_train: int) -> Tuple[int, int, int]:
    """(steps per epoch, total steps, epochs to run): --max-steps, when given, is the budget
    (and the schedule's length); otherwise --epochs whole epochs."""
    per_epoch = math.ceil(n_train / args.batch_size)
    if args.max_steps:
        return per_epoch, args.max_steps, math.ceil(args.max_steps / per_epoch)
    return per_epoch, per_epoch * args.epochs, args.epochs


def train_and_score(side: str, args, train: List[Record], dev: List[Record], multi_label: bool, step_fn: Callable, predict_fn: Callable) -> List[tuple]:
    """Run the batches (reshuffled each epoch by `random.Random(args.seed)`, the same on both
    sides), scoring dev after each epoch, every --eval-every steps and at the last step.

    step_fn (Callable[[List[Record]], float]): one optimizer step on a batch; its loss.
    predict_fn (Callable[[List[str]], List[Dict[str, float]]]): scores per label per text.
    RETURNS (List[tuple]): (epoch, step, scores, train seconds) per evaluation.
    """
    per_epoch, total, epochs = plan(args, len(train))
    rng = random.Random(args.seed)
    texts = [text for text, _ in dev]
    results, losses, step, train_s, eval_s = [], [], 0, 0.0, 0.0

    def evaluate(epoch: int, why: str) -> None:
        nonlocal eval_s
        start = time.time()
        scores = score_cats(dev, predict_fn(texts), multi_label, args.threshold)
        eval_s += time.time() - start
        results.append((epoch, step, scores, train_s))
        print(f"{side:<5} epoch {epoch}{why}: step {step}, {format_score('dev', scores, multi_label, args.threshold)}, "
              f"train {train_s:.0f} s (eval {eval_s:.0f} s); train loss per 10 steps {loss_curve(losses)}", flush=True)

    for epoch in range(1, epochs + 1):
        for batch in batches_of(train, args.batch_size, rng):
            if step == total:
                break
            start = time.time()
            losses.append(float(step_fn(batch)))
            train_s += time.time() - start
            step += 1
            if args.eval_every and step % args.eval_every == 0 and step % per_epoch and step != total:
                evaluate(epoch, " (in progress)")
        evaluate(epoch, "" if step % per_epoch == 0 else " (budget end)")
    print(f"{side:<5} wall time: train {train_s:.0f} s, eval {eval_s:.0f} s, {step} steps of {args.batch_size}", flush=True)
    return results


# -- the Hugging Face loop ---------------------------------------------------------------
class MeanPooledClassifier(torch.nn.Module):
    """BertModel -> masked mean of the last hidden states -> dropout -> linear: (batch, nO) logits.

    The linear layer is initialised as transformers initialises BertForSequenceClassification's
    classifier (normal, std `initializer_range`; bias 0); the dropout is `hidden_dropout_prob`.
    """

    def __init__(self, checkpoint: str, n_labels: int) -> None:
        import transformers

        super().__init__()
        self.bert = transformers.BertModel.from_pretrained(checkpoint, add_pooling_layer=False)
        config = self.bert.config
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, n_labels)
        torch.nn.init.normal_(self.classifier.weight, std=config.initializer_range)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids, attention_mask, token_type_ids, pooled_mask):
        """pooled_mask (batch, seq) float: 1.0 at the positions averaged (pieces of the text,
        not [CLS]/[SEP]/padding). RETURNS (batch, nO) logits."""
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        mask = pooled_mask.unsqueeze(-1)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.classifier(self.dropout(mean))


def run_hf_textcat(args, checkpoint: str, train: List[Record], dev: List[Record], multi_label: bool) -> List[tuple]:
    import transformers

    labels = list(train[0][1])
    torch.manual_seed(args.seed)
    if args.pooling == "cls":
        problem = "multi_label_classification" if multi_label else "single_label_classification"
        model = transformers.BertForSequenceClassification.from_pretrained(
            checkpoint, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}, problem_type=problem
        )
    else:
        model = MeanPooledClassifier(checkpoint, len(labels))
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint)
    optimizer = hf_adamw(model, args.lr)
    _, total, _ = plan(args, len(train))
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()

    def logits_of(texts: List[str]) -> torch.Tensor:
        enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")
        if args.pooling == "cls":
            return model(**enc).logits
        return model(**enc, pooled_mask=(enc["attention_mask"] * (1 - special)).float())

    def step(batch: List[Record]) -> float:
        model.train()
        logits = logits_of([text for text, _ in batch])
        gold = torch.tensor([[cats[l] for l in labels] for _, cats in batch])
        loss = loss_fn(logits, gold if multi_label else gold.argmax(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        return loss.item()

    def predict(texts: List[str]) -> List[Dict[str, float]]:
        model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                logits = logits_of(texts[i : i + 64])
                probs = torch.sigmoid(logits) if multi_label else torch.softmax(logits, -1)
                out.extend({l: float(p) for l, p in zip(labels, row)} for row in probs.tolist())
        return out

    return train_and_score("hf", args, train, dev, multi_label, step, predict)


# -- ours through spaCy's training loop --------------------------------------------------
def textcat_config(args, checkpoint: str, paths: Dict[str, str], multi_label: bool, total: int):
    """configs/textcat.cfg or textcat_multilabel.cfg with this run's paths, pooling, batch
    size, dropout, seed and schedule length (and peak rate when --lr is given)."""
    from spacy.util import load_config

    name = "textcat_multilabel.cfg" if multi_label else "textcat.cfg"
    config = load_config(REPO / "configs" / name, overrides={"paths.train": paths["train"], "paths.dev": paths["dev"], "paths.checkpoint": checkpoint})
    config["components"]["bert_textcat"]["model"]["pooling"] = args.pooling
    config["components"]["bert_textcat"]["threshold"] = args.threshold
    config["training"]["batcher"] = {"@batchers": "spacy.batch_by_sequence.v1", "size": args.batch_size, "get_length": None}
    config["training"]["dropout"] = 0.1
    config["training"]["seed"] = args.seed
    config["training"]["max_steps"] = total
    rate = config["training"]["optimizer"]["learn_rate"]
    rate.update({"initial_rate": args.lr, "total_steps": total, "warmup_ratio": 0.1})
    return config


def shipped_rate(multi_label: bool) -> float:
    """The peak learning rate of the shipped config (the default of --lr with --task textcat)."""
    from spacy.util import load_config

    config = load_config(REPO / "configs" / ("textcat_multilabel.cfg" if multi_label else "textcat.cfg"))
    return float(config["training"]["optimizer"]["learn_rate"]["initial_rate"])


def run_ours_textcat(args, checkpoint: str, train: List[Record], dev: List[Record], multi_label: bool, tmp: str) -> List[tuple]:
    from spacy.training.initialize import init_nlp
    from spacy.util import registry
    from thinc.api import fix_random_seed

    import spacy_bert.pipeline  # noqa: F401  (registers the factories and the optimizer)
    from spacy_bert.corpora import write_textcat_docbin

    paths = {}
    for name, records in (("train", train), ("dev", dev)):
        paths[name] = str(Path(tmp) / f"{name}.spacy")
        write_textcat_docbin(records, paths[name])
    _, total, _ = plan(args, len(train))
    config = textcat_config(args, checkpoint, paths, multi_label, total)
    fix_random_seed(args.seed)
    nlp = init_nlp(config)
    resolved = nlp.config.interpolate()
    optimizer = registry.resolve(resolved["training"])["optimizer"]
    examples = list(registry.resolve({"c": resolved["corpora"]["train"]})["c"](nlp))
    # The batches are drawn from the records (the HF side's list, the same shuffle); each
    # record's Example is the one spacy.Corpus.v1 read back from the .spacy file.
    if [eg.reference.text for eg in examples] != [text for text, _ in train]:
        raise RuntimeError("spacy.Corpus.v1 did not give back the train texts in order")
    example_of = {id(record): eg for record, eg in zip(train, examples)}
    dropout = config["training"]["dropout"]

    def step(batch: List[Record]) -> float:
        loss = nlp.update([example_of[id(r)] for r in batch], drop=dropout, sgd=False, losses={})["bert_textcat"]
        for _, proc in nlp.pipeline:
            if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                proc.finish_update(optimizer)
        optimizer.step_schedules()
        return loss

    def predict(texts: List[str]) -> List[Dict[str, float]]:
        return [dict(doc.cats) for doc in nlp.pipe(texts, batch_size=64)]

    results = train_and_score("ours", args, train, dev, multi_label, step, predict)
    if args.save_dir:
        nlp.to_disk(args.save_dir)
        print(f"ours  saved the trained pipeline to {args.save_dir}", flush=True)
    return results


def main_textcat(args, checkpoint: str) -> None:
    train, dev, multi_label, dev_name = load_textcat(args.data, args.seed)
    if args.limit:
        train = train[: args.limit]
    if args.dev_limit:
        dev = dev[: args.dev_limit]
    if args.pooling is None:
        args.pooling = "mean" if multi_label else "cls"
    if args.lr is None:
        args.lr = shipped_rate(multi_label)
    per_epoch, total, epochs = plan(args, len(train))
    labels = list(train[0][1])
    print(f"textcat {args.data}: train {len(train)} texts, dev {len(dev)} ({dev_name}), {len(labels)} labels "
          f"({'multi-label' if multi_label else 'exclusive'}), pooling {args.pooling}, peak lr {args.lr:g}, "
          f"{total} steps of {args.batch_size} ({per_epoch} per epoch, {epochs} epoch(s)), torch threads {torch.get_num_threads()}", flush=True)
    if args.side in ("both", "hf"):
        run_hf_textcat(args, checkpoint, train, dev, multi_label)
    if args.side in ("both", "ours"):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            run_ours_textcat(args, checkpoint, train, dev, multi_label, tmp)
