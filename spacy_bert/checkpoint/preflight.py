"""Refuse a config.json that asks for a model far bigger than its weights, before building it.

A model is allocated from its config before the weights are copied in, so a config.json with
`vocab_size` 1e9, `intermediate_size` 1e9, `num_hidden_layers` 1e5 or `num_labels` 1e8 would go
straight to the allocator (or, for the labels, build a 1e8-entry label table). Here the size the
config implies is computed with integer arithmetic from the raw config dictionary and compared
with the tensors the weights files hold (`stream.directory_weights`: headers only),
so such a config is an error in milliseconds with no memory growth.

Only a *large* disagreement is refused here: a config that is a little off (a wrong
`intermediate_size`, a smaller vocabulary) builds a model of normal size, and strict loading
then lists every mis-shaped tensor (E108), which says more.
"""
import re
from typing import Any, List, Mapping, Optional

from ..errors import Errors
from ..modeling.config import DEFAULTS
from . import keys
from .layout import Layout

#: A config may imply this many parameters beyond twice what the weights hold before it is
#: refused (fresh heads and pooler are legitimately absent from a checkpoint).
SLACK_PARAMETERS = 2**20
#: Fresh label heads up to this many parameters are always allowed, whatever the checkpoint.
MIN_LABEL_HEAD_LIMIT = 2**24
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.")


def _positive_int(config: Mapping[str, Any], name: str) -> Optional[int]:
    """The field as a positive int, or None when it is not one (BertConfig then names it: E003)."""
    value = config.get(name, DEFAULTS.get(name))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def num_labels(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Optional[int]:
    """The label count BertConfig.from_dict(config, **overrides) will build, or None if not an int."""
    if "id2label" in overrides or ("num_labels" not in overrides and isinstance(config.get("id2label"), Mapping)):
        table = overrides.get("id2label", config.get("id2label"))
        return len(table) if isinstance(table, Mapping) else None
    value = overrides.get("num_labels", config.get("num_labels", 2))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def encoder_parameters(vocab: int, hidden: int, positions: int, types: int, layers: int, intermediate: int) -> int:
    """Parameters of BertModel's embeddings and layers (no pooler, no heads)."""
    embeddings = (vocab + positions + types) * hidden + 2 * hidden
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    feed_forward = hidden * intermediate + intermediate + intermediate * hidden + hidden + 2 * hidden
    return embeddings + layers * (attention + feed_forward)


def _disagreements(config: Mapping[str, Any], layout: Layout) -> List[str]:
    """'vocab_size=1000000000, but embeddings.word_embeddings.weight has 99 rows' for each field."""
    shapes = {keys.to_model_name(name, False): info.shape for name, info in layout.items()}
    checks = (
        ("vocab_size", "embeddings.word_embeddings.weight", 0, "rows"),
        ("hidden_size", "embeddings.word_embeddings.weight", 1, "columns"),
        ("max_position_embeddings", "embeddings.position_embeddings.weight", 0, "rows"),
        ("type_vocab_size", "embeddings.token_type_embeddings.weight", 0, "rows"),
        ("intermediate_size", "encoder.layer.0.intermediate.dense.weight", 0, "rows"),
    )
    found = []
    for field, tensor, dim, what in checks:
        shape = shapes.get(tensor)
        value = _positive_int(config, field)
        if shape is not None and len(shape) > dim and value is not None and shape[dim] != value:
            found.append(f"{field}={value}, but {tensor} has {shape[dim]} {what} (shape {tuple(shape)})")
    layers = {int(m.group(1)) for name in shapes if (m := _LAYER.match(name))}
    wanted = _positive_int(config, "num_hidden_layers")
    if wanted is not None and wanted != len(layers):
        found.append(f"num_hidden_layers={wanted}, but the weights hold {len(layers)} layer(s)")
    return found


def check_config_fits_weights(config: Mapping[str, Any], overrides: Mapping[str, Any], layout: Layout, source: str) -> None:
    """Refuse (E133, E134) a config whose model or label head is far bigger than the weights.

    Args:
        config (Mapping[str, Any]): The config.json dictionary, as read.
        overrides (Mapping[str, Any]): Fields the caller replaces (e.g. num_labels=5).
        layout (Layout): The checkpoint's tensors by name (shapes only).
        source (str): The checkpoint directory, for messages.
    """
    merged = {**config, **overrides}
    held = sum(info.numel for info in layout.values())
    fields = ("vocab_size", "hidden_size", "max_position_embeddings", "type_vocab_size", "num_hidden_layers", "intermediate_size")
    found = [_positive_int(merged, name) for name in fields]
    values = [v for v in found if v is not None]
    if len(values) == len(found):
        vocab, hidden, positions, types, layers, intermediate = values
        implied = encoder_parameters(vocab, hidden, positions, types, layers, intermediate)
        if implied > 2 * held + SLACK_PARAMETERS:
            details = "\n".join(f"  - {line}" for line in _disagreements(merged, layout)) or "  - (no tensor names the size)"
            raise ValueError(Errors.E133.format(path=source, implied=implied, held=held, details=details))
    labels = num_labels(config, overrides)
    width = _positive_int(merged, "hidden_size")
    if labels is not None and width is not None:
        head = labels * (width + 1)
        limit = max(2 * held, MIN_LABEL_HEAD_LIMIT)
        if head > limit:
            raise ValueError(Errors.E134.format(path=source, labels=labels, hidden=width, head=head, held=held, limit=limit))
