"""Dev scores of one trained pipeline in each inference precision (fp32, int8, bf16, ...).

    python -m bench.precision_accuracy PIPELINE --data sst2            # bert_textcat: accuracy, macro F
    python -m bench.precision_accuracy PIPELINE --data wnut17          # bert_ner: ents P/R/F
    python -m bench.precision_accuracy PIPELINE --data xquad           # bert_qa: official EM / F1
    python -m bench.precision_accuracy OUT --train sst2 --train-steps 300   # first fine-tune a quick
                                                                       # bert_textcat on MiniLM, save to OUT

The same loaded pipeline (the same fp32 weights) is evaluated once per precision, switched
with `spacy_bert.pipeline.set_precision` (no reload), on the same dev set from ../shared/data:
SST-2 dev (872 sentences), WNUT-17 dev (`emerging.dev.conll`, 1,009 sentences) or XQuAD
dev (`xquad/dev.json`: 40 contexts, 170 questions, scored by `spacy bert evaluate-qa`'s code). The table
shows each score, its difference from fp32 in points, the issue's goal (within 0.5 point),
words/s of the evaluation pass and the CPU flags (bf16 is emulated, and slow, without
avx512_bf16/amx_bf16).

`--train` is a convenience for a machine without trained pipelines: a short fine-tune (the
first N shuffled training sentences, batch 16, Adam 5e-5, our fp32 training path) whose
scores are lower than a full `spacy train` run, but whose precisions compare all the same.
"""
import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.harness import data_dir, model_dir, print_machine

PRECISIONS = ("float32", "int8", "bfloat16", "auto")


def dev_examples(nlp, data: str, n_docs: int):
    """The dev Examples (sst2, wnut17), or for xquad the dev contexts (evaluate_qa reads the file)."""
    from spacy.tokens import Doc
    from spacy.training import Example

    if data == "xquad":
        from spacy_bert.pipeline.qa_squad import read_squad

        return [context for context, _, _ in read_squad(data_dir("xquad", "dev.json"))]
    if data == "sst2":
        from spacy_bert.corpora import read_sst2

        records = list(read_sst2(data_dir("sst2", "dev.tsv")))[: n_docs or None]
        return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in records]
    from spacy_bert.corpora.conll import conll_to_docs

    golds = list(conll_to_docs(data_dir("wnut17", "emerging.dev.conll"), nlp.vocab))[: n_docs or None]
    return [Example(Doc(nlp.vocab, words=[t.text for t in g], spaces=[bool(t.whitespace_) for t in g]), g) for g in golds]


def score(nlp, examples, data: str, batch_size: int) -> dict:
    if data == "xquad":
        from spacy_bert.pipeline.qa_evaluate import evaluate_qa

        result = evaluate_qa(nlp, data_dir("xquad", "dev.json"), batch_size=batch_size)
        words = sum(len(nlp.make_doc(context)) for context in examples)
        return {"F1": result["scores"]["f1"], "EM": result["scores"]["exact"], "words/s": words / result["seconds"]}
    start = time.perf_counter()
    docs = list(nlp.pipe([eg.predicted for eg in examples], batch_size=batch_size))
    seconds = time.perf_counter() - start
    words = sum(len(doc) for doc in docs)
    from spacy.training import Example

    scored = [Example(doc, eg.reference) for doc, eg in zip(docs, examples)]
    if data == "sst2":
        from spacy.scorer import Scorer

        gold = [max(eg.reference.cats, key=eg.reference.cats.get) for eg in examples]
        pred = [max(doc.cats, key=doc.cats.get) for doc in docs]
        macro = Scorer.score_cats(scored, "cats", labels=sorted(examples[0].reference.cats), multi_label=False, threshold=0.0)["cats_macro_f"]
        return {"accuracy": 100 * float(np.mean([g == p for g, p in zip(gold, pred)])), "macro F": 100 * macro, "words/s": words / seconds}
    from spacy.scorer import get_ner_prf

    prf = get_ner_prf(scored)
    return {"ents F": 100 * prf["ents_f"], "ents P": 100 * prf["ents_p"], "ents R": 100 * prf["ents_r"], "words/s": words / seconds}


