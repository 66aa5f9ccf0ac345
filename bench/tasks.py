"""Words/s of task pipelines (NER, text classification) end to end: ours vs spacy-transformers vs raw transformers.

    python -m bench.tasks                                           # 1,000 paragraphs, 3 interleaved repeats
    python -m bench.tasks --n-texts 40 --repeats 1 --max-others 0   # smoke test (busy machine)
    python -m bench.tasks --rows textcat
    python -m bench.tasks --texts tweets --n-texts 2000
    python -m bench.tasks --precisions float32 int8 bfloat16        # our precision rows

Runs in the benchmark's own virtual environment (see bench/README.md), like pipeline.py, with
the same harness (bench/harness.py): the same text sets (`--texts paragraphs|sentences|tweets`,
bench/texts.py, with their encoder-work statistics), the same all-MiniLM-L6-v2 weights,
one fresh subprocess per measurement (load, initialize, warm up on 16 texts, time one pass),
its peak RSS, interleaved repeats, medians, and the wait for a quiet machine.

Three sides per row, every one fed the raw paragraphs and timed from text to per-word (NER)
or per-text (textcat) predictions, tokenization included:

    ours     `bert_ner` / `bert_textcat` (own encoder, window 512, stride 128,
             max_batch_items 2048) through `nlp.pipe(batch_size=B)` from `spacy.blank("en")`
    spacy-trf `transformer` (strided_spans 128/96, as bench/sides.py builds it for both benchmarks) + spaCy `ner`
             (TransitionBasedParser.v2 on TransformerListener.v1) / `textcat`
             (TextCatReduce.v1, reduce_mean, exclusive classes, on the same listener)
    hf       `BertForTokenClassification` (9 labels: O + B-/I- of PER ORG LOC MISC) /
             `BertForSequenceClassification` (2 labels), random heads (`torch.manual_seed(0)`),
             its fast tokenizer on batches of B texts (padding=True; truncation to 512 pieces
             only when a text is longer, and then reported), `torch.inference_mode()`;
             NER: argmax over the logits, then one label per word (its first piece, via
             `word_ids()`); textcat: softmax, then a {label: probability} dict per text.

`--precisions` adds one of our sides per `precision` setting of `bert_ner`/`bert_textcat`
(int8, bfloat16, auto; our fp32 is the baseline), run interleaved with the others, and a table
of each against our fp32 and spacy-transformers fp32 with its peak RSS (pipeline.py's).

The heads are untrained (ours and spaCy's initialized from 4 examples): speed only.
words = spaCy tokens of the texts (`spacy.blank("en")`), the same unit for all three sides;
the hf side's own words (its pre-tokenizer's) are counted too and shown for reference.
"""
import argparse
import json
import os
import statistics
import time

from bench.harness import ForwardMeter, model_dir, peak_rss_mib, print_machine, run_quiet
from bench.sides import LABELS, PRECISIONS, build_nlp, ours_side, precision_flags, side_precision
from bench.texts import DEFAULT_TEXT_SET, TEXT_SETS, describe, load_texts, print_encoder_work

MODULE = "bench.tasks"

ROWS = {"ner": "NER", "textcat": "textcat"}
SIDES = ("ours", "trf", "hf")
SIDE_NAMES = {"ours": "ours", "trf": "spacy-trf", "hf": "transformers"}
CATS = ("POS", "NEG")
TAGS = ("O",) + tuple(f"{p}-{label}" for label in LABELS for p in ("B", "I"))
MAX_PIECES = 512
# spacy-transformers' defaults, as pipeline.py runs them; our components' encoder at its defaults.
BUILD_OPTS = {"trf_window": 128, "trf_stride": 96, "bert_max_batch_items": 2048, "dtype": "float32"}
TRF_LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "upstream": "*",
    "pooling": {"@layers": "reduce_mean.v1"},
}


