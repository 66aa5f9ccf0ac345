"""Where the time of one `nlp.pipe` pass goes, phase by phase (the profile of `bench.pipeline`).

One pass per side in a fresh subprocess (`python -m bench.pipeline --profile-only`), each
component's `pipe` run one `nlp.pipe` batch at a time: spaCy's tokenizer, the encoder
component's WordPiece encoding, alignment, window/batch planning and padding, the torch forward
pass, piece -> token pooling and `set_annotations`, and the ner component. Our phases come from
the library's stage-timing hook (`spacy_bert.layers.stages.timing.record_stages`), nothing patched;
spacy-transformers has no such hook, so its phases are timed by wrapping its functions. A
phase that measured nothing ends the profile with an error, on either side.
"""
from bench.harness import ForwardMeter, Timers
from bench.sides import ENCODER_PIPE, build_nlp, torch_module
from bench.texts import load_texts

#: Our encoder's stages (spacy_bert.layers.stages.timing.STAGES) -> the profile's phases; "run" and
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
    from spacy_bert.layers.stages.timing import record_stages

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
        source = "spacy_bert.layers.stages.timing's stages" if side == "ours" else "the wrapped spacy-transformers functions"
        raise SystemExit(f"{side} profile: nothing measured for {', '.join(missing)}: {source} no longer report it")


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
