"""The int8 levers against plain dynamic quantization, on the encoder alone (issue 24): accuracy
(hidden-state cosine to fp32 over real pieces) and speed (CPU time, interleaved repeats,
same-run ratios to our fp32), with bf16 beside them.

    python -m bench.int8_levers                         # SST-2 and WNUT-17, 48 texts each, batch 16, 1 thread
    python -m bench.int8_levers --data sst2 --repeats 7

Rows: our fp32; bf16 (`prediction_model(..., "bfloat16")`); `DEFAULT_INT8` (the no-VNNI options)
unfused and fused (its default), and with fp32 outlier channels on every Linear kind; `VNNI_INT8`
(fused), unfused, and without its 8 fp32 outlier channels on output.dense; per-tensor
activations with SmoothQuant and 8-bit weights (one activation scale per call, as static or
plain dynamic quantization has: the cheapest int8); and `torch.ao.quantization.quantize_dynamic`
on every Linear (plain dynamic int8: fbgemm's kernels, per-tensor activations). A row whose
cosine mean is under 0.999 misses issue 14's bound whatever its speed. Static per-tensor
quantization (x86/oneDNN) cannot beat the per-tensor dynamic rows' accuracy (its scale is fixed
at calibration instead of measured per call), so those rows bound it.
"""
import argparse
import copy
import dataclasses
import statistics
import time
import warnings

import torch

from bench.harness import model_dir, print_machine
from bench.int8_error import batches, load_texts
from bench.sides import precision_flags


def variants(model, tokenizer):
    from spacy_bert.layers.precision import policy as P

    replace = dataclasses.replace
    tensor = P.Int8Options(activations="tensor", weight_bits=8, smooth=0.5, smooth_kinds=P.VNNI_INT8.smooth_kinds)
    built = {
        "fp32": model,
        "bf16": P.prediction_model(model, "bfloat16"),
        "int8 DEFAULT_INT8 unfused": P.prediction_model(model, "int8", replace(P.DEFAULT_INT8, fuse_qkv=False), tokenizer=tokenizer),
        "int8 DEFAULT_INT8 (fused qkv)": P.prediction_model(model, "int8", P.DEFAULT_INT8, tokenizer=tokenizer),
        "int8 DEFAULT_INT8, outliers all kinds": P.prediction_model(model, "int8", replace(P.DEFAULT_INT8, outlier_kinds=P.LINEAR_KINDS), tokenizer=tokenizer),
        "int8 VNNI_INT8 (fused)": P.prediction_model(model, "int8", P.VNNI_INT8, tokenizer=tokenizer),
        "int8 VNNI_INT8 unfused": P.prediction_model(model, "int8", replace(P.VNNI_INT8, fuse_qkv=False), tokenizer=tokenizer),
        "int8 VNNI_INT8 without outliers": P.prediction_model(model, "int8", replace(P.VNNI_INT8, outliers=0, outlier_kinds=()), tokenizer=tokenizer),
        "int8 per-tensor, smooth, 8-bit w": P.prediction_model(model, "int8", tensor, tokenizer=tokenizer),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic's deprecation
        built["plain quantize_dynamic"] = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=["sst2", "wnut17"], choices=["sst2", "wnut17"])
    parser.add_argument("--n-texts", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_machine(args.threads)
    print(precision_flags() + "\n", flush=True)
    from spacy_bert.layers.shim.loading import load_encoder
    from spacy_bert.modeling import BertModel

    model, tokenizer = load_encoder(model_dir(), BertModel)
    model.eval()
    model.validate_inputs = False
    built = variants(model, tokenizer)
    for data_name in args.data:
        data = list(batches(tokenizer, load_texts(data_name, args.n_texts), args.batch_size))

        def hidden(m):
            with torch.inference_mode():
                return [m(**b).last_hidden_state.float() for b in data]

        reference = hidden(model)
        times = {name: [] for name in built}
        for _ in range(args.repeats):  # interleaved: load drift hits every row alike
            for name, m in built.items():
                start = time.process_time()
                hidden(m)
                times[name].append(time.process_time() - start)
        base = statistics.median(times["fp32"])
        print(f"{data_name}: {args.n_texts} texts, batch {args.batch_size}; CPU ms per pass (median of {args.repeats})")
        print(f"  {'variant':<34} {'cos mean':>9} {'cos min':>8} {'ms':>8} {'/ fp32':>7}")
        for name, m in built.items():
            keep = [b["attention_mask"].bool() for b in data]
            cos = torch.cat([torch.nn.functional.cosine_similarity(o[k], r[k], dim=-1) for o, r, k in zip(hidden(m), reference, keep)])
            ms = statistics.median(times[name]) * 1e3
            print(f"  {name:<34} {cos.mean():>9.5f} {cos.min():>8.5f} {ms:>8.1f} {base / statistics.median(times[name]):>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
