"""Where one `nlp.pipe` pass of the `bert` component spends its time, per precision: GEMMs
(linear), attention (SDPA and its kernel), other torch ops, and time outside torch ops
(Python glue, tokenization, alignment, numpy), with torch.profiler.

    python -m bench.kernels                                   # float32 int8 bfloat16, 200 SST-2 sentences
    python -m bench.kernels --precisions float32 bfloat16 --text-set paragraphs --n-texts 40
    python -m bench.kernels --repeats 5 --threads 2

For each precision: a warm-up pass (builds the prediction copy), then `--repeats` timed passes
interleaved across precisions (so load drift on a shared machine hits all alike) and one
profiled pass. The wall time of a pass is the median of the timed passes; the profiled pass's
self CPU time per op, summed by category, splits it (scaled to that median, since profiling
slows a pass); "outside" is the wall time no torch op accounts for. The SDPA kernel names that
ran are printed (`_scaled_dot_product_flash_attention_for_cpu` is the fused CPU kernel; `math`
is the unfused fallback), with the top "other" ops, so the non-GEMM overhead of each precision
is measurable on any CPU. Bounded: `--max-seconds` (default 240) stops adding repeats.
"""
import argparse
import collections
import statistics
import time
import warnings
from typing import Dict, List, Tuple

import torch

from bench.harness import print_machine
from bench.sides import precision_flags
from bench.texts import describe, load_texts

#: Self time of these ops is GEMM work (fp32 / bf16 through MKL or oneDNN, int8 through fbgemm).
LINEAR_OPS = frozenset(
    {"aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear", "aten::_addmm_activation",
     "quantized::linear_dynamic", "aten::addmm_", "mkldnn::_linear_pointwise", "aten::mkldnn_linear"}
)


def category(name: str) -> str:
    """"linear", "attention" or "other" for a profiler op name."""
    if name in LINEAR_OPS:
        return "linear"
    if "attention" in name or "flash" in name:
        return "attention"
    return "other"


def build(precision: str, threads: int):
    import spacy

    from bench.harness import model_dir

    torch.set_num_threads(threads)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": model_dir(), "precision": precision})
    return nlp


def one_pass(nlp, texts: List[str]) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=64):
        pass
    return time.perf_counter() - start


def profiled(nlp, texts: List[str]) -> Tuple[float, Dict[str, float], Dict[str, float]]:
    """(wall s, self s per category, self s per op) of one profiled pass."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall = one_pass(nlp, texts)
    per_op: Dict[str, float] = collections.Counter()
    for event in prof.key_averages():
        per_op[event.key] += event.self_cpu_time_total / 1e6
    per_cat: Dict[str, float] = collections.Counter()
    for name, seconds in per_op.items():
        per_cat[category(name)] += seconds
    return wall, per_cat, per_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8", "bfloat16"], choices=["float32", "int8", "bfloat16", "auto"])
    parser.add_argument("--text-set", default="sentences", choices=["sentences", "tweets", "paragraphs"])
    parser.add_argument("--n-texts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=240.0, help="stop adding timed repeats after this long")
    args = parser.parse_args()
    print_machine(args.threads)
    print(precision_flags())
    texts = load_texts(args.text_set, args.n_texts)
    print(f"{len(texts)} {describe(args.text_set)}, {sum(len(t.split()) for t in texts)} words; bert alone, nlp.pipe batch 64\n", flush=True)
    warnings.filterwarnings("ignore", message=r".*W661.*")  # bf16 without native bf16: measured anyway
    nlps = {p: build(p, args.threads) for p in args.precisions}
    for nlp in nlps.values():
        one_pass(nlp, texts[:16])  # load the weights, build the prediction copy
    walls: Dict[str, List[float]] = {p: [] for p in nlps}
    began = time.perf_counter()
    for repeat in range(args.repeats):
        if repeat and time.perf_counter() - began > args.max_seconds:
            print(f"(stopped after {repeat} repeats: --max-seconds {args.max_seconds})")
            break
        for p, nlp in nlps.items():
            walls[p].append(one_pass(nlp, texts))
    base = statistics.median(walls[args.precisions[0]])
    print(f"{'precision':<10} {'wall ms':>8} {'/ ' + args.precisions[0]:>10} {'linear':>8} {'attention':>10} {'other ops':>10} {'outside':>8}   (ms per pass, median of {len(walls[args.precisions[0]])})")
    details = {}
    for p, nlp in nlps.items():
        wall = statistics.median(walls[p])
        prof_wall, per_cat, per_op = profiled(nlp, texts)
        scale = wall / prof_wall  # the profiler's own overhead, spread evenly
        parts = {k: per_cat.get(k, 0.0) * scale for k in ("linear", "attention", "other")}
        outside = max(wall - sum(parts.values()), 0.0)
        print(f"{p:<10} {wall * 1e3:>8.1f} {base / wall:>9.2f}x {parts['linear'] * 1e3:>8.1f} {parts['attention'] * 1e3:>10.1f} {parts['other'] * 1e3:>10.1f} {outside * 1e3:>8.1f}", flush=True)
        details[p] = per_op
    print("\nSDPA kernels and the largest 'other' ops (self ms, profiled pass):")
    for p, per_op in details.items():
        kernels = sorted(name for name in per_op if category(name) == "attention" and name != "aten::scaled_dot_product_attention")
        others = sorted(((s, n) for n, s in per_op.items() if category(n) == "other"), reverse=True)[:6]
        print(f"  {p}: kernels {', '.join(kernels) or 'none'}")
        print("    " + ", ".join(f"{n} {s * 1e3:.1f}" for s, n in others))


if __name__ == "__main__":
    main()
