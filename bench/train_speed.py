"""Training speed (issue 25): words/s of one training step on identical batches, per side.

    python -m bench.train_speed                                   # every side, 2 rounds
    python -m bench.train_speed --sides bert_ner bert_ner-numpy hf --batches 10 --rounds 1
    python -m bench.train_speed --data assets/wnut17-demo/train.conll   # the committed slice
    python -m bench.train_speed --sides bert_ner bert+ner --train-precision float32 bfloat16

The same batches for every side: the WNUT-17 train sentences (../shared/data/wnut17, or
--data) shuffled with a fixed seed, --warmup batches (untimed) then --batches timed batches of
--batch-size sentences. A step is what `spacy train` runs per batch: `nlp.update(batch,
sgd=False, drop=0.1)`, every component's `finish_update(sgd)`, `sgd.step_schedules()`; for
the loop, the same on the tokenized batch. Sides (each in a fresh process, so that peak RSS
is its own; the sides alternate round by round and the medians are shown):

- bert_ner: configs/ner.cfg (its component and `[training.optimizer]`: spacy-bert.AdamW.v1);
- bert+ner: configs/ner_listener.cfg (`bert` + spaCy's `ner` on the listener);
- bert_textcat: configs/textcat.cfg, two classes (whether the sentence has an entity);
- `<side>-numpy`: the same with `fused = false` (the optimizer's per-parameter numpy path
  of earlier versions), for before/after in one run;
- `--train-precision float32 bfloat16`: each of our sides once per value, as `<side>@<value>`
  (`train_precision` of every encoder block: bf16 autocast of training on the CPU, fp32
  weights; `layers/precision/training.py`), for bf16 against fp32 on the same batches;
- hf: the plain transformers loop: `BertForTokenClassification`, the Trainer's AdamW groups
  (`torch.optim.AdamW`), `clip_grad_norm_(1.0)`, linear warm-up/decay, labels on each
  word's first piece (`spacy_bert.hf_reference.word_piece_labels`), dropout 0.1 (the
  checkpoint's);
- spacy-transformers: its `transformer` (window 128, stride 96) + spaCy `ner` on its listener,
  thinc's `Adam.v1` as its configs use; skipped, with the reason, when it is not installed
  (`pip install -r bench/requirements-spacy-transformers.txt` in a separate venv: it needs
  transformers < 4.53.3).

Phases per step: forward (ours: the `forward` stage of `spacy_bert.layers.stages.timing`;
the loop and spacy-transformers: forward hooks on the torch model), backward (every
`torch.autograd.backward` call, which thinc's shim and `Tensor.backward` both make: timed by
wrapping it in this process), optimizer (`finish_update` with the global clipping; the loop's
clip + step + zero_grad) and the rest, outside torch (tokenization, alignment, losses, heads
in numpy, spaCy's ner). The model is all-MiniLM-L6-v2 (`--model`, see bench/harness.py).
"loss" is the mean training loss of the last 5 timed batches (the same batches for every
side; dropout differs by side, so compare a side with itself, e.g. fp32 with bf16).
"""
import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from bench.harness import REPO, Timers, cpu_name, data_dir, git_commit, model_dir, peak_rss_mib, print_machine, run_child

