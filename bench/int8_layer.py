"""The int8 kernels torch offers, one encoder Linear at a time (issue 24): per-token int8
(`Int8Linear`) against plain dynamic quantization and the other routes torch has.

    python -m bench.int8_layer                  # MiniLM's shapes, 400 rows, 1 thread
    python -m bench.int8_layer --hidden 768 --rows 256

Rows, each timed interleaved with the others (median of `--repeats` rounds, CPU time) and given
its error against the fp32 product (relative Frobenius norm, Gaussian inputs whose first rows
are 20x larger, as [CLS]/[SEP] rows are in BERT):

* fp32 `nn.Linear`;
* plain `quantize_dynamic` (fbgemm `linear_dynamic`, one activation scale per call);
* `Int8Linear` per token (rows quantized on their own [min, max] by fbgemm's row-wise quantizer,
  oneDNN's u8 x s8 product; 8-bit weights here, as on VNNI CPUs);
* `Int8Linear` per tensor (fbgemm's dynamic kernel: plain's arithmetic, our wrapper);
* per token around `torch._int_mm` (int8 x int8 -> int32, quantizing and rescaling in torch);
* weight-only int8 (`torch.ops.aten._weight_int8pack_mm`, fp32 and bf16 activations).
"""
import argparse
import statistics
import time
import warnings
from typing import Callable, Dict

import torch

from bench.harness import print_machine


def _int_mm_per_token(linear: torch.nn.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
    """Per-token int8 activations and per-channel int8 weights around `torch._int_mm`."""
    weight_scale = linear.weight.detach().abs().amax(dim=1) / 127.0  # (out,)
    weight = torch.round(linear.weight.detach() / weight_scale[:, None]).to(torch.int8).t()  # (in, out)
    bias = linear.bias.detach()

    def run(x: torch.Tensor) -> torch.Tensor:
        rows = torch.maximum(x.amax(1, keepdim=True), x.amin(1, keepdim=True).neg_()).clamp_(min=1e-6)  # (n, 1)
        quantized = torch.round(x * (127.0 / rows)).to(torch.int8)
        return torch.addcmul(bias, torch._int_mm(quantized, weight), (rows / 127.0) * weight_scale)

    return run


def _weight_only(linear: torch.nn.Linear, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    weight_scale = linear.weight.detach().abs().amax(dim=1) / 127.0
    weight = torch.round(linear.weight.detach() / weight_scale[:, None]).to(torch.int8)  # (out, in)
    bias = linear.bias.detach().to(dtype)
    scale = weight_scale.to(dtype)

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x.to(dtype), weight, scale) + bias

    return run


def variants(linear: torch.nn.Linear) -> Dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    from spacy_bert.layers.precision.int8 import Int8Linear

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic's deprecation
        plain = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8)
    return {
        "fp32 nn.Linear": linear,
        "plain quantize_dynamic": plain,
        "Int8Linear per token": Int8Linear(linear, "token", 8),
        "Int8Linear per tensor": Int8Linear(linear, "tensor", 8),
        "per token around torch._int_mm": _int_mm_per_token(linear),
        "weight-only int8, fp32 activations": _weight_only(linear, torch.float32),
        "weight-only int8, bf16 activations": _weight_only(linear, torch.bfloat16),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="calls per timed round")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_machine(args.threads)
    torch.manual_seed(0)
    for n_in, n_out in ((args.hidden, 4 * args.hidden), (4 * args.hidden, args.hidden), (args.hidden, args.hidden)):
        linear = torch.nn.Linear(n_in, n_out)
        x = torch.randn(args.rows, n_in)
        x[:2] *= 20.0  # a few large rows, as [CLS] and [SEP] are
        runs = variants(linear)
        times: Dict[str, list] = {name: [] for name in runs}
        with torch.inference_mode():
            reference = linear(x)
            errors = {name: float((run(x).float() - reference).norm() / reference.norm()) for name, run in runs.items()}
            for _ in range(args.repeats):
                for name, run in runs.items():
                    start = time.process_time()
                    for _ in range(args.calls):
                        run(x)
                    times[name].append((time.process_time() - start) / args.calls)
        base = statistics.median(times["plain quantize_dynamic"])
        print(f"\n{args.rows} x {n_in} -> {n_out}: µs per call, time / plain quantize_dynamic, error to fp32")
        for name in runs:
            median = statistics.median(times[name])
            print(f"  {name:38s} {median * 1e6:9.0f} µs  {median / base:6.2f}x  err {errors[name]:.4f}")


if __name__ == "__main__":
    main()
