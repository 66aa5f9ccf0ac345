"""Fine-tuning at equal budget: `bert_ner` through spaCy's training loop vs a plain PyTorch loop.

    python -m bench.training_parity                       # WNUT-17, all-MiniLM-L6-v2, 3 epochs, both sides
    python -m bench.training_parity --side hf --epochs 1  # one side only
    python -m bench.training_parity --limit 300 --dev-limit 200 --epochs 1   # smoke test
    python -m bench.training_parity --task textcat --data sst2            # SST-2, 10,000 sentences, 1 epoch
    python -m bench.training_parity --task textcat --data trec            # TREC, 1 epoch, held-out 10 %
    python -m bench.training_parity --task textcat --data goemotions --max-steps 600   # mean pooling
    python -m bench.training_parity --save-dir training/parity-wnut17     # keep our trained pipeline

`--task textcat` (bench/parity_textcat.py) compares `bert_textcat` the same way; its docstring
says what each data set, pooling and score is. `--eval-every N` adds dev scores every N steps,
`--save-dir DIR` writes our trained pipeline with `nlp.to_disk` (for bench/precision_accuracy.py).

Both sides: the same checkpoint, the same 3,394 WNUT-17 train sentences (spacy_bert's CoNLL
reader), batches of 32 sentences reshuffled every epoch (seed 0), peak learning rate 1e-4,
linear warm-up over 10 % of the steps then linear decay to 0, dropout 0.1; dev entity F1
(exact spans, spaCy's scorer on both sides) after every epoch.

- ours: configs/ner.cfg as shipped (its `[training.optimizer]`, `spacy-bert.AdamW.v1` unless
  `--thinc-adam` restores the old thinc `Adam.v1` block), built with spaCy's `init_nlp`, and
  the steps of `spacy train`'s loop (`spacy.training.loop.train_while_improving`): every
  component's update, every `finish_update`, `step_schedules()`; the corpus as `spacy train`
  reads it (`spacy.Corpus.v1`: Docs re-tokenized by `nlp.make_doc`).
- hf: `BertForTokenClassification`, labels on each word's first piece, `AdamW` (weight decay
  0.01 except biases and LayerNorm weights), `clip_grad_norm_(1.0)`,
  `get_linear_schedule_with_warmup`, the fast tokenizer with `is_split_into_words=True`.

Run it with OMP_NUM_THREADS set to the cores you give it; it prints wall times per side.
"""
import argparse
import math
import random
import tempfile
import time
from pathlib import Path

import torch

from bench.harness import REPO, data_dir, model_dir, print_machine
from bench.training import THINC_ADAM, batches_of, hf_adamw, load_docs, loss_curve


def word_spans(tags):
    """Entity (start, end, label) over words from IOB2 tags, read as seqeval and our decoder do
    (an I- that does not continue an entity of its type starts one)."""
    spans, current = [], None
    for i, tag in enumerate(tags + ["O"]):
        if tag == "O" or tag.startswith("B-") or current is None or current[2] != tag[2:]:
            if current is not None:
                spans.append(tuple(current))
            current = None if tag == "O" else [i, i + 1, tag[2:]]
        else:
            current[1] = i + 1
    return spans


def score(nlp, references, predicted_spans):
    from spacy.scorer import Scorer
    from spacy.tokens import Doc, Span
    from spacy.training import Example

    examples = []
    for ref, spans in zip(references, predicted_spans):
        pred = Doc(nlp.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref])
        pred.ents = [Span(pred, s, e, label=label) for s, e, label in spans]
        examples.append(Example(pred, ref))
    return Scorer.score_spans(examples, "ents")["ents_f"]


