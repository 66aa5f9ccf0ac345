"""What a training batcher costs the encoder over one epoch (issue 25: which batcher the configs ship).

    python -m bench.train_batches                      # WNUT-17 train, 5 shuffles
    python -m bench.train_batches --data assets/wnut17-demo/train.conll

For each batcher, on the same shuffled epochs (spaCy's loop: `random.shuffle` of all examples,
then the batcher), with each sentence's WordPiece count from the model's tokenizer (+2 for
[CLS]/[SEP]):

- steps: batches per epoch, and examples per batch (a Hugging Face recipe's budget is in
  32-example steps: a batcher that changes it changes the recipe);
- padded / real positions when each batch is one padded forward (the Trainer's collator);
- our encoder's cost: the positions and forwards `plan_batches` chooses inside each batch
  (`max_batch_items` 2048, as the configs), and positions + FORWARD_COST x forwards, the cost
  model `bench/forward_cost.py` measured (lower is faster).
"""
import argparse
import random
import statistics
from pathlib import Path

from bench.harness import data_dir, model_dir

BATCHERS = {
    "batch_by_sequence 32 (random)": {"@batchers": "spacy.batch_by_sequence.v1", "size": 32, "get_length": None},
    "batch_by_words 500 (ner.cfg before)": {"@batchers": "spacy.batch_by_words.v1", "size": 500, "tolerance": 0.2, "discard_oversize": False, "get_length": None},
    "batch_by_padded 2000 (ner_listener.cfg before)": {"@batchers": "spacy.batch_by_padded.v1", "size": 2000, "buffer": 256, "discard_oversize": False, "get_length": None},
    "spacy-bert.batch_by_length 32": {"@batchers": "spacy-bert.batch_by_length.v1", "size": 32, "megabatch": 50, "get_length": None},
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="a CoNLL file (default: ../shared/data/wnut17/wnut17train.conll)")
    p.add_argument("--model", default="minilm")
    p.add_argument("--epochs", type=int, default=5, help="shuffles to average over")
    p.add_argument("--max-batch-items", type=int, default=2048)
    args = p.parse_args(argv)

    import spacy
    from spacy.util import registry

    import spacy_bert.pipeline  # noqa: F401  (registers the batcher)
    from bench.training import load_docs
    from spacy_bert import BertTokenizer
    from spacy_bert.layers.stages.batching import FORWARD_COST, plan_batches

    path = Path(args.data) if args.data else data_dir("wnut17", "wnut17train.conll")
    docs = [d for d in load_docs(path, spacy.blank("en").vocab, 0) if len(d)]
    tokenizer = BertTokenizer.from_pretrained(model_dir(args.model))
    pieces = {id(d): len(tokenizer.encode(d.text)) for d in docs}  # [CLS] and [SEP] included
    print(f"{path}: {len(docs)} sentences, {sum(len(d) for d in docs)} words; {args.epochs} shuffles; FORWARD_COST {FORWARD_COST}")
    print("| batcher | steps | examples/step | padded/real (one forward a batch) | our positions/real | our forwards | our cost (rel.) |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for name, block in BATCHERS.items():
        batcher = registry.resolve({"b": block})["b"]
        rows = []
        for epoch in range(args.epochs):
            order = list(docs)
            random.Random(epoch).shuffle(order)
            batches = list(batcher(order))
            assert sorted(id(d) for b in batches for d in b) == sorted(id(d) for d in docs)
            real = padded = ours = forwards = 0
            for batch in batches:
                lengths = [pieces[id(d)] for d in batch]
                real += sum(lengths)
                padded += len(lengths) * max(lengths)
                for group in plan_batches(lengths, args.max_batch_items):
                    ours += len(group) * max(lengths[i] for i in group)
                    forwards += 1
            rows.append((len(batches), real, padded, ours, forwards, ours + FORWARD_COST * forwards))
        steps, real, padded, ours, forwards, cost = (statistics.mean(r[i] for r in rows) for i in range(6))
        base = base or cost
        print(f"| {name} | {steps:.0f} | {len(docs) / steps:.1f} | {padded / real:.2f} | {ours / real:.2f} | {forwards:.0f} | {cost / base:.2f} |")


if __name__ == "__main__":
    main()
