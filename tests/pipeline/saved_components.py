"""Tiny checkpoints and saved pipelines of every spacy-bert component, for the load tests
(`test_load_overrides.py`, `test_strict_load.py`).

Each task checkpoint is a random transformers model (hidden 32, 64 positions, the real uncased
vocabulary) saved with the uncased tokenizer; `bert` uses the `tiny_bert_dir` encoder.
`observe(nlp, name)` runs a component the way a user would and returns what it produced, so
the tests compare behaviour, not only cfg values.
"""
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Tuple

import numpy as np
import spacy
import torch

import spacy_bert

COMPONENTS = ("bert", "bert_ner", "bert_textcat", "bert_qa", "bert_fill_mask")
HF_CLASS = {
    "bert_ner": "BertForTokenClassification",
    "bert_textcat": "BertForSequenceClassification",
    "bert_qa": "BertForQuestionAnswering",
    "bert_fill_mask": "BertForMaskedLM",
}
NER_ID2LABEL = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTCAT_ID2LABEL = {0: "negative", 1: "positive", 2: "neutral"}
#: Long enough for several 64-position windows (and for window overrides to matter).
LONG_TEXT = " ".join(f"Alice Schwarzenegger met Bob Tchaikovsky in Reykjavik on day {i} and they talked about London." for i in range(6))
QUESTIONS = ["Who met Bob?", "Where did they meet?"]
MASK_TEXT = "Alice Smith lives in [MASK] and works in [MASK] with Bob."


def make_checkpoint(name: str, directory: Path, tiny_bert_dir: Path, minilm_dir: Path) -> Path:
    """A checkpoint for component `name` (a fine-tuned head for every task component)."""
    if name == "bert":
        return tiny_bert_dir
    import transformers

    from tests.modeling.helpers import hf_model

    config: Dict[str, Any] = dict(vocab_size=30522, initializer_range=0.2)
    if name in ("bert_ner", "bert_textcat"):
        id2label = NER_ID2LABEL if name == "bert_ner" else TEXTCAT_ID2LABEL
        config.update(num_labels=len(id2label), id2label=dict(id2label), label2id={v: k for k, v in id2label.items()})
    if name == "bert_textcat":
        config["problem_type"] = "single_label_classification"
    if name == "bert_qa":
        config["num_labels"] = 2  # start, end
    model = hf_model(HF_CLASS[name], **config)
    with torch.no_grad():  # a head with varied outputs (BERT's init gives near-uniform ones)
        for param_name, param in model.named_parameters():
            if param_name.startswith(("classifier.", "qa_outputs.")):
                torch.manual_seed(1)
                param.normal_(0.0, 1.0)
    model.save_pretrained(directory)
    transformers.BertTokenizerFast.from_pretrained(str(minilm_dir)).save_pretrained(directory)
    return directory


def build(name: str, checkpoint: Path, **config: Any) -> spacy.Language:
    """A blank English pipeline with the one component, read from `checkpoint`."""
    nlp = spacy.blank("en")
    nlp.add_pipe(name, config={"checkpoint": str(checkpoint), **config})
    return nlp


def observe(nlp: spacy.Language, name: str) -> Any:
    """What component `name` produces on the test texts (comparable with ==, arrays as lists)."""
    if name == "bert":
        doc = nlp(LONG_TEXT)
        data = doc._.bert
        states = None if data.last_hidden_state is None else np.round(data.last_hidden_state, 5).tolist()
        return {"tensor": np.round(doc.tensor, 5).tolist(), "n_windows": data.n_windows, "piece_states": states}
    if name == "bert_ner":
        doc = nlp(LONG_TEXT)
        component = nlp.get_pipe(name)
        key = component.cfg["spans_key"]
        spans = doc.spans[key] if key in doc.spans else []
        logits = component.model.predict([doc])[0]
        return {
            "ents": [(e.start_char, e.end_char, e.label_) for e in doc.ents],
            "spans": {key: [(s.start_char, s.end_char, s.label_) for s in spans]},
            "logits": np.round(np.asarray(getattr(logits, "logits", logits)), 4).tolist(),
        }
    if name == "bert_textcat":
        return {k: round(v, 5) for k, v in nlp(LONG_TEXT).cats.items()}
    if name == "bert_qa":
        return spacy_bert.ask(nlp, LONG_TEXT, QUESTIONS)._.answers
    if name == "bert_fill_mask":
        return nlp(MASK_TEXT)._.fill_mask
    raise KeyError(name)


def saved_pipelines(
    tmp_path_factory: Any, tiny_bert_dir: Path, minilm_dir: Path, base: Callable[[str], Mapping[str, Any]], prefix: str
) -> Callable[[str], Tuple[Path, Path]]:
    """name -> (saved pipeline path, checkpoint): a pipeline with that one component, built from
    a fine-tuned checkpoint with the settings `base(name)`, saved once per name."""
    made: Dict[str, Tuple[Path, Path]] = {}

    def get(name: str) -> Tuple[Path, Path]:
        if name not in made:
            root = tmp_path_factory.mktemp(f"{prefix}-{name}")
            checkpoint = make_checkpoint(name, root / "checkpoint", tiny_bert_dir, minilm_dir)
            build(name, checkpoint, **base(name)).to_disk(root / "pipeline")
            made[name] = (root / "pipeline", checkpoint)
        return made[name]

    return get
