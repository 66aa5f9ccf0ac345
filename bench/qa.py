"""bert_qa on XQuAD: training quality (EM/F1, wall time) and prediction speed against transformers.

    # fine-tune all-MiniLM-L6-v2 on XQuAD train with configs/qa.cfg (2 epochs, lr 1e-4), then
    # evaluate on dev (EM/F1, seconds):
    OMP_NUM_THREADS=1 python -m bench.qa train --output training/xquad --lr 1e-4 --epochs 2
    # questions per second on the XQuAD dev contexts: bert_qa vs a transformers loop (tokenizer +
    # BertForQuestionAnswering, batched, padded to the longest, the same post-processing):
    OMP_NUM_THREADS=1 python -m bench.qa speed training/xquad/model-last

Numbers depend on the machine's load; say how it was loaded when reporting them.
"""
import argparse
import json
import math
import time
from pathlib import Path

from bench.harness import REPO, data_dir, model_dir, print_machine


def train(args) -> None:
    from spacy.cli.train import train as spacy_train

    import spacy_bert.pipeline  # noqa: F401
    from spacy_bert.pipeline.qa_evaluate import evaluate_qa
    from spacy_bert.pipeline.qa_squad import read_squad

    paragraphs = len(read_squad(data_dir("xquad", "train.json")))
    steps = args.epochs * math.ceil(paragraphs / args.batch_paragraphs)
    overrides = {
        "paths.train": str(data_dir("xquad", "train.json")),
        "paths.dev": str(data_dir("xquad", "dev.json")),
        "paths.checkpoint": model_dir(args.checkpoint) if args.checkpoint else model_dir(),
        "training.max_steps": steps,
        "training.eval_frequency": steps,
        "training.batcher.size": args.batch_paragraphs,
        "training.optimizer.learn_rate.initial_rate": args.lr,
        "training.optimizer.learn_rate.total_steps": steps,
        "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
    }
    started = time.perf_counter()
    spacy_train(REPO / "configs" / "qa.cfg", Path(args.output), use_gpu=-1, overrides=overrides)
    train_seconds = time.perf_counter() - started
    result = evaluate_qa(Path(args.output) / "model-last", data_dir("xquad", "dev.json"), Path(args.output) / "dev-metrics.json")
    report = {"steps": steps, "train_seconds": train_seconds, **{k: result["scores"][k] for k in ("exact", "f1", "total")}, "eval_seconds": result["seconds"]}
    print(json.dumps(report, indent=2))
    (Path(args.output) / "bench.json").write_text(json.dumps(report, indent=2))


def speed(args) -> None:
    import numpy as np
    import spacy
    import torch
    import transformers

    import spacy_bert.pipeline  # noqa: F401
    from spacy_bert.pipeline.export import export_component
    from spacy_bert.pipeline.qa_decode import DecodeSettings, WindowView, decode_squad
    from spacy_bert.pipeline.qa_squad import read_squad

    nlp = spacy.load(args.pipeline)
    qa = nlp.get_pipe("bert_qa")
    paragraphs = read_squad(data_dir("xquad", "dev.json"))
    n_questions = sum(len(q) for _, q, _ in paragraphs)
    docs = []
    for context, questions, _ in paragraphs:
        doc = nlp.make_doc(context)
        doc._.questions = questions
        docs.append(doc)
    started = time.perf_counter()
    ours = list(nlp.pipe(docs, batch_size=16))
    ours_seconds = time.perf_counter() - started

    # our padding share: the component's windows packed as it packs them
    from spacy_bert.layers.stages.batching import padding_ratio, plan_batches

    contexts = [c for c, qs, _ in paragraphs for _ in qs]
    windows = qa.run_windows(contexts, [q["question"] for _, qs, _ in paragraphs for q in qs])
    ours_padding = padding_ratio(windows.plan.positions, plan_batches(windows.plan.positions, qa.cfg["max_batch_items"]))

    hf_dir = Path(args.pipeline) / "_hf_export"
    export_component(nlp, "bert_qa", hf_dir)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(hf_dir)
    model = transformers.BertForQuestionAnswering.from_pretrained(hf_dir).eval()
    settings = DecodeSettings(scoring="squad")
    pairs = [(q["question"], context, q["id"]) for context, questions, _ in paragraphs for q in questions]
    started = time.perf_counter()
    hf_answers, real, padded = {}, 0, 0
    for i in range(0, len(pairs), args.batch):
        chunk = pairs[i : i + args.batch]
        enc = tokenizer([q for q, _, _ in chunk], [c for _, c, _ in chunk], truncation="only_second", max_length=qa.cfg["max_seq_len"],
                        stride=qa.cfg["doc_stride"], return_overflowing_tokens=True, return_offsets_mapping=True, padding="longest", return_tensors="pt")
        with torch.inference_mode():
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"])
        real += int(enc["attention_mask"].sum())
        padded += enc["attention_mask"].numel()
        views = {}
        for f, sample in enumerate(enc["overflow_to_sample_mapping"].tolist()):
            seq = enc.sequence_ids(f)
            ctx = [j for j, s in enumerate(seq) if s == 1]
            n = int(enc["attention_mask"][f].sum())
            offsets = enc["offset_mapping"][f][ctx].numpy()
            views.setdefault(sample, []).append(WindowView(out.start_logits[f, :n].numpy(), out.end_logits[f, :n].numpy(), ctx[0], offsets, np.ones(len(ctx), dtype=bool)))
        for sample, vs in views.items():
            _, context, qid = chunk[sample]
            hf_answers[qid] = decode_squad(context, vs, settings)
    hf_seconds = time.perf_counter() - started
    same = sum(1 for doc in ours for qid, found in doc._.answers.items() if found and hf_answers.get(qid) and found[0]["answer"] == hf_answers[qid][0]["answer"])
    report = {
        "questions": n_questions,
        "bert_qa_qps": n_questions / ours_seconds,
        "transformers_qps": n_questions / hf_seconds,
        "speedup": hf_seconds / ours_seconds,
        "transformers_padding_share": 1 - real / padded,
        "bert_qa_padding_share": ours_padding,
        "same_best_answer": same,
    }
    print(json.dumps(report, indent=2))


