"""`bert_qa` through `spacy train` against a plain Hugging Face QA fine-tune, same data and budget.

    python -m bench.parity_qa                      # both sides, XQuAD train -> dev, 2 epochs
    python -m bench.parity_qa --side hf            # one side per process (run two side by side)
    python -m bench.parity_qa --side ours --batching paragraphs

Data: ../shared/data/xquad/train.json (150 paragraphs, 781 questions) and dev.json (40, 170).
Budget (the issue's): all-MiniLM-L6-v2, 2 epochs, peak lr 1e-4, batches of 16, windows of 384
pieces with a stride of 128, dropout 0.1, linear warm-up over `--warmup` of the steps then
linear decay to 0, AdamW without weight decay, global gradient-norm clipping at 1.0 (the
Trainer's defaults besides the warm-up).

- hf: `run_qa.py`'s `prepare_train_features` (`spacy_bert.hf_reference`: the fast tokenizer,
  `truncation="only_second"`, `return_overflowing_tokens`; every feature padded to 384, as
  run_qa pads by default), its labels ([CLS] when the window does not hold the whole answer), features
  shuffled by a seeded `torch.Generator` into batches of 16, `BertForQuestionAnswering`'s loss,
  torch AdamW, `clip_grad_norm_`, `get_linear_schedule_with_warmup`.
- ours: `python -m spacy train configs/qa.cfg` as shipped, with the budget above as overrides.
  `--batching questions` (default) reads one Example per question
  (`corpora.train.split_questions = true`) in batches of 16, so a step holds the same number
  of questions as a Hugging Face step; `--batching paragraphs` keeps the shipped reader (one
  Example per paragraph) in batches of 3 paragraphs (~15.6 questions).

Both sides are scored the same way: the Hugging Face model is saved with `save_pretrained` and
loaded as the checkpoint of a `bert_qa` pipeline, so both go through the same windows and the
same `scoring = "squad"` post-processing (`utils_qa.postprocess_qa_predictions`, tested equal in
tests/pipeline/test_qa.py) and `spacy bert evaluate-qa`'s official EM/F1 on dev.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.harness import REPO, data_dir, model_dir, print_machine
from bench.training import hf_adamw


def evaluate(pipeline_or_dir, dev_path):
    from spacy_bert.pipeline.qa_evaluate import evaluate_qa

    scores = evaluate_qa(pipeline_or_dir, dev_path)["scores"]
    return {"exact": round(scores["exact"], 2), "f1": round(scores["f1"], 2)}


def hf_train_features(tokenizer, paragraphs, max_len, stride):
    """run_qa.py's prepare_train_features over (context, questions, gold) paragraphs, every
    feature padded to `max_len` (run_qa's `pad_to_max_length`); tensors (n_features, max_len)."""
    from spacy_bert.hf_reference import hf_features, hf_train_labels

    rows = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    starts, ends, n_questions = [], [], 0
    for context, questions, gold in paragraphs:
        for q in questions:
            n_questions += 1
            # run_qa strips the question's left whitespace; labels from the first gold answer
            features = hf_features(tokenizer, q["question"].lstrip(), context, max_len, stride)
            answers = gold[q["id"]]
            s, e = hf_train_labels(features, context, answers[0] if answers else None)
            starts += s
            ends += e
            for name, values in rows.items():
                pad = tokenizer.pad_token_id if name == "input_ids" else 0
                values += [list(v) + [pad] * (max_len - len(v)) for v in features[name]]
    tensors = {name: torch.tensor(values) for name, values in rows.items()}
    tensors["start_positions"], tensors["end_positions"] = torch.tensor(starts), torch.tensor(ends)
    return tensors, n_questions


def run_hf(args, checkpoint, train, dev_path, out_dir):
    import transformers

    torch.manual_seed(args.seed)
    model = transformers.BertForQuestionAnswering.from_pretrained(checkpoint)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(checkpoint)
    features, n_questions = hf_train_features(tokenizer, train, args.max_seq_len, args.doc_stride)
    n = len(features["input_ids"])
    per_epoch = math.ceil(n / args.batch_size)
    total = per_epoch * args.epochs
    optimizer = hf_adamw(model, args.lr, weight_decay=0.0)  # run_qa.py: no weight decay
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(args.warmup * total), total)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"hf    {n_questions} questions -> {n} features, {per_epoch} steps per epoch, {total} steps", flush=True)
    started, losses = time.time(), []
    model.train()
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, args.batch_size):
            batch = {k: v[order[i : i + args.batch_size]] for k, v in features.items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        print(f"hf    epoch {epoch + 1}: mean train loss {sum(losses[-per_epoch:]) / per_epoch:.3f}, {time.time() - started:.0f} s", flush=True)
    train_s = time.time() - started
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": str(out_dir), "max_seq_len": args.max_seq_len, "doc_stride": args.doc_stride, "scoring": "squad"})
    nlp.initialize()
    return {"side": "hf", "steps": total, "train_s": round(train_s), **evaluate(nlp, dev_path)}


def run_ours(args, checkpoint, train, dev_path, out_dir):
    n_questions = sum(len(qs) for _, qs, _ in train)
    if args.batching == "questions":
        items, size, extra = n_questions, args.batch_size, ["--corpora.train.split_questions", "true"]
    else:
        items, size, extra = len(train), args.paragraphs_per_batch, []
    total = math.ceil(items / size) * args.epochs
    command = [
        sys.executable, "-m", "spacy", "train", str(REPO / "configs" / "qa.cfg"), "--output", str(out_dir),
        "--paths.train", str(args.train), "--paths.dev", str(args.dev), "--paths.checkpoint", str(checkpoint),
        "--training.max_steps", str(total), "--training.eval_frequency", str(args.eval_frequency or total),
        "--training.batcher.size", str(size), "--training.optimizer.learn_rate.initial_rate", str(args.lr),
        "--training.optimizer.learn_rate.warmup_ratio", str(args.warmup), "--training.dropout", "0.1",
        "--system.seed", str(args.seed), "--components.bert_qa.max_seq_len", str(args.max_seq_len),
        "--components.bert_qa.doc_stride", str(args.doc_stride), "--corpora.train.limit", str(args.limit), "--gpu-id", "-1", *extra,
    ]
    print("ours  " + " ".join(command[1:]), flush=True)
    started = time.time()
    subprocess.run(command, check=True)
    train_s = time.time() - started
    return {"side": "ours", "batching": args.batching, "steps": total, "train_s": round(train_s), **evaluate(str(Path(out_dir) / "model-last"), dev_path)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", choices=["both", "ours", "hf"], default="both")
    parser.add_argument("--batching", choices=["questions", "paragraphs"], default="questions")
    parser.add_argument("--checkpoint", default="minilm", help="a directory, 'minilm', a ../shared/models name or a hub id found offline")
    parser.add_argument("--train", default=None, help="default ../shared/data/xquad/train.json")
    parser.add_argument("--dev", default=None, help="default ../shared/data/xquad/dev.json")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--paragraphs-per-batch", type=int, default=3)
    parser.add_argument("--max-seq-len", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="first N train paragraphs (0: all; a smoke test)")
    parser.add_argument("--eval-frequency", type=int, default=0, help="ours: spacy train's dev scoring every N steps (0: at the end)")
    parser.add_argument("--out", default=None, help="keep the trained models here (default: a temporary directory)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from spacy_bert.pipeline.qa_squad import read_squad

    machine = print_machine()
    args.train = args.train or str(data_dir("xquad", "train.json"))
    args.dev = args.dev or str(data_dir("xquad", "dev.json"))
    checkpoint = model_dir(args.checkpoint)
    train = read_squad(args.train, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        results = []
        if args.side in ("both", "hf"):
            results.append(run_hf(args, checkpoint, train, args.dev, root / "hf"))
            print(json.dumps({**results[-1], "machine": machine}), flush=True)
        if args.side in ("both", "ours"):
            results.append(run_ours(args, checkpoint, train, args.dev, root / f"ours-{args.batching}"))
            print(json.dumps({**results[-1], "machine": machine}), flush=True)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, lr {args.lr}, warm-up {args.warmup}, batch {args.batch_size}, "
          f"{args.epochs} epochs, windows {args.max_seq_len}/{args.doc_stride}, seed {args.seed}")


if __name__ == "__main__":
    main()
