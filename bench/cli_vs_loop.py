"""`spacy train configs/ner.cfg` (the real CLI) against the in-process loop of training_parity.py.

    python -m bench.cli_vs_loop                                  # 1,000 WNUT-17 sentences, 64 steps of 32
    python -m bench.cli_vs_loop --modes cli replica             # is the CLI the loop, batch for batch?
    python -m bench.cli_vs_loop --schedule issue --optimizer thinc-adam   # the configs of the issue's run

The same data (the first --limit WNUT-17 train sentences, the first --dev-limit dev sentences,
spacy_bert's CoNLL reader, written to .spacy files) and configs/ner.cfg with a 32-sentence
batcher (`spacy.batch_by_sequence.v1`, size 32: the shipped `batch_by_words.v1` counts words,
so `--training.batcher.size 32` alone gives batches of about 2 tweets), `training.max_steps`
and `training.eval_frequency` set, run three ways:

- cli: `python -m spacy train CONFIG --output DIR --gpu-id -1` in a subprocess; the dev scores
  are read from its console table.
- replica: in this process, what spaCy's `train()` does step for step (`fix_random_seed` again
  after `init_nlp`, `create_train_batches`: `random.shuffle` of all examples every epoch, then
  the config's batcher; each batch sorted by length (`subdivide_batch`); update,
  `finish_update`, `step_schedules`; evaluation when
  `step % eval_frequency == 0` with `step` counted from 0; stop after step `max_steps`, i.e.
  max_steps + 1 updates) with training_parity.py's update code, and `nlp.to_disk` after each
  evaluation as `spacy train` saves model-last (`--replica-no-save` leaves it out). Saving
  matters: a task component's `to_disk` builds a Hugging Face model (`build_hf_model`), whose
  random initialisation draws from torch's RNG, so the encoder's later dropout masks differ.
  With the sort and the saves the replica gives the CLI's scores and logged losses (96
  sentences, 6 steps: F1 1.46 / 3.12 / 0 / 0, loss 2.61 / 4.76 / 3.89 / 3.34, both); without
  them F1 at step 2 was 1.57 against 3.12: equal in expectation, other random draws.
- bench: training_parity.py's loop (its own `random.Random(seed)` shuffle, exact 32-sentence
  chunks, scores after every --eval-frequency updates counted from 1).

`--schedule issue` restores the schedule block the shipped configs had when issue 10 was filed
(`warmup_linear.v1`, warmup_steps = 200, total_steps = 2000, not tied to max_steps), scaled by
max_steps / 320 (the issue's run was 320 steps); `--optimizer thinc-adam` the `Adam.v1` block of
that time. It prints each mode's dev entity F1 per evaluation, the count of predicted entities,
the learning rate of each evaluated step and wall time.
"""
import argparse
import math
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import REPO, data_dir, model_dir, print_machine
from bench.training import THINC_ADAM, batches_of, load_docs

ISSUE_RUN_STEPS = 320


def build_config(args, paths, checkpoint):
    from spacy.util import load_config

    config = load_config(REPO / "configs" / "ner.cfg", overrides={"paths.train": paths["train"], "paths.dev": paths["dev"], "paths.checkpoint": checkpoint})
    T = config["training"]
    T["batcher"] = {"@batchers": "spacy.batch_by_sequence.v1", "size": args.batch_size, "get_length": None}
    T["max_steps"] = args.max_steps
    T["eval_frequency"] = args.eval_frequency
    T["seed"] = args.seed
    T["dropout"] = 0.1
    rate = dict(T["optimizer"]["learn_rate"])
    if args.optimizer == "thinc-adam":
        T["optimizer"] = dict(THINC_ADAM)
    if args.schedule == "issue":
        scale = args.max_steps / ISSUE_RUN_STEPS
        rate = {"@schedules": "warmup_linear.v1", "warmup_steps": round(200 * scale), "total_steps": round(2000 * scale), "initial_rate": args.lr}
    else:
        rate.update({"initial_rate": args.lr, "total_steps": "${training.max_steps}"})
    T["optimizer"]["learn_rate"] = rate
    return config


def rates_at(config, steps):
    """The schedule's learning rate at each optimizer step of `steps` (counted from 0)."""
    from itertools import islice

    import spacy_bert.pipeline  # noqa: F401  (registers spacy-bert.warmup_linear.v1)
    from spacy.util import registry

    schedule = registry.resolve({"s": config.interpolate()["training"]["optimizer"]["learn_rate"]})["s"]
    if callable(schedule):  # thinc >= 8.2 Schedule
        return {s: float(schedule(step=s)) for s in steps}
    values = list(islice(schedule, max(steps) + 1))  # a generator, one value per step
    return {s: values[s] for s in steps}


