"""Same-run A/B of two checkouts of spacy-bert: words/s of `bert` through `nlp.pipe` on the same
texts, each checkout in its own subprocess (PYTHONPATH=checkout), interleaved.

    python -m bench.ab_commits OLD_CHECKOUT NEW_CHECKOUT --texts paragraphs --n-texts 300 --repeats 3
    python -m bench.ab_commits OLD NEW --texts tweets --n-texts 1000 --precision int8 --threads 1

(e.g. `git worktree add /tmp/old <commit>` for the old side.) The texts are read once, here, and
handed to both sides as a JSON file, so the children import nothing but spaCy, the checkout's
spacy_bert and the model package: the harness and text sets are this checkout's for both.
Prints the machine's state, each checkout's commit, the medians and the new/old ratio (a
refactor of the encoder stages must not be slower).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import git_commit, model_dir, print_machine
from bench.texts import TEXT_SETS, load_texts

# Runs with PYTHONPATH=<checkout>: argv = texts.json, checkpoint directory, precision, torch threads (0: torch's default).
CHILD = r"""
import json, sys, time
import spacy
import torch
import spacy_bert
texts = json.load(open(sys.argv[1], encoding="utf-8"))
if int(sys.argv[4]):
    torch.set_num_threads(int(sys.argv[4]))
nlp = spacy.blank("en")
nlp.add_pipe("bert", config={"checkpoint": sys.argv[2], "precision": sys.argv[3]})
nlp.initialize()
list(nlp.pipe(texts[:16]))  # warm-up
start = time.perf_counter()
docs = list(nlp.pipe(texts, batch_size=128))
elapsed = time.perf_counter() - start
print(json.dumps({"words": sum(len(d) for d in docs), "seconds": elapsed, "spacy_bert": spacy_bert.__file__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="the old checkout (a directory with spacy_bert/)")
    parser.add_argument("new", help="the new checkout")
    parser.add_argument("--texts", default="paragraphs", choices=TEXT_SETS)
    parser.add_argument("--n-texts", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None, help="the data sets folder (default ../shared/data)")
    parser.add_argument("--precision", default="float32", help="the component's precision setting on both sides")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per side (0: torch's default)")
    args = parser.parse_args()
    print_machine()
    checkouts = {side: os.path.abspath(getattr(args, side)) for side in ("old", "new")}
    for side, path in checkouts.items():
        if not (Path(path) / "spacy_bert" / "__init__.py").is_file():
            raise SystemExit(f"{side} checkout {path} has no spacy_bert/ package")
        print(f"{side}: {path} at commit {git_commit(Path(path))}")
    texts = load_texts(args.texts, args.n_texts, args.data_dir)
    checkpoint = model_dir()
    results = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        for _ in range(args.repeats):
            for side in ("old", "new"):
                env = {**os.environ, "PYTHONPATH": checkouts[side], "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
                # cwd=tmp: nothing of this checkout shadows the side's spacy_bert
                out = subprocess.run([sys.executable, "-c", CHILD, str(texts_file), checkpoint, args.precision, str(args.threads)],
                                     env=env, capture_output=True, text=True, cwd=tmp)
                if out.returncode != 0:
                    sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
                    raise SystemExit(f"the {side} side failed (exit {out.returncode})")
                run = json.loads(out.stdout.strip().splitlines()[-1])
                if not run["spacy_bert"].startswith(checkouts[side]):
                    raise SystemExit(f"the {side} side imported {run['spacy_bert']}, not its checkout's spacy_bert")
                results[side].append(run["words"] / run["seconds"])
                print(f"{side}: {results[side][-1]:,.0f} words/s", flush=True)
    old, new = statistics.median(results["old"]), statistics.median(results["new"])
    print(f"median words/s: old {old:,.0f}, new {new:,.0f}, new/old {new / old:.3f} ({args.texts}, {args.n_texts} texts, {args.repeats} repeats, precision {args.precision})")


if __name__ == "__main__":
    main()
