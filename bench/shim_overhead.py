"""Per-call overhead of `BertShim.predict` on 1-sentence batches (all-MiniLM-L6-v2, one thread).

    python -m bench.shim_overhead                 # fp32 and int8, 300 calls each
    python -m bench.shim_overhead --calls 1000

For each precision: CPU ms per `predict` call (median of 5 rounds), and cProfile's cumulative
time per call of the shim's bookkeeping outside the forward pass: `prediction_model` (is the
precision copy stale?) and the eval/train toggles (`Module.train`, which `eval()` calls).
"""
import argparse
import cProfile
import inspect
import pstats
import statistics
import time

from bench.harness import model_dir, print_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--precisions", nargs="+", default=["float32", "int8"])
    args = parser.parse_args()
    import torch
    from thinc.shims.pytorch import ArgsKwargs

    from spacy_bert.layers.shim.bert_shim import BertShim

    torch.set_num_threads(1)
    print_machine(1)
    for precision in args.precisions:
        shim = BertShim(precision=precision, n_threads=1)
        shim.load_checkpoint(model_dir())
        shim.model.train()  # as after training: the fp32 model's mode must not leak into prediction
        enc = shim.tokenizer(["A short sentence to annotate."], return_tensors="pt")
        inputs = ArgsKwargs(args=(), kwargs={"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
        shim.predict(inputs)
        rounds = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(args.calls // 5):
                shim.predict(inputs)
            rounds.append((time.process_time() - start) / (args.calls // 5) * 1000)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.calls):
            shim.predict(inputs)
        profile.disable()
        stats = pstats.Stats(profile).stats
        shim_file = inspect.getsourcefile(BertShim)  # where the class lives, wherever that moves

        def cumulative(name: str, file: str = "") -> float:
            """cProfile's cumulative ms per predict call of functions `name` (in `file`)."""
            return sum(v[3] for k, v in stats.items() if k[2] == name and file in k[0]) / args.calls * 1000

        if not cumulative("predict", shim_file):
            raise SystemExit(f"cProfile saw no BertShim.predict in {shim_file}: the profile would report zeros")
        model = shim.model
        start = time.process_time()
        for _ in range(args.calls):
            shim.prediction_model()
        check = (time.process_time() - start) / args.calls * 1000
        start = time.process_time()
        for _ in range(args.calls):
            model.eval()
            model.train()
        toggle = (time.process_time() - start) / args.calls * 1000
        print(f"{precision:<8} predict {statistics.median(rounds):6.2f} ms/call CPU; staleness check {check:.4f} ms, "
              f"one eval()+train() toggle {toggle:.3f} ms; under cProfile per call: predict {cumulative('predict', shim_file):.2f} ms, "
              f"prediction_model {cumulative('prediction_model', shim_file):.3f} ms, Module.train/eval {cumulative('train') + cumulative('eval'):.3f} ms")


if __name__ == "__main__":
    main()