def quick_train(out: Path, data: str, steps: int, seed: int = 0) -> None:
    """Fine-tune a `bert_textcat` (sst2) on MiniLM for `steps` updates and save it to `out`."""
    import spacy
    from spacy.training import Example
    from thinc.api import Adam, fix_random_seed

    from spacy_bert.corpora import read_sst2

    if data != "sst2":
        sys.exit("--train supports sst2 only (train bert_ner with `spacy train configs/ner.cfg`)")
    fix_random_seed(seed)
    records = list(read_sst2(data_dir("sst2", "train.tsv")))
    random.Random(seed).shuffle(records)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_textcat", config={"checkpoint": model_dir()})
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": c}) for t, c in records[: steps * 16]]
    optimizer = nlp.initialize(lambda: examples[:64], sgd=Adam(5e-5))
    start = time.perf_counter()
    losses = []
    for step in range(steps):
        batch = examples[step * 16 : (step + 1) * 16]
        losses.append(nlp.update(batch, sgd=optimizer, drop=0.1, losses={})["bert_textcat"])
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{steps}: loss {statistics.mean(losses[-50:]):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    nlp.to_disk(out)
    print(f"saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", type=Path, help="a saved pipeline with bert_textcat (sst2), bert_ner (wnut17) or bert_qa (xquad)")
    parser.add_argument("--data", required=True, choices=["sst2", "wnut17", "xquad"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8", "bfloat16"], choices=list(PRECISIONS))
    parser.add_argument("--n-docs", type=int, default=0, help="first N dev docs (default all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--train", choices=["sst2"], help="first fine-tune a quick pipeline and save it to PIPELINE")
    parser.add_argument("--train-steps", type=int, default=300)
    args = parser.parse_args()

    import spacy
    import torch

    import spacy_bert.pipeline  # noqa: F401  (registers the factories without the entry points)
    from spacy_bert.layers.precision.policy import NATIVE_BF16_FLAGS, auto_precision, cpu_flags
    from spacy_bert.pipeline import set_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    print_machine()
    if args.train:
        quick_train(args.pipeline, args.train, args.train_steps)
    nlp = spacy.load(args.pipeline)
    examples = dev_examples(nlp, args.data, args.n_docs)
    flags = cpu_flags()
    print(f"pipeline {args.pipeline} ({', '.join(nlp.pipe_names)}); {len(examples)} {args.data} dev docs; torch threads {torch.get_num_threads()}")
    print(f"CPU native bf16: {'yes' if flags & NATIVE_BF16_FLAGS else 'no'}; VNNI: {'yes' if flags & {'avx512_vnni', 'avx_vnni'} else 'no'}; "
          f"AVX-512: {'yes' if 'avx512f' in flags else 'no'}; 'auto' resolves to {auto_precision('cpu')}\n", flush=True)
    results = {}
    for precision in ["float32"] + [p for p in args.precisions if p != "float32"]:
        set_precision(nlp, precision)
        results[precision] = score(nlp, examples, args.data, args.batch_size)
        print(f"{precision}: " + ", ".join(f"{k} {v:,.2f}" for k, v in results[precision].items()), flush=True)
    main_key = {"sst2": "accuracy", "wnut17": "ents F", "xquad": "F1"}[args.data]
    print(f"\n{'precision':<10} {main_key:>9} {'vs fp32':>8} {'words/s':>9} {'goal (within 0.5 point)':>24}")
    for precision, r in results.items():
        delta = r[main_key] - results["float32"][main_key]
        goal = "-" if precision == "float32" else ("met" if abs(delta) <= 0.5 else "NOT met")
        print(f"{precision:<10} {r[main_key]:>9.2f} {delta:>+8.2f} {r['words/s']:>9,.0f} {goal:>24}")


if __name__ == "__main__":
    main()
