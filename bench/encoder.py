"""Forward throughput of spacy_bert.BertModel against transformers.BertModel (sdpa), same weights, same batches.

    python -m bench.encoder                 # all cases (takes a few minutes on 2 cores)
    python -m bench.encoder --quick         # fewer repetitions, skips batch 32 x 512 on bert-base
    python -m bench.encoder --models minilm --lengths 128 --batches 1 8

For every (model, sequence length, batch size) it times an inference forward pass of both
implementations, interleaved (ours, theirs, ours, ...) so that drift in machine load hits both
alike, and prints tokens/s and the ratio ours / theirs (median of the repetitions).
Rows: ours fp32 vs transformers fp32; ours bf16 (weights and activations in bfloat16) vs
transformers fp32, with the bf16 result's difference to fp32 (max abs and mean cosine over tokens).
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

import spacy_bert
from bench.harness import model_dir, print_machine

BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)


def checkpoint_dir(name: str, workdir: Path) -> Path:
    """The weights of a named model: all-MiniLM-L6-v2, or a random bert-base written once to `workdir`."""
    if name == "minilm":
        return Path(model_dir())
    directory = workdir / "bert-base-random"
    if not directory.exists():
        import transformers

        torch.manual_seed(0)
        transformers.BertModel(transformers.BertConfig(**BERT_BASE)).save_pretrained(directory)
    return directory


def load_pair(name: str, workdir: Path):
    """(ours, theirs, vocab_size) for a named model, sharing the same weights on disk."""
    import transformers

    directory = checkpoint_dir(name, workdir)
    theirs = transformers.BertModel.from_pretrained(str(directory), attn_implementation="sdpa").eval()
    ours = spacy_bert.BertModel.from_pretrained(directory).eval()
    return ours, theirs, ours.config.vocab_size


def make_batch(batch: int, length: int, vocab_size: int):
    g = torch.Generator().manual_seed(batch * 1000 + length)
    ids = torch.randint(1000, vocab_size, (batch, length), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}


def time_once(model, inputs) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        model(**inputs)
    return time.perf_counter() - start


def compare(models, inputs, repeats: int):
    """Median seconds per forward of each model, runs interleaved after one warm-up each."""
    for model in models:
        time_once(model, inputs)
    times = [[] for _ in models]
    for _ in range(repeats):
        for i, model in enumerate(models):
            times[i].append(time_once(model, inputs))
    return [statistics.median(t) for t in times]


def bf16_difference(ours, ours_bf16, inputs):
    with torch.inference_mode():
        full = ours(**inputs).last_hidden_state
        half = ours_bf16(**inputs).last_hidden_state.float()
    cosine = torch.nn.functional.cosine_similarity(full, half, dim=-1).mean().item()
    return (full - half).abs().max().item(), cosine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "bert-base"], choices=["minilm", "bert-base"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    parser.add_argument("--quick", action="store_true", help="2 repeats; skip bert-base batch 32 at length 512")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    print_machine()
    import transformers

    print(f"transformers {transformers.__version__}, spacy_bert {spacy_bert.__version__}\n")
    header = f"{'model':<10} {'len':>4} {'batch':>5} {'transformers fp32':>18} {'ours fp32':>12} {'ratio':>6} {'ours bf16':>12} {'ratio':>6} {'bf16 max|d|':>11} {'cos':>8}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            ours, theirs, vocab_size = load_pair(name, Path(tmp))
            ours_bf16 = None if args.no_bf16 else spacy_bert.BertModel.from_pretrained(
                checkpoint_dir(name, Path(tmp)), dtype=torch.bfloat16
            )
            for length in args.lengths:
                for batch in args.batches:
                    if args.quick and name == "bert-base" and length == 512 and batch >= 32:
                        continue
                    inputs = make_batch(batch, length, vocab_size)
                    models = [theirs, ours] + ([ours_bf16] if ours_bf16 is not None else [])
                    seconds = compare(models, inputs, repeats)
                    tokens = batch * length
                    rate = [tokens / s for s in seconds]
                    row = f"{name:<10} {length:>4} {batch:>5} {rate[0]:>14,.0f} t/s {rate[1]:>8,.0f} t/s {rate[1] / rate[0]:>5.2f}x"
                    if ours_bf16 is not None:
                        max_diff, cosine = bf16_difference(ours, ours_bf16, inputs)
                        row += f" {rate[2]:>8,.0f} t/s {rate[2] / rate[0]:>5.2f}x {max_diff:>11.4f} {cosine:>8.5f}"
                    print(row, flush=True)


if __name__ == "__main__":
    main()