# -- the Hugging Face loop ---------------------------------------------------------------------
def run_hf(args, checkpoint, train, dev, rows):
    import spacy
    import transformers

    torch.manual_seed(args.seed)
    label2id = {r: i for i, r in enumerate(rows)}
    model = transformers.BertForTokenClassification.from_pretrained(checkpoint, num_labels=len(rows), id2label=dict(enumerate(rows)), label2id=label2id)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint)
    optimizer = hf_adamw(model, args.lr)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = int(0.1 * total)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    rng = random.Random(args.seed)

    def encode(docs):
        words = [[t.text for t in doc] for doc in docs]
        enc = tokenizer(words, is_split_into_words=True, return_tensors="pt", padding=True, truncation=True)
        return enc

    nlp = spacy.blank("en")
    results, start, losses = [], time.time(), []

    def evaluate():
        model.eval()
        predicted = []
        with torch.inference_mode():
            for i in range(0, len(dev), 64):
                docs = dev[i : i + 64]
                enc = encode(docs)
                best = model(**enc).logits.argmax(-1)
                for r, doc in enumerate(docs):
                    tags, seen = ["O"] * len(doc), set()
                    for j, w in enumerate(enc.word_ids(r)):
                        if w is not None and w not in seen:
                            seen.add(w)
                            tags[w] = rows[int(best[r, j])]
                    predicted.append(word_spans(tags))
        model.train()
        return score(nlp, dev, predicted), predicted

    def epoch_batches():
        if not args.group_by_length:
            return batches_of(train, args.batch_size, rng)
        # The Trainer's group_by_length: its own sampler's indices (megabatches of shuffled
        # examples sorted by WordPiece count), cut into batches of batch_size.
        from transformers.trainer_pt_utils import get_length_grouped_indices

        lengths = [len(ids) for ids in tokenizer([[t.text for t in doc] for doc in train], is_split_into_words=True)["input_ids"]]
        order = get_length_grouped_indices(lengths, args.batch_size, generator=generator)
        return [[train[i] for i in order[s : s + args.batch_size]] for s in range(0, len(order), args.batch_size)]

    generator = torch.Generator().manual_seed(args.seed)
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for batch in epoch_batches():
            enc = encode(batch)
            labels = torch.full(enc["input_ids"].shape, -100)
            for r, doc in enumerate(batch):
                tags = ["O" if t.ent_iob_ == "O" else f"{t.ent_iob_}-{t.ent_type_}" for t in doc]
                seen = set()
                for i, w in enumerate(enc.word_ids(r)):
                    if w is not None and w not in seen:
                        seen.add(w)
                        labels[r, i] = label2id[tags[w]]
            loss = model(**enc, labels=labels).loss
            loss.backward()
            losses.append(loss.item())
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if args.eval_every and step % args.eval_every == 0 and step % steps_per_epoch:
                f, predicted = evaluate()
                print(f"hf    step {step} (epoch {epoch + 1}): dev ents_f {100 * f:.1f}, {time.time() - start:.0f} s; "
                      f"predicted entities {sum(len(p) for p in predicted)}", flush=True)
        f, predicted = evaluate()
        results.append((epoch + 1, (epoch + 1) * steps_per_epoch, f, time.time() - start))
        print(f"hf    epoch {epoch + 1}: step {results[-1][1]}, dev ents_f {100 * results[-1][2]:.1f}, {results[-1][3]:.0f} s; "
              f"predicted entities {sum(len(p) for p in predicted)}; train loss per 10 steps {loss_curve(losses)}", flush=True)
    return results


# -- ours through spaCy's training loop -------------------------------------------------------