# -- child: one side in its own process -------------------------------------------------------
def init_examples(nlp, texts, row: str):
    """4 examples: an entity on the first token (NER, as pipeline.py) or alternating cats."""
    from spacy.training import Example

    examples = []
    for i, text in enumerate(texts[:4]):
        doc = nlp.make_doc(text)
        if row == "ner":
            annotations = {"entities": [(0, len(doc[0].text), LABELS[i % len(LABELS)])]}
        else:
            annotations = {"cats": {cat: float(j == i % 2) for j, cat in enumerate(CATS)}}
        examples.append(Example.from_dict(doc, annotations))
    return examples


def side_name(side: str) -> str:
    """The printed name of a side ("ours-int8" -> "ours int8")."""
    return SIDE_NAMES.get(side) or side.replace("-", " ")


def build_spacy(side: str, row: str, opts: dict, texts):
    """The spaCy pipeline of one side, initialized; returns (nlp, the torch encoder module)."""
    import spacy

    if side == "trf":
        if row == "ner":
            nlp = build_nlp("theirs", "pipeline", {**opts, **BUILD_OPTS}, texts)
        else:
            # sides.py's transformer alone (initialized), then textcat on its listener; only
            # textcat is initialized here, so the weights are not loaded twice.
            nlp = build_nlp("theirs", "encoder", {**opts, **BUILD_OPTS}, texts)
            model = {
                "@architectures": "spacy.TextCatReduce.v1",
                "exclusive_classes": True,
                "use_reduce_first": False,
                "use_reduce_last": False,
                "use_reduce_max": False,
                "use_reduce_mean": True,
                "nO": None,
                "tok2vec": TRF_LISTENER,
            }
            textcat = nlp.add_pipe("textcat", config={"model": model})
            nlp._link_components()  # what nlp.initialize() does first: connect the listener
            examples = init_examples(nlp, texts, row)
            textcat.initialize(lambda: examples, nlp=nlp)
        return nlp, nlp.get_pipe("transformer").model.transformer
    from spacy_bert.layers.encoder import get_shim

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    name = "bert_ner" if row == "ner" else "bert_textcat"
    pipe = nlp.add_pipe(name, config={"checkpoint": model_dir(), "precision": side_precision(side)})
    examples = init_examples(nlp, texts, row)
    nlp.initialize(lambda: examples)
    # The module that predicts: the encoder in fp32, else its int8/bf16 copy (kept while the
    # weights do not change, so the warm-up and the timed pass run this one).
    return nlp, get_shim(pipe.encoder).prediction_model()