CONFIGS = {"bert_ner": "ner.cfg", "bert+ner": "ner_listener.cfg", "bert_textcat": "textcat.cfg"}
SIDES = ("bert_ner", "bert_ner-numpy", "bert+ner", "bert+ner-numpy", "bert_textcat", "hf", "spacy-transformers")
PHASES = ("forward", "backward", "optimizer", "outside")
#: Learning rate of the loop and of spacy-transformers (ours: the configs' schedules).
LR = 1e-4
CATS = ("ENTITY", "NONE")
TRAIN_PRECISIONS = ("float32", "bfloat16", "auto")
#: The architectures whose model block holds `train_precision` (the shim's).
SHIM_ARCHITECTURES = ("spacy-bert.BertEncoder.v1", "spacy-bert.BertTokenVectors.v1", "spacy-bert.MaskedLM.v1", "spacy-bert.BertQuestionAnswering.v1")
#: Timed batches whose mean loss is reported.
LOSS_BATCHES = 5


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sides", nargs="+", default=list(SIDES), choices=SIDES)
    p.add_argument("--batches", type=int, default=30, help="timed batches per side and round")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches before them")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", default=None, help="a CoNLL file (default: ../shared/data/wnut17/wnut17train.conll)")
    p.add_argument("--model", default="minilm")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--train-precision", nargs="+", default=["float32"], choices=TRAIN_PRECISIONS,
                   help="train_precision of our sides; several: each side once per value (<side>@<value>)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- the batches -------------------------------------------------------------------------------------
def sentences(path, count, vocab):
    """The first `count` sentences (reference Docs) of the CoNLL file after a seeded shuffle."""
    from bench.training import load_docs

    docs = [d for d in load_docs(path, vocab, 0) if len(d)]
    random.Random(0).shuffle(docs)
    if len(docs) < count:
        raise SystemExit(f"{path} has {len(docs)} sentences; {count} are needed (fewer --batches or a smaller --batch-size)")
    return docs[:count]


def examples_of(nlp, docs, textcat):
    """`spacy train`'s examples: the predicted Doc from the text, the reference from the file."""
    from spacy.training import Example

    out = []
    for ref in docs:
        if textcat:
            ref.cats = {c: float((c == "ENTITY") == bool(ref.ents)) for c in CATS}
        out.append(Example(nlp.make_doc(ref.text), ref))
    return out


# -- backward timing -----------------------------------------------------------------------------
def time_backward(timers):
    """Wrap `torch.autograd.backward` (looked up at call time by thinc's shim and by
    `Tensor.backward`) so that every backward pass counts as the phase "backward"."""
    import torch

    original = torch.autograd.backward
    torch.autograd.backward = timers.wrap("backward", original)


# -- the sides ---------------------------------------------------------------------------------------
def set_train_precision(block, value):
    """Set `train_precision` in every shim block of the config dict `block` (in place)."""
    if block.get("@architectures") in SHIM_ARCHITECTURES:
        block["train_precision"] = value
    for child_block in block.values():
        if isinstance(child_block, dict):
            set_train_precision(child_block, value)


def ours(side, job, docs):
    """(step function, word count function) for one of our configs."""
    import spacy
    from spacy.util import load_config, load_model_from_config, registry

    import spacy_bert  # noqa: F401  (registers the factories)

    side, _, train_precision = side.partition("@")
    base, _, variant = side.partition("-")
    config = load_config(REPO / "configs" / CONFIGS[base], overrides={"paths.checkpoint": job["model_dir"], "training.max_steps": job["steps"]}, interpolate=True)
    if train_precision:
        set_train_precision(config["components"], train_precision)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = examples_of(nlp, docs, textcat=base == "bert_textcat")
    nlp.initialize(lambda: examples)
    training = config["training"]
    optimizer = dict(training["optimizer"])
    if variant == "numpy":
        optimizer["fused"] = False
    sgd = registry.resolve({"o": optimizer})["o"]
    dropout = training["dropout"]
    timers = job["timers"]
    procs = [proc for _, proc in nlp.pipeline if getattr(proc, "is_trainable", False)]

    def step(batch):
        losses = {}
        nlp.update(batch, drop=dropout, sgd=False, losses=losses)
        with timers("optimizer"):
            for proc in procs:
                proc.finish_update(sgd)
        sgd.step_schedules()
        return float(sum(losses.values()))

    from spacy_bert.layers.stages.timing import record_stages

    job["stage_context"] = lambda: record_stages(timers.add)
    return step, examples