def run_ours(args, checkpoint, train, dev, tmp):
    from spacy.tokens import DocBin
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config
    from thinc.api import fix_random_seed

    import spacy_bert.pipeline  # noqa: F401  (registers the factories and the optimizer)

    paths = {}
    for name, docs in (("train", train), ("dev", dev)):
        paths[name] = str(Path(tmp) / f"{name}.spacy")
        DocBin(docs=docs, store_user_data=False).to_disk(paths[name])
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = steps_per_epoch * args.epochs
    config = load_config(REPO / "configs" / "ner.cfg", overrides={"paths.train": paths["train"], "paths.dev": paths["dev"], "paths.checkpoint": checkpoint})
    if not args.group_by_length:
        config["training"]["batcher"] = {"@batchers": "spacy.batch_by_sequence.v1", "size": args.batch_size, "get_length": None}
    else:  # the shipped batcher (spacy-bert.batch_by_length.v1, by pieces) at this size
        config["training"]["batcher"]["size"] = args.batch_size
    config["training"]["dropout"] = 0.1
    config["training"]["seed"] = args.seed
    if args.thinc_adam:
        config["training"]["optimizer"] = {**THINC_ADAM, "learn_rate": config["training"]["optimizer"]["learn_rate"]}
    rate = config["training"]["optimizer"]["learn_rate"]
    rate.update({"initial_rate": args.lr, "total_steps": total})
    if "warmup_ratio" in rate:  # spacy-bert.warmup_linear.v1
        rate["warmup_ratio"] = 0.1
    else:  # thinc's warmup_linear.v1
        rate["warmup_steps"] = int(0.1 * total)
    fix_random_seed(args.seed)
    nlp = init_nlp(config)
    from spacy.util import registry

    T = registry.resolve(nlp.config.interpolate()["training"])
    optimizer = T["optimizer"]
    train_corpus = registry.resolve({"c": nlp.config.interpolate()["corpora"]["train"]})["c"]
    dev_corpus = registry.resolve({"c": nlp.config.interpolate()["corpora"]["dev"]})["c"]
    train_examples = list(train_corpus(nlp))
    dev_examples = list(dev_corpus(nlp))
    rng = random.Random(args.seed)
    results, start, step, losses = [], time.time(), 0, []
    def epoch_batches():
        if not args.group_by_length:
            return batches_of(train_examples, args.batch_size, rng)
        shuffled = list(train_examples)
        rng.shuffle(shuffled)  # as spaCy's loop shuffles before its batcher
        return list(T["batcher"](shuffled))

    for epoch in range(args.epochs):
        for batch in epoch_batches():
            losses.append(nlp.update(batch, drop=0.1, sgd=False, losses={})["bert_ner"])
            for _, proc in nlp.pipeline:
                if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                    proc.finish_update(optimizer)
            optimizer.step_schedules()
            step += 1
            if args.eval_every and step % args.eval_every == 0 and step % steps_per_epoch:
                f = nlp.evaluate(dev_examples)["ents_f"]
                n_predicted = sum(len(doc.ents) for doc in nlp.pipe(eg.reference.text for eg in dev_examples))
                print(f"ours  step {step} (epoch {epoch + 1}): dev ents_f {100 * f:.1f}, {time.time() - start:.0f} s; "
                      f"predicted entities {n_predicted}", flush=True)
        f = nlp.evaluate(dev_examples)["ents_f"]
        n_predicted = sum(len(doc.ents) for doc in nlp.pipe(eg.reference.text for eg in dev_examples))
        results.append((epoch + 1, step, f, time.time() - start))
        print(f"ours  epoch {epoch + 1}: step {step}, dev ents_f {100 * f:.1f}, {results[-1][3]:.0f} s; "
              f"predicted entities {n_predicted}; train loss per 10 steps {loss_curve(losses)}", flush=True)
    if args.save_dir:
        nlp.to_disk(args.save_dir)
        print(f"ours  saved the trained pipeline to {args.save_dir}", flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=["ner", "textcat"], default="ner")
    parser.add_argument("--side", choices=["both", "ours", "hf"], default="both")
    parser.add_argument("--epochs", type=int, default=None, help="default: 3 (ner), 1 (textcat)")
    parser.add_argument("--lr", type=float, default=None, help="peak rate; default: 1e-4 (ner), the shipped config's (textcat)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--group-by-length", action="store_true",
                        help="ner: batches grouped by length on both sides (ours: the shipped spacy-bert.batch_by_length.v1; hf: the Trainer's get_length_grouped_indices) instead of random batches")
    parser.add_argument("--limit", type=int, default=0, help="first N train sentences (0: all)")
    parser.add_argument("--dev-limit", type=int, default=0, help="first N dev sentences (0: all)")
    parser.add_argument("--thinc-adam", action="store_true", help="ours with the old thinc Adam.v1 block")
    parser.add_argument("--data", default=None, help="ner: the WNUT-17 folder (default ../shared/data/wnut17); textcat: sst2, trec or goemotions")
    parser.add_argument("--pooling", choices=["cls", "mean"], default=None, help="textcat: default cls (sst2, trec), mean (goemotions)")
    parser.add_argument("--max-steps", type=int, default=0, help="textcat: stop (and end the schedule) after N steps instead of --epochs")
    parser.add_argument("--threshold", type=float, default=0.5, help="textcat multi-label: score from which a label counts as predicted")
    parser.add_argument("--eval-every", type=int, default=0, help="also score dev every N steps (both sides)")
    parser.add_argument("--save-dir", default=None, help="write our trained pipeline there (nlp.to_disk)")
    parser.add_argument("--checkpoint", default=None, help="start both sides from this Hugging Face directory (default: all-MiniLM-L6-v2), e.g. an encoder adapted by python -m bench.pretrain_quality --export")
    args = parser.parse_args()

    import spacy

    print_machine()
    checkpoint = model_dir(args.checkpoint) if args.checkpoint else model_dir()
    if args.task == "textcat":
        from bench.parity_textcat import TEXTCAT_DATA, main_textcat

        if args.data not in TEXTCAT_DATA:
            parser.error(f"--task textcat needs --data one of {', '.join(TEXTCAT_DATA)}, got {args.data!r}")
        args.epochs = 1 if args.epochs is None else args.epochs
        main_textcat(args, checkpoint)
        return
    if args.pooling or args.max_steps:
        parser.error("--pooling and --max-steps are for --task textcat")
    args.epochs = 3 if args.epochs is None else args.epochs
    args.lr = 1e-4 if args.lr is None else args.lr
    wnut = Path(args.data) if args.data else data_dir("wnut17")
    vocab = spacy.blank("en").vocab
    train = load_docs(data_dir("wnut17train.conll", root=wnut), vocab, args.limit)
    dev = load_docs(data_dir("emerging.dev.conll", root=wnut), vocab, args.dev_limit)
    types = sorted({e.label_ for doc in train for e in doc.ents})
    rows = ["O"] + [f"{p}-{t}" for t in types for p in "BI"]
    print(f"train {len(train)} sentences, dev {len(dev)}, {len(types)} types, torch threads {torch.get_num_threads()}", flush=True)
    if args.side in ("both", "hf"):
        run_hf(args, checkpoint, train, dev, rows)
    if args.side in ("both", "ours"):
        with tempfile.TemporaryDirectory() as tmp:
            run_ours(args, checkpoint, train, dev, tmp)


if __name__ == "__main__":
    main()
