"""The key table between Hugging Face checkpoint tensor names and our parameter names.

Our modules use Hugging Face's names, so the table only covers how checkpoints in the wild
differ from a model's `state_dict`:

| in a checkpoint                              | in our model                                 |
|----------------------------------------------|----------------------------------------------|
| `…LayerNorm.gamma` / `…LayerNorm.beta`        | `…LayerNorm.weight` / `…LayerNorm.bias`       |
| `bert.` prefix present or absent             | `bert.` exactly when the class wraps `self.bert` |
| `embeddings.position_ids`, `…token_type_ids` | (buffers we do not store; dropped)           |
| `cls.predictions.decoder.bias`               | `cls.predictions.bias` (one parameter)       |
| `cls.predictions.decoder.weight`             | tied to the word embeddings, unless untied   |

`to_checkpoint_name` is the reverse direction, used when we write files.
"""
from typing import Dict, Iterable, Tuple

LEGACY_SUFFIXES: Tuple[Tuple[str, str], ...] = (
    (".LayerNorm.gamma", ".LayerNorm.weight"),
    (".LayerNorm.beta", ".LayerNorm.bias"),
)
#: Buffers older checkpoints store and current models rebuild: never an error to find them.
DROPPED_BUFFERS: Tuple[str, ...] = ("embeddings.position_ids", "embeddings.token_type_ids")
#: Checkpoint names that are a second name of one of our parameters. When a checkpoint has
#: both names, the alias wins: it is the tensor Hugging Face's forward pass uses.
ALIASES: Dict[str, str] = {"cls.predictions.decoder.bias": "cls.predictions.bias"}
ENCODER_PREFIXES: Tuple[str, ...] = ("embeddings.", "encoder.", "pooler.")
#: Task heads: allowed to be missing (fresh init, announced) or unused (dropped, announced).
HEAD_PREFIXES: Tuple[str, ...] = ("cls.", "classifier.", "qa_outputs.")
BASE_PREFIX = "bert."


def to_model_name(checkpoint_name: str, model_has_base_prefix: bool) -> str:
    """Map one checkpoint tensor name to the parameter name of our model.

    Args:
        checkpoint_name (str): Name in the file, e.g. "bert.embeddings.LayerNorm.gamma".
        model_has_base_prefix (bool): Whether the target class nests the encoder under `bert.`
            (every class except `BertModel`).
    """
    name = checkpoint_name
    for old, new in LEGACY_SUFFIXES:
        if name.endswith(old):
            name = name[: -len(old)] + new
    name = ALIASES.get(name, name)
    if model_has_base_prefix and name.startswith(ENCODER_PREFIXES):
        name = BASE_PREFIX + name
    elif not model_has_base_prefix and name.startswith(BASE_PREFIX):
        name = name[len(BASE_PREFIX):]
    return name


def to_checkpoint_name(model_name: str) -> str:
    """Our parameter name as Hugging Face writes it today (modern LayerNorm names, same prefix)."""
    return model_name


def is_dropped_buffer(model_name: str) -> bool:
    return model_name.removeprefix(BASE_PREFIX) in DROPPED_BUFFERS


def is_head(model_name: str) -> bool:
    return model_name.startswith(HEAD_PREFIXES)


def is_pooler(model_name: str) -> bool:
    return model_name.removeprefix(BASE_PREFIX).startswith("pooler.")


def head_modules(names: Iterable[str]) -> str:
    """'cls.predictions, classifier' — the modules a list of parameter names belongs to."""
    modules = set()
    for name in names:
        parts = name.removeprefix(BASE_PREFIX).split(".")
        modules.add(".".join(parts[:2]) if parts[0] == "cls" else parts[0])
    return ", ".join(sorted(modules))