def hf_loop(job, docs):
    import torch
    import transformers

    from bench.harness import ForwardMeter
    from bench.training import hf_adamw

    labels = sorted({ent.label_ for doc in docs for ent in doc.ents})
    rows = ["O"] + [f"{p}-{label}" for label in labels for p in "BI"]
    model = transformers.BertForTokenClassification.from_pretrained(job["model_dir"], num_labels=len(rows))
    tokenizer = transformers.BertTokenizerFast.from_pretrained(job["model_dir"])
    model.train()
    optimizer = hf_adamw(model, LR)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, max(1, job["steps"] // 10), job["steps"])
    timers = job["timers"]
    job["forward_meter"] = ForwardMeter(model)

    def encode(batch):
        """The words of each sentence, labels (BIO rows) on each word's first piece, -100 elsewhere."""
        enc = tokenizer([[t.text for t in doc] for doc in batch], is_split_into_words=True, return_tensors="pt", padding=True)
        y = torch.full(enc["input_ids"].shape, -100)
        for row, doc in enumerate(batch):
            tags = [rows.index(f"{t.ent_iob_}-{t.ent_type_}") if t.ent_type_ else 0 for t in doc]
            seen = set()
            for i, w in enumerate(enc.word_ids(row)):
                if w is not None and w not in seen:
                    seen.add(w)
                    y[row, i] = tags[w]
        return enc, y

    def step(batch):
        enc, y = encode(batch)
        loss = model(**enc, labels=y).loss
        loss.backward()
        with timers("optimizer"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        return float(loss.detach())

    return step, docs


def spacy_transformers_side(job, docs):
    import spacy
    from spacy.util import registry

    import spacy_transformers  # noqa: F401  (ImportError: the side is skipped)
    from bench.harness import ForwardMeter
    from bench.training import THINC_ADAM

    nlp = spacy.blank("en")
    span_getter = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96}
    model = {"@architectures": "spacy-transformers.TransformerModel.v3", "name": job["model_dir"], "tokenizer_config": {"use_fast": True},
             "transformer_config": {}, "mixed_precision": False, "grad_scaler_config": {}, "get_spans": span_getter}
    nlp.add_pipe("transformer", config={"model": model})
    listener = {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0, "upstream": "*", "pooling": {"@layers": "reduce_mean.v1"}}
    ner_model = {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False, "hidden_width": 64,
                 "maxout_pieces": 2, "use_upper": False, "nO": None, "tok2vec": listener}
    nlp.add_pipe("ner", config={"model": ner_model})
    examples = examples_of(nlp, docs, textcat=False)
    nlp.initialize(lambda: examples)
    rate = {"@schedules": "warmup_linear.v1", "warmup_steps": max(1, job["steps"] // 10), "total_steps": job["steps"], "initial_rate": LR}
    sgd = registry.resolve({"o": dict(THINC_ADAM, learn_rate=rate)})["o"]
    timers = job["timers"]
    torch_model = next(shim._model for node in nlp.get_pipe("transformer").model.walk() for shim in node.shims)
    job["forward_meter"] = ForwardMeter(torch_model)
    procs = [proc for _, proc in nlp.pipeline]

    def step(batch):
        losses = {}
        nlp.update(batch, drop=0.1, sgd=False, losses=losses)
        with timers("optimizer"):
            for proc in procs:
                proc.finish_update(sgd)
        sgd.step_schedules()
        return float(sum(losses.values()))

    return step, examples


def child(job):
    """Build one side, warm up, time the batches; print `RESULT {...}`."""
    import contextlib

    import spacy
    import torch

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    spacy.util.fix_random_seed(0)
    torch.manual_seed(0)
    count = (job["warmup"] + job["batches"]) * job["batch_size"]
    docs = sentences(job["data"], count, spacy.blank("en").vocab)
    job["steps"] = job["warmup"] + job["batches"]
    timers = job["timers"] = Timers()
    side = job["side"]
    if side == "hf":
        step, items = hf_loop(job, docs)
    elif side == "spacy-transformers":
        step, items = spacy_transformers_side(job, docs)
    else:
        step, items = ours(side, job, docs)
    size = job["batch_size"]
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    for batch in batches[: job["warmup"]]:
        step(batch)
    time_backward(timers)
    timers.seconds.clear()
    meter = job.get("forward_meter")
    if meter is not None:
        meter.seconds = 0.0
    stages = job.get("stage_context", contextlib.nullcontext)
    words = 0
    losses = []
    start = time.perf_counter()
    with stages():
        for batch in batches[job["warmup"] :]:
            words += sum(len(eg.reference) if hasattr(eg, "reference") else len(eg) for eg in batch)
            losses.append(step(batch))
    seconds = time.perf_counter() - start
    forward = meter.seconds if meter is not None else timers.seconds.get("forward", 0.0)
    phases = {"forward": forward, "backward": timers.seconds.get("backward", 0.0), "optimizer": timers.seconds.get("optimizer", 0.0)}
    phases["outside"] = seconds - sum(phases.values())
    loss = statistics.mean(losses[-LOSS_BATCHES:])
    print("RESULT " + json.dumps({"side": side, "words": words, "seconds": seconds, "phases": phases, "loss": loss, "peak_rss_mib": peak_rss_mib()}), flush=True)


# -- the parent --------------------------------------------------------------------------------------
def available(side):
    """None, or why the side cannot run here."""
    if side != "spacy-transformers":
        return None
    try:
        import spacy_transformers  # noqa: F401
    except ImportError as err:
        return f"spacy-transformers is not installed ({err}); in a separate venv: pip install -r bench/requirements-spacy-transformers.txt"
    return None


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    state = print_machine(args.threads)
    data = Path(args.data) if args.data else data_dir("wnut17", "wnut17train.conll")
    sides = []
    for side in args.sides:
        reason = available(side)
        if reason:
            print(f"skipped {side}: {reason}")
        elif side in ("hf", "spacy-transformers") or args.train_precision == ["float32"]:
            sides.append(side)
        else:
            sides.extend(f"{side}@{value}" for value in args.train_precision)
    job = {"batches": args.batches, "warmup": args.warmup, "batch_size": args.batch_size, "data": str(data), "model_dir": model_dir(args.model), "threads": args.threads}
    results = {side: [] for side in sides}
    for r in range(args.rounds):
        for side in sides:
            result = run_child(dict(job, side=side), side, "bench.train_speed")
            results[side].append(result)
            print(f"  round {r + 1} {side:16s} {result['words'] / result['seconds']:8.0f} words/s  (other cores busy {result['other_cores']:.2f})", flush=True)
    print(f"\n{args.batches} batches of {args.batch_size} sentences after {args.warmup} warm-up, {data.name}, median of {args.rounds} round(s); "
          f"CPU {cpu_name()}, commit {git_commit()}")
    print(f"| side | words/s | {' | '.join(f'{p} %' for p in PHASES)} | optimizer ms/step | loss | peak RSS MiB |")
    print("|---|---|" + "---|" * len(PHASES) + "---|---|---|")
    for side in sides:
        runs = results[side]
        seconds = statistics.median(r["seconds"] for r in runs)
        words = runs[0]["words"]
        shares = [statistics.median(r["phases"][p] / r["seconds"] for r in runs) * 100 for p in PHASES]
        opt_ms = statistics.median(r["phases"]["optimizer"] for r in runs) / args.batches * 1000
        rss = max(r["peak_rss_mib"] for r in runs)
        loss = statistics.median(r["loss"] for r in runs)
        print(f"| {side} | {words / seconds:,.0f} | {' | '.join(f'{s:.0f}' for s in shares)} | {opt_ms:.0f} | {loss:.3f} | {rss:,.0f} |")
    print(json.dumps({"machine": state, "results": results}), file=sys.stderr)


if __name__ == "__main__":
    main()
