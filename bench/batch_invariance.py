"""What `batch_invariant = true` costs: words/s of a `bert` component with and without it.

    python -m bench.batch_invariance                   # all-MiniLM-L6-v2, 1 thread
    python -m bench.batch_invariance --n 1000 --repeats 5

For each text set (sentences, tweets, paragraphs) and each `nlp.pipe` batch size (8: what a
server batch across requests holds; 256: offline), the same texts run through one pipeline with
the setting off and on, interleaved `--repeats` times (medians; CPU time of this process, so
other processes on the machine weigh less). The ratio on/off is the figure; both sides run in
one process on the same weights, and the outputs of the "on" side are checked to be bit for bit
the same alone as batched on the first 20 texts.
"""
import argparse
import statistics
import time

from bench.harness import model_dir, print_machine
from bench.texts import load_texts


def words_per_s(nlp, texts, batch_size: int) -> float:
    began = time.process_time()
    words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    return words / (time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="texts per set")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sets", nargs="+", default=["sentences", "tweets", "paragraphs"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[8, 256])
    args = parser.parse_args()
    print_machine(args.threads)
    import spacy
    import torch

    from spacy_bert.pipeline import set_batch_invariant

    torch.set_num_threads(args.threads)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert", config={"checkpoint": model_dir()})
    nlp.initialize()
    for text_set in args.sets:
        texts = load_texts(text_set, args.n)
        set_batch_invariant(nlp, True)
        sample = texts[:20]
        together = [doc.tensor.tobytes() for doc in nlp.pipe(sample, batch_size=len(sample))]
        assert together == [nlp(text).tensor.tobytes() for text in sample], "batch_invariant outputs changed with the batch"
        for batch_size in args.batch_sizes:
            rates = {False: [], True: []}
            list(nlp.pipe(texts[:32], batch_size=batch_size))
            for _ in range(args.repeats):
                for flag in (False, True):
                    set_batch_invariant(nlp, flag)
                    rates[flag].append(words_per_s(nlp, texts, batch_size))
            off, on = statistics.median(rates[False]), statistics.median(rates[True])
            print(f"{text_set:10s} batch_size {batch_size:4d}: off {off:7.0f} words/s, on {on:7.0f} words/s, on/off {on / off:.3f}", flush=True)


if __name__ == "__main__":
    main()