def run_cli(args, config_path, out):
    """Scores from `spacy train`'s console table: [(step, ents_f, ents_p, ents_r, loss)], the
    loss summed over the steps since the previous evaluation (the table's LOSS column)."""
    cmd = [sys.executable, "-m", "spacy", "train", str(config_path), "--output", str(out), "--gpu-id", "-1"]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        sys.exit(f"spacy train failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rows = []
    for line in proc.stdout.splitlines():
        # "  0       0         65.08    0.00    0.00    0.00    0.00" : E # LOSS ENTS_F ENTS_P ENTS_R SCORE
        fields = line.split()
        if len(fields) >= 7 and all(re.fullmatch(r"-?[\d.]+", f) for f in fields[:7]):
            rows.append((int(fields[1]), float(fields[3]), float(fields[4]), float(fields[5]), float(fields[2])))
    return rows, time.time() - start


def run_replica(args, config, out):
    import spacy_bert.pipeline  # noqa: F401
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import create_train_batches, subdivide_batch
    from spacy.util import registry, resolve_dot_names
    from thinc.api import fix_random_seed

    start = time.time()
    fix_random_seed(args.seed)
    nlp = init_nlp(config)
    resolved = nlp.config.interpolate()
    fix_random_seed(resolved["training"]["seed"])  # train() seeds again after init_nlp
    T = registry.resolve(resolved["training"])
    train_corpus, dev_corpus = resolve_dot_names(resolved, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    rows, losses = [], {}
    for step, (_, batch) in enumerate(create_train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"])):
        # train_while_improving sorts each batch by length (subdivide_batch): another order of
        # the Docs in the encoder's batches, so other dropout masks for each Doc
        for subbatch in subdivide_batch(batch, T["accumulate_gradient"]):
            nlp.update(subbatch, drop=T["dropout"], sgd=False, losses=losses)
        for _, proc in nlp.pipeline:
            if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                proc.finish_update(optimizer)
        optimizer.step_schedules()
        if step % T["eval_frequency"] == 0:
            scores = nlp.evaluate(dev_corpus(nlp))
            rows.append((step, 100 * scores["ents_f"], 100 * scores["ents_p"], 100 * scores["ents_r"], losses["bert_ner"]))
            losses = {}  # as train_while_improving: the logged loss restarts after each evaluation
            if not args.replica_no_save:
                nlp.to_disk(out)  # spacy train's save_checkpoint (model-last)
            print(f"  replica step {step}: ents_f {rows[-1][1]:.2f}, loss {rows[-1][4]:.2f}", flush=True)
        if step >= T["max_steps"]:
            break
    return rows, time.time() - start


def run_bench(args, config):
    import spacy_bert.pipeline  # noqa: F401
    from spacy.training.initialize import init_nlp
    from spacy.util import registry, resolve_dot_names
    from thinc.api import fix_random_seed

    start = time.time()
    fix_random_seed(args.seed)
    nlp = init_nlp(config)
    resolved = nlp.config.interpolate()
    T = registry.resolve(resolved["training"])
    train_corpus, dev_corpus = resolve_dot_names(resolved, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    examples, dev = list(train_corpus(nlp)), list(dev_corpus(nlp))
    rng, step, rows, losses = random.Random(args.seed), 0, [], {}
    while step < args.max_steps:
        for batch in batches_of(examples, args.batch_size, rng):
            nlp.update(batch, drop=T["dropout"], sgd=False, losses=losses)
            for _, proc in nlp.pipeline:
                if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                    proc.finish_update(optimizer)
            optimizer.step_schedules()
            step += 1
            if step % args.eval_frequency == 0:
                scores = nlp.evaluate(dev)
                rows.append((step, 100 * scores["ents_f"], 100 * scores["ents_p"], 100 * scores["ents_r"], losses["bert_ner"]))
                losses = {}
                print(f"  bench step {step}: ents_f {rows[-1][1]:.2f}", flush=True)
            if step == args.max_steps:
                break
    return rows, time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", nargs="+", choices=["cli", "replica", "bench"], default=["cli", "replica", "bench"])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--dev-limit", type=int, default=300)
    parser.add_argument("--max-steps", type=int, default=64)
    parser.add_argument("--eval-frequency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--optimizer", choices=["shipped", "thinc-adam"], default="shipped")
    parser.add_argument("--schedule", choices=["shipped", "issue"], default="shipped")
    parser.add_argument("--replica-no-save", action="store_true", help="replica without spacy train's nlp.to_disk after each evaluation")
    parser.add_argument("--data", default=None, help="the WNUT-17 folder (default ../shared/data/wnut17)")
    args = parser.parse_args()

    import spacy
    from spacy.tokens import DocBin

    print_machine()
    checkpoint = model_dir()
    wnut = Path(args.data) if args.data else data_dir("wnut17")
    vocab = spacy.blank("en").vocab
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, file, limit in (("train", "wnut17train.conll", args.limit), ("dev", "emerging.dev.conll", args.dev_limit)):
            docs = load_docs(data_dir(file, root=wnut), vocab, limit)
            paths[name] = str(Path(tmp) / f"{name}.spacy")
            DocBin(docs=docs, store_user_data=False).to_disk(paths[name])
        config = build_config(args, paths, checkpoint)
        config_path = Path(tmp) / "ner32.cfg"
        config.to_disk(config_path)
        per_epoch = math.ceil(args.limit / args.batch_size)
        rates = rates_at(config, list(range(0, args.max_steps + 1, args.eval_frequency)))
        print(f"train {args.limit} sentences ({per_epoch} steps per epoch), dev {args.dev_limit}, {args.max_steps} steps of {args.batch_size}, "
              f"optimizer {args.optimizer}, schedule {args.schedule} {dict(config['training']['optimizer']['learn_rate'])}", flush=True)
        print("learning rate at steps: " + ", ".join(f"{s}: {r:.2e}" for s, r in rates.items()), flush=True)
        for mode in args.modes:
            if mode == "cli":
                rows, seconds = run_cli(args, config_path, Path(tmp) / "out")
            elif mode == "replica":
                rows, seconds = run_replica(args, config, Path(tmp) / "replica-last")
            else:
                rows, seconds = run_bench(args, config)
            table = ", ".join(f"step {s}: F {f:.2f} (P {p:.2f} R {r:.2f}, loss {l:.2f})" for s, f, p, r, l in rows)
            print(f"{mode:<8} {seconds:.0f} s; {table}", flush=True)


if __name__ == "__main__":
    main()
