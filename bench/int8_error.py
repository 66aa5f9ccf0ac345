"""Where int8 loses accuracy on all-MiniLM-L6-v2, and what each fix buys (cosine and speed).

    python -m bench.int8_error                      # 64 SST-2 dev sentences, batch 16, 1 thread
    python -m bench.int8_error --data wnut17 --n-texts 32

Three tables, all against the fp32 model in the same process, on real sentences
(../shared/data/sst2/dev.tsv or wnut17/emerging.dev.conll), padded batches as the pipeline runs them:

1. Activation statistics of each Linear's input (all 6 layers pooled per kind): the per-tensor
   range, the largest per-token range (median over tokens), the outlier ratio of input channels
   (largest channel max / median channel max): per-tensor quantization's step is set by the
   outliers, so a high ratio means most values get a few levels only.
2. One kind of Linear quantized at a time (the others fp32), per-tensor activations, 7-bit
   weights (the old int8): the last hidden state's cosine. Shows which Linear hurts.
3. Whole-model variants (`Int8Linear` options in spacy_bert/layers/precision/policy.py): activation
   granularity (per tensor / per token), weight bits (7 / 8), SmoothQuant folding, fp32
   fallbacks; cosine mean / min over real pieces, max abs difference, and encoder CPU time
   (ms per batch, median of 3; process time, as the machine is shared) against fp32.
"""
import argparse
import statistics
import time

import torch

from bench.harness import data_dir, model_dir, print_machine

KINDS = ("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense")


def kind_of(name: str) -> str:
    for kind in ("attention.output.dense", "intermediate.dense"):
        if name.endswith(kind):
            return kind
    if name.endswith("output.dense"):
        return "output.dense"
    return name.rsplit(".", 1)[-1]


def load_texts(data: str, n: int):
    if data == "sst2":
        lines = data_dir("sst2", "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
        return [line.split("\t", 1)[1] for line in lines[:n]]
    sents, words = [], []
    for line in data_dir("wnut17", "emerging.dev.conll").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0])
        elif words:
            sents.append(" ".join(words))
            words = []
    return sents[:n]