# -- QuestionAnsweringPipeline (transformers 4.x) parity --------------------------------------
# transformers 5 removed the pipeline; `.bench-venv` has transformers 4.x. Run the first command
# there, the second here:
#   .bench-venv/bin/python -m bench.qa hf-pipeline HF_QA_DIR hf-answers.json [--top-k 3 --impossible]
#   python -m bench.qa compare-pipeline HF_QA_DIR hf-answers.json [--top-k 3 --impossible]
def hf_pipeline(args) -> None:
    import transformers

    pipe = transformers.pipeline("question-answering", model=args.model, tokenizer=args.model, device=-1)
    data = json.loads((data_dir("xquad", "dev.json")).read_text())
    out = {}
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for q in paragraph["qas"]:
                answers = pipe(question=q["question"], context=paragraph["context"], top_k=args.top_k, handle_impossible_answer=args.impossible)
                out[q["id"]] = answers if isinstance(answers, list) else [answers]
    Path(args.output).write_text(json.dumps(out))


def compare_pipeline(args) -> None:
    import spacy

    import spacy_bert.pipeline  # noqa: F401

    nlp = spacy.blank("en")
    nlp.add_pipe("bert_qa", config={"checkpoint": args.model, "scoring": "pipeline", "top_k": args.top_k, "handle_impossible": args.impossible})
    theirs = json.loads(Path(args.output).read_text())
    data = json.loads((data_dir("xquad", "dev.json")).read_text())
    same = total = 0
    max_diff = 0.0
    mismatches = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            doc = nlp.make_doc(paragraph["context"])
            doc._.questions = [{"id": q["id"], "question": q["question"]} for q in paragraph["qas"]]
            doc = nlp(doc)
            for qid, ours in doc._.answers.items():
                total += 1
                key = lambda answers: [(a["answer"], a["start"], a["end"]) for a in answers]  # noqa: E731
                if key(ours) == key(theirs[qid]):
                    same += 1
                    max_diff = max([max_diff] + [abs(a["score"] - b["score"]) for a, b in zip(ours, theirs[qid])])
                else:
                    mismatches.append((qid, ours, theirs[qid]))
    print(json.dumps({"questions": total, "identical_answers": same, "max_score_diff": max_diff, "mismatches": mismatches[:3]}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--output", required=True)
    t.add_argument("--checkpoint", default=None)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--batch-paragraphs", type=int, default=3)
    s = sub.add_parser("speed")
    s.add_argument("pipeline")
    s.add_argument("--batch", type=int, default=16)
    for name in ("hf-pipeline", "compare-pipeline"):
        p = sub.add_parser(name)
        p.add_argument("model")
        p.add_argument("output")
        p.add_argument("--top-k", type=int, default=1)
        p.add_argument("--impossible", action="store_true")
    args = parser.parse_args()
    print_machine()
    commands = {"train": train, "speed": speed, "hf-pipeline": hf_pipeline, "compare-pipeline": compare_pipeline}
    commands[args.command](args)


if __name__ == "__main__":
    main()
