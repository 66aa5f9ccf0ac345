"""CPU seconds of `nlp.pipe` through our `bert` component: fp32, int8 with per-tensor activations
(plain dynamic quantization's arithmetic and speed: fbgemm's kernel with its own range, 8-bit
weights; `python -m bench.int8_layer` shows it runs as fast as `quantize_dynamic`) and our two
per-token int8 options (`VNNI_INT8`, also unfused and without its outlier channels, and
`DEFAULT_INT8`), interleaved, same texts, one torch thread.

    python -m bench.int8_pipeline_cpu --n-texts 1000 --repeats 3
    python -m bench.int8_pipeline_cpu --texts tweets --n-texts 1000 --repeats 3     # also: paragraphs

An AVX2 CPU's int8 kernels on an AVX-512 one (ATen, MKL, fbgemm and oneDNN each held to AVX2;
the options are named, not read from the CPU flags):

    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2 \
        ONEDNN_MAX_CPU_ISA=AVX2 python -m bench.int8_pipeline_cpu --n-texts 1000 --repeats 3

CPU time of the process (not wall time), so that other processes on a shared machine disturb
it less; the int8 copy is built before the timed pass (at the warm-up), as in a real run.

The component has no setting for `Int8Options` (only `precision`), so for the warm-up that
builds each int8 copy this script swaps `spacy_bert.layers.shim.bert_shim.prediction_model` for one with
the side's options, and checks that the swapped function was called: if the shim stops
building its copy through that name, the run ends with an error instead of timing the default
options twice.
"""
import argparse
import dataclasses
import statistics
import time

from bench.harness import model_dir, print_machine
from bench.texts import TEXT_SETS, describe, load_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--texts", choices=TEXT_SETS, default="sentences")
    parser.add_argument("--sides", nargs="+", help="build and time only these sides (run one process per side to rule out build-order bias)")
    args = parser.parse_args()
    import spacy
    import torch

    import spacy_bert.pipeline  # noqa: F401  (registers the factories)
    from spacy_bert.layers.precision import policy as P
    from spacy_bert.layers.shim import bert_shim as S

    torch.set_num_threads(1)
    print_machine(1)
    texts = load_texts(args.texts, args.n_texts)
    build = S.prediction_model
    sides = {
        "float32": ("float32", None),
        "int8 per tensor (plain)": ("int8", P.Int8Options(activations="tensor", weight_bits=8)),
        "int8 VNNI_INT8": ("int8", P.VNNI_INT8),
        "int8 VNNI_INT8 unfused": ("int8", dataclasses.replace(P.VNNI_INT8, fuse_qkv=False)),
        "int8 VNNI_INT8 without outliers": ("int8", dataclasses.replace(P.VNNI_INT8, outliers=0, outlier_kinds=())),
        "int8 DEFAULT_INT8": ("int8", P.DEFAULT_INT8),
    }
    if args.sides:
        sides = {side: sides[side] for side in args.sides}
    nlps = {}
    for side, (precision, options) in sides.items():
        nlp = spacy.blank("en")
        nlp.add_pipe("bert", config={"checkpoint": model_dir(), "precision": precision})
        nlp.initialize()
        built = []
        if options is not None:
            def with_options(model, used, options=options, **kw):
                built.append(used)
                return build(model, used, options, **kw)

            S.prediction_model = with_options
        try:
            list(nlp.pipe(texts[:8]))  # loads and builds the precision copy
        finally:
            S.prediction_model = build
        if options is not None and built != ["int8"]:
            raise SystemExit(f"{side}: the shim did not build its int8 copy through spacy_bert.layers.shim.bert_shim.prediction_model "
                             f"(calls: {built}); this benchmark cannot set the options any more")
        nlps[side] = nlp
    words = sum(len(t.split()) for t in texts)
    times = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, nlp in nlps.items():
            start = time.process_time()
            for _doc in nlp.pipe(texts, batch_size=128):
                pass
            times[side].append(time.process_time() - start)
    base = statistics.median(times["float32"]) if "float32" in times else float("nan")
    print(f"{args.n_texts} {args.texts} ({describe(args.texts)}; ~{words} words), bert alone, 1 thread, median CPU s of {args.repeats}")
    for side, values in times.items():
        median = statistics.median(values)
        print(f"{side:<31} {median:6.2f} CPU s  {words / median:7.0f} words per CPU s  fp32/this {base / median:.2f}x")


if __name__ == "__main__":
    main()
