"""bert_qa as a reader over many documents (issue 27): calibration error and across-document
ranking on XQuAD dev.

    OMP_NUM_THREADS=1 python -m bench.qa_reader PIPELINE [--holdout 0.2] [--limit N]

1. Calibration: `calibrate_qa` on XQuAD dev (paragraphs split, every 1/holdout-th held out):
   expected calibration error (10 bins) of each question's best answer, before (Hugging Face's
   `score` read as a probability) and after (`calibrated_score`), on both splits.
2. Across documents: every dev question asked over ALL dev paragraphs (each paragraph's top 5
   answers, by the component's scoring), answers of all paragraphs ranked by raw `score` and by
   `calibrated_score`: top-1 / top-5 accuracy of the answer's paragraph (is it the question's
   own paragraph) and SQuAD F1 / EM of the top answer. (The calibration was fitted on the
   fitting split of these questions' top answers in their own paragraph; the held-out rows are
   reported apart.)
"""
import argparse
import dataclasses
import json
import time

from bench.harness import data_dir, print_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--limit", type=int, default=0, help="questions for the across-document table (0: all)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    import spacy

    import spacy_bert.pipeline  # noqa: F401
    from spacy_bert.pipeline.qa_calibration import apply_calibration
    from spacy_bert.pipeline.qa_fit import calibrate_qa, held_out
    from spacy_bert.pipeline.qa_metrics import question_scores
    from spacy_bert.pipeline.qa_squad import read_squad

    print_machine()
    dev = data_dir("xquad", "dev.json")
    nlp = spacy.load(args.pipeline)
    started = time.perf_counter()
    report = calibrate_qa(nlp, dev, holdout=args.holdout)
    fit_seconds = time.perf_counter() - started
    qa = nlp.get_pipe("bert_qa")
    cal = qa.calibration
    summary = {"calibration": report["calibration"], "choice": report["choice"], "fit_seconds": fit_seconds}
    for split in ("fit", "held_out"):
        part = report[split]
        summary[split] = {k: part[k] for k in ("questions", "exact", "ece_before", "ece_after")}
        summary[split]["reliability_before"] = part["reliability_before"]
        summary[split]["reliability_after"] = part["reliability_after"]

    paragraphs = read_squad(dev)
    contexts = [c for c, _, _ in paragraphs]
    questions = [(i, q["question"], [a["answer"] for a in gold[q["id"]]]) for i, (_, qs, gold) in enumerate(paragraphs) for q in qs]
    if args.limit:
        questions = questions[: args.limit]
    settings = dataclasses.replace(qa.decode_settings, top_k=5)
    rows = {"score": [], "calibrated_score": []}
    started = time.perf_counter()
    for own, question, gold in questions:
        found = []
        for b in range(0, len(contexts), 16):
            batch = contexts[b : b + 16]
            windows = qa.run_windows(batch, [question] * len(batch))
            for j, answers in enumerate(qa.decode(windows, batch, settings=settings, raw=True)):
                spans = [dict(a) for a in answers if a["answer"]]
                apply_calibration(spans, cal)
                found.extend({"document": b + j, **a} for a in spans)
        for key in rows:
            ranked = sorted(found, key=lambda a: -a[key])
            top = ranked[0] if ranked else None
            exact, f1 = question_scores(gold, top["answer"]) if top else (0.0, 0.0)
            rows[key].append(
                {
                    "held_out": held_out(own, args.holdout),
                    "top1_paragraph": bool(top and top["document"] == own),
                    "top5_paragraph": any(a["document"] == own for a in ranked[:5]),
                    "exact": exact,
                    "f1": f1,
                }
            )
    search_seconds = time.perf_counter() - started
    table = {}
    for key, part in rows.items():
        for name, sel in (("all", part), ("held_out", [r for r in part if r["held_out"]])):
            n = max(1, len(sel))
            table[f"{key}/{name}"] = {
                "questions": len(sel),
                "top1_paragraph": sum(r["top1_paragraph"] for r in sel) / n,
                "top5_paragraph": sum(r["top5_paragraph"] for r in sel) / n,
                "exact": sum(r["exact"] for r in sel) / n,
                "f1": sum(r["f1"] for r in sel) / n,
            }
    summary["across_documents"] = table
    summary["paragraphs"] = len(contexts)
    summary["search_seconds"] = search_seconds
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