def batches(tokenizer, texts, size):
    for start in range(0, len(texts), size):
        enc = tokenizer(texts[start : start + size], padding=True, return_tensors="pt")
        yield {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def hidden(model, data):
    with torch.inference_mode():
        return [model(**b).last_hidden_state for b in data]


def compare(outs, refs, data):
    cos, diff = [], 0.0
    for o, r, b in zip(outs, refs, data):
        keep = b["attention_mask"].bool()
        cos.append(torch.nn.functional.cosine_similarity(o[keep], r[keep], dim=-1))
        diff = max(diff, (o[keep] - r[keep]).abs().max().item())
    cos = torch.cat(cos)
    return cos.mean().item(), cos.min().item(), diff


def time_model(model, data, repeats=3):
    with torch.inference_mode():
        model(**data[0])
        times = []
        for _ in range(repeats):
            start = time.process_time()  # CPU time: less disturbed by other processes on a loaded machine
            for b in data:
                model(**b)
            times.append((time.process_time() - start) / len(data) * 1000)
    return statistics.median(times)


def activation_stats(model, data):
    stats = {}

    def hook(name):
        def fn(module, args):
            x = args[0].detach().reshape(-1, args[0].shape[-1])
            s = stats.setdefault(kind_of(name), {"tensor": [], "token": [], "ratio": []})
            s["tensor"].append((x.max() - x.min()).item())
            s["token"].append((x.amax(1) - x.amin(1)).median().item())
            ch = x.abs().amax(0)
            s["ratio"].append((ch.max() / ch.median()).item())

        return fn

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.encoder.named_modules() if isinstance(m, torch.nn.Linear)]
    hidden(model, data)
    for h in handles:
        h.remove()
    print(f"\n1. activation ranges of each Linear's input (max over the 6 layers and the batches)")
    print(f"{'linear':<24} {'tensor range':>12} {'token range (median)':>21} {'channel outlier ratio':>22}")
    for kind in KINDS:
        s = stats[kind]
        print(f"{kind:<24} {max(s['tensor']):>12.1f} {max(s['token']):>21.1f} {max(s['ratio']):>22.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("sst2", "wnut17"), default="sst2")
    parser.add_argument("--n-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-per-linear", action="store_true", help="skip table 2")
    parser.add_argument("--no-time", action="store_true", help="accuracy only in table 3")
    parser.add_argument("--calibration", choices=("data", "builtin", "ids"), default="builtin",
                        help="input ranges (smoothing, outlier channels) from the first 2 batches of the data, "
                        "the built-in sentences (the default at load) or pseudo-random ids (no tokenizer)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_machine(args.threads)

    from spacy_bert import BertModel, BertTokenizer
    from spacy_bert.layers.precision import policy as P

    directory = model_dir()
    model = BertModel.from_pretrained(directory).eval()
    tokenizer = BertTokenizer.from_pretrained(directory)
    data = list(batches(tokenizer, load_texts(args.data, args.n_texts), args.batch_size))
    pieces = sum(int(b["attention_mask"].sum()) for b in data)
    print(f"all-MiniLM-L6-v2, {args.n_texts} {args.data} texts, {pieces} pieces, batches of {args.batch_size}, {args.threads} thread(s)")
    refs = hidden(model, data)
    activation_stats(model, data)

    if args.calibration == "data":
        ranges = P.input_ranges(model, data[:2])
    else:
        ranges = P.input_ranges(model, [P.calibration_batch(tokenizer if args.calibration == "builtin" else None)])
    old = P.Int8Options(activations="tensor", weight_bits=7, smooth=None, fp32=())
    print("\n2. one kind of Linear in int8, the rest fp32: cosine mean / min of the last hidden state")
    modes = [("tensor", 7, None), ("token", 7, None), ("token", 8, None), ("token", 7, 0.5)]
    print(f"{'linear':<24} " + " ".join(f"{a + ' w' + str(b) + (' sq' + str(c) if c else ''):>20}" for a, b, c in modes))
    for kind in () if args.no_per_linear else KINDS:
        cells = []
        for a, b, c in modes:
            opts = P.Int8Options(activations=a, weight_bits=b, smooth=c, fp32=tuple(k for k in KINDS if k != kind))
            m, lo, d = compare(hidden(P.prediction_model(model, "int8", opts, ranges=ranges), data), refs, data)
            cells.append(f"{m:.5f}/{lo:.5f}")
        print(f"{kind:<24} " + " ".join(f"{c:>20}" for c in cells))

    T, W = ("query", "key", "value", "attention.output.dense", "intermediate.dense"), ("output.dense",)
    variants = [
        ("old: tensor, 7-bit w", old),
        ("token, 7-bit w", P.Int8Options(activations="token", weight_bits=7, smooth=None, fp32=())),
        ("tensor, 7-bit w, smooth 0.5", P.Int8Options(activations="tensor", weight_bits=7, smooth=0.5, fp32=())),
        ("token, 7-bit w, smooth 0.5", P.Int8Options(activations="token", weight_bits=7, smooth=0.5, fp32=())),
        ("token, 8-bit w", P.Int8Options(activations="token", weight_bits=8, smooth=None, fp32=())),
        ("token, 7-bit w, FFN out fp32", P.Int8Options(activations="token", weight_bits=7, smooth=None, fp32=("output.dense",))),
        ("token, sq0.5 on QKV/ao/int, w8 out", P.Int8Options(smooth=0.5, smooth_kinds=T, wide=W)),
        ("token, sq0.5 on QKV/ao/int, w8 out, 16 outl int/out", P.Int8Options(smooth=0.5, smooth_kinds=T, wide=W, outliers=16, outlier_kinds=("intermediate.dense", "output.dense"))),
        ("token, sq0.5 on QKV/ao/int, w8 out, 8 outl int/out", P.Int8Options(smooth=0.5, smooth_kinds=T, wide=W, outliers=8, outlier_kinds=("intermediate.dense", "output.dense"))),
        ("DEFAULT_INT8 (what int8 runs without VNNI)", P.DEFAULT_INT8),
        ("VNNI_INT8 (what int8 runs with VNNI)", P.VNNI_INT8),
    ]
    base_ms = float("nan") if args.no_time else time_model(model, data)
    print(f"\n3. whole-model variants (fp32 encoder: {base_ms:.1f} ms per batch)")
    print(f"{'variant':<56} {'cos mean':>9} {'cos min':>8} {'max |diff|':>10} {'ms/batch':>9} {'fp32/int8':>9}")
    for label, opts in variants:
        start = time.perf_counter()
        derived = P.prediction_model(model, "int8", opts, ranges=ranges)
        build = time.perf_counter() - start
        m, lo, d = compare(hidden(derived, data), refs, data)
        ms = float("nan") if args.no_time else time_model(derived, data)
        print(f"{label:<56} {m:>9.5f} {lo:>8.5f} {d:>10.3f} {ms:>9.1f} {base_ms / ms:>8.2f}x   (built in {build:.2f} s)")


if __name__ == "__main__":
    main()