def build_hf(row: str, opts: dict, texts):
    """Raw transformers: fast tokenizer + head model; returns (run(texts) -> (hf words, outputs), module, info)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, BertForTokenClassification

    directory = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(directory, use_fast=True)
    torch.manual_seed(0)
    if row == "ner":
        labels = TAGS
        model = BertForTokenClassification.from_pretrained(
            directory, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={t: i for i, t in enumerate(labels)}
        )
    else:
        labels = CATS
        model = BertForSequenceClassification.from_pretrained(directory, num_labels=len(labels))
    model.eval()
    # Untimed: which texts the encoder could not take whole ([CLS] and [SEP] included).
    n_long = sum(len(ids) > MAX_PIECES for ids in tokenizer(texts, add_special_tokens=True)["input_ids"])
    truncation = {"truncation": True, "max_length": MAX_PIECES} if n_long else {"truncation": False}
    batch_size = opts["batch_size"]

    def run(batch_texts):
        words = outputs = 0
        with torch.inference_mode():
            for start in range(0, len(batch_texts), batch_size):
                batch = batch_texts[start : start + batch_size]
                enc = tokenizer(batch, padding=True, return_tensors="pt", **truncation)
                logits = model(**enc).logits
                if row == "ner":
                    predicted = logits.argmax(-1).tolist()
                    for i, tags in enumerate(predicted):
                        word_tags, previous = [], None
                        for j, word in enumerate(enc.word_ids(i)):
                            if word is not None and word != previous:
                                word_tags.append(labels[tags[j]])
                            previous = word
                        words += len(word_tags)
                        outputs += sum(tag != "O" for tag in word_tags)
                else:
                    for row_probs in torch.softmax(logits, dim=-1).tolist():
                        cats = dict(zip(labels, row_probs))
                        outputs += max(cats, key=cats.get) == labels[0]
        return words, outputs

    info = {"long_texts": n_long, "attention": model.config._attn_implementation}
    return run, model.bert, info


def child_time(side: str, row: str, opts: dict) -> dict:
    """Load and initialize one side, warm up on 16 texts, then time one pass over all texts."""
    import torch

    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    texts = load_texts(opts["texts"], opts["n_texts"], opts["data_dir"])
    start = time.perf_counter()
    info = {}
    if side == "hf":
        run, module, info = build_hf(row, opts, texts)
    else:
        nlp, module = build_spacy(side, row, opts, texts)

        def run(batch_texts):
            # words: spaCy tokens; outputs: entities found, or texts whose top category is the first label
            words = outputs = 0
            for doc in nlp.pipe(batch_texts, batch_size=opts["batch_size"]):
                words += len(doc)
                outputs += len(doc.ents) if row == "ner" else max(doc.cats, key=doc.cats.get) == CATS[0]
            return words, outputs

    load_s = time.perf_counter() - start
    run(texts[: min(16, len(texts))])
    meter = ForwardMeter(module)
    cpu0 = time.process_time()
    start = time.perf_counter()
    words, outputs = run(texts)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    return {
        "side_words": words,
        "outputs": outputs,
        "seconds": seconds,
        "cpu_s": cpu,
        "load_s": load_s,
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        **info,
        **meter.summary(),
    }


# -- parent -----------------------------------------------------------------------------------
def spacy_words(texts) -> int:
    import spacy

    nlp = spacy.blank("en")
    return sum(len(doc) for doc in nlp.tokenizer.pipe(texts))


def print_environment(args, texts, words: int) -> None:
    print_machine(args.threads or None)
    print(f"model {model_dir()}")
    print(f"texts: {len(texts)} {args.texts} ({describe(args.texts)}), {words:,} words (spaCy tokens); batch size {args.batch_size}; "
          f"{args.repeats} repeat(s) interleaved")
    print(precision_flags() + "\n", flush=True)


def print_precision_rows(runs: dict, rows, sides, words: int) -> None:
    """Each of our precisions against our fp32 and spacy-transformers fp32 (words/s, peak RSS)."""
    print("\nprecision rows (same runs, same texts; medians):")
    header = (f"{'row':<8} {'precision':<10} {'words/s':>9} {'/ our fp32':>10} {'/ spacy-trf':>11} {'peak RSS':>9}"
              f"   {'words/cpu-s':>11} {'/ our fp32':>10} {'/ spacy-trf':>11}")
    print(header)
    print("-" * len(header))
    verdicts = []
    for row in rows:
        rate = {s: statistics.median(words / r["seconds"] for r in runs[row, s]) for s in sides}
        rss = {s: max(r["peak_rss_mib"] for r in runs[row, s]) for s in sides}
        # words per CPU-second: less sensitive than words/s to how much of a busy machine a run got
        cpu = {s: statistics.median(words / r["cpu_s"] for r in runs[row, s]) for s in sides}
        for side in (s for s in sides if s.startswith("ours")):
            cpu_vs_trf = f"{cpu[side] / cpu['trf']:>10.2f}x" if "trf" in cpu else f"{'-':>11}"
            vs_trf = rate[side] / rate["trf"] if "trf" in rate else None
            print(
                f"{ROWS[row]:<8} {side_precision(side):<10} {rate[side]:>9,.0f} {rate[side] / rate['ours']:>9.2f}x "
                + (f"{vs_trf:>10.2f}x" if vs_trf is not None else f"{'-':>11}") + f" {rss[side]:>5,.0f} MiB"
                + f"   {cpu[side]:>11,.0f} {cpu[side] / cpu['ours']:>9.2f}x {cpu_vs_trf}"
            )
            if side_precision(side) == "int8":
                speedup = rate[side] / rate["ours"]
                goal = speedup >= 1.6 and (vs_trf is None or vs_trf >= 2.5)
                verdicts.append(f"{ROWS[row]} int8: {'met' if goal else 'NOT met'} ({speedup:.2f}x our fp32"
                                + (f", {vs_trf:.2f}x spacy-trf)" if vs_trf is not None else ")"))
    if verdicts:
        print("goal (int8 >= 1.6x our fp32 and >= 2.5x spacy-trf): " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=1000, help="texts to run (default 1000)")
    parser.add_argument("--texts", default=DEFAULT_TEXT_SET, choices=TEXT_SETS,
                        help="text set: SST-2 sentences, WNUT-17 tweets or WikiText-2 paragraphs (default paragraphs)")
    parser.add_argument("--data-dir", default=None, help="the datasets folder (default ../shared/data)")
    parser.add_argument("--no-stats", action="store_true", help="skip the text set's encoder-work statistics")
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=list(SIDES),
                        help="sides to run (default all; `--sides ours hf` needs no spacy-transformers)")
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=list(PRECISIONS),
                        help="our components' `precision` settings, each its own side (float32 always runs with `ours`)")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per batch, all sides (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per side, interleaved (default 3)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each run (default: torch's)")
    parser.add_argument(
        "--max-others", type=float, default=0.15,
        help="wait until other processes use fewer cores than this before each run, and repeat a run during which "
        "they used more (default 0.15; 0 disables both)",
    )
    parser.add_argument("--retries", type=int, default=3, help="repeats of a disturbed run before keeping it (default 3)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        print("RESULT " + json.dumps(child_time(job["side"], job["row"], job["opts"])), flush=True)
        return

    texts = load_texts(args.texts, args.n_texts, args.data_dir)
    words = spacy_words(texts)
    print_environment(args, texts, words)
    if not args.no_stats:
        print_encoder_work(texts, args.texts, args.batch_size, BUILD_OPTS["bert_max_batch_items"])
    opts = {"texts": args.texts, "data_dir": args.data_dir, "n_texts": args.n_texts, "batch_size": args.batch_size,
            "threads": args.threads}
    sides = tuple(side for side in SIDES if side in args.sides)
    if "ours" in sides:
        sides = ("ours",) + tuple(ours_side(p) for p in args.precisions if p != "float32") + sides[1:]
    runs = {(row, side): [] for row in args.rows for side in sides}
    for repeat in range(args.repeats):
        for row in args.rows:
            # rotate which side goes first
            order = sides[repeat % len(sides):] + sides[: repeat % len(sides)]
            for side in order:
                r = run_quiet({"side": side, "row": row, "opts": opts}, f"{side_name(side)} {ROWS[row]}", args.max_others, args.retries, module=MODULE)
                r["words"] = words
                runs[row, side].append(r)
                print(
                    f"run {repeat + 1}/{args.repeats} {ROWS[row]:<7} {side_name(side):<14} {words / r['seconds']:>8,.0f} words/s "
                    f"({r['seconds']:.1f} s, cpu {r['cpu_s'] / r['seconds']:.2f} cores, others {r['other_cores']:.2f} cores, "
                    f"steal {r['steal']:.1%}, peak RSS {r['peak_rss_mib']:,.0f} MiB)",
                    flush=True,
                )

    everything = [r for rs in runs.values() for r in rs]
    others = [r["other_cores"] for r in everything]
    print(f"\nload average (1, 5, 15 min) at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"machine during the kept runs: other processes busy {statistics.median(others):.2f} cores median, {max(others):.2f} max; "
        f"steal {statistics.median(r['steal'] for r in everything):.1%} median; "
        f"{sum(r['discarded'] for r in everything)} disturbed run(s) discarded and repeated"
    )
    for row in args.rows:
        counted = {r["side_words"] for side in sides if side != "hf" for r in runs[row, side]}
        if counted != {words}:
            print(f"WARNING: {ROWS[row]}: the spaCy sides counted {sorted(counted)} words, expected {words}")
        if "hf" not in sides:
            continue
        hf = runs[row, "hf"][0]
        print(
            f"{ROWS[row]}: transformers attention {hf['attention']}; {hf['long_texts']} of {len(texts)} texts exceed "
            f"{MAX_PIECES} pieces" + (" (truncated to 512 on the transformers side only)" if hf["long_texts"] else "")
            + (f"; its pre-tokenizer words {hf['side_words']:,}" if row == "ner" else "")
        )
    print(f"words per pass: {words:,} (spaCy tokens); medians of {args.repeats} run(s)\n")

    header = (
        f"{'row':<8} {'ours':>9} {'spacy-trf':>9} {'transf.':>9} {'/spacy-trf':>10} {'/transf.':>9} "
        f"{'RSS ours':>9} {'spacy-trf':>9} {'transf.':>9}"
    )
    print("words/s, ratios ours / other side, peak RSS (MiB, largest run)")
    print(header)
    print("-" * len(header))
    verdicts = []
    for row in args.rows:
        rate = {s: statistics.median(words / r["seconds"] for r in runs[row, s]) for s in sides}
        rss = {s: max(r["peak_rss_mib"] for r in runs[row, s]) for s in sides}

        def cell(values: dict, side: str, width: int, suffix: str = "") -> str:
            return f"{values[side]:>{width},.0f}{suffix}" if side in values else f"{'-':>{width + len(suffix)}}"

        ratios = {s: rate["ours"] / rate[s] for s in ("trf", "hf") if s in rate and "ours" in rate}
        print(
            f"{ROWS[row]:<8} {cell(rate, 'ours', 9)} {cell(rate, 'trf', 9)} {cell(rate, 'hf', 9)} "
            + (f"{ratios['trf']:>9.2f}x" if "trf" in ratios else f"{'-':>10}") + " "
            + (f"{ratios['hf']:>8.2f}x" if "hf" in ratios else f"{'-':>9}") + " "
            f"{cell(rss, 'ours', 9)} {cell(rss, 'trf', 9)} {cell(rss, 'hf', 9)}"
        )
        if "trf" in ratios:
            verdicts.append(f"{ROWS[row]}: {'met' if ratios['trf'] >= 1.5 else 'NOT met'} vs spacy-transformers ({ratios['trf']:.2f}x)")
        if "hf" in ratios:
            verdicts.append(f"{ROWS[row]}: {'met' if ratios['hf'] >= 1.0 else 'NOT met'} vs transformers ({ratios['hf']:.2f}x)")
    print("\ngoal (>= 1.5x spacy-transformers, >= 1.0x transformers): " + "; ".join(verdicts))

    if any(side.startswith("ours-") for side in sides):
        print_precision_rows(runs, args.rows, sides, words)

    print("\nencoder work (first run of each):")
    header = f"{'side':<22} {'forwards':>8} {'positions':>10} {'per word':>8} {'padding':>8} {'forward share':>13} {'outputs':>8}"
    print(header)
    print("-" * len(header))
    for row in args.rows:
        for side in sides:
            r = runs[row, side][0]
            pad = 1 - r["real_positions"] / r["positions"] if r["positions"] else 0.0
            print(
                f"{ROWS[row] + ' ' + side_name(side):<22} {r['forwards']:>8} {r['positions']:>10,} {r['positions'] / words:>8.2f} "
                f"{pad:>7.1%} {r['forward_s'] / r['seconds']:>12.1%} {r['outputs']:>8,}"
            )
    print("(positions: encoder input positions incl. padding and window overlap; padding: share of them masked out;")
    print(" forward share: time inside the torch encoder's forward / wall time of the pass; outputs: entities")
    print(" (NER; transformers: words tagged other than O) or texts whose top category is POS (textcat): untrained heads,")
    print(" and spaCy's textcat starts with a zero output layer, so all its probabilities are 0.5)")


if __name__ == "__main__":
    main()
