"""Switching how a loaded pipeline predicts, in one call: its precision and its batch invariance.

    from spacy_bert.pipeline import set_precision
    nlp = spacy.load("my_pipeline")
    set_precision(nlp, "int8")          # every spacy-bert component with its own encoder
                                        # (bert, bert_ner, bert_textcat, bert_qa, bert_fill_mask)

or, at load, as a config override (the setting is a factory argument, stored in the
pipeline's config.cfg, never in the component's weights):

    spacy.load("my_pipeline", config={"components": {"bert_ner": {"precision": "int8"}}})

Weights stay fp32 (see `spacy_bert/layers/precision/policy.py`); the next batch predicts in the new
precision. `nlp.get_pipe(name).precision` reports the precision in use ("auto" resolved for
this CPU or GPU), `nlp.get_pipe(name).precision_setting` the setting. Components listening to a shared `bert` component predict in its precision.

`set_batch_invariant(nlp)` makes each text's scores independent, bit for bit, of the texts
batched with it (`spacy bert serve` does it by default), so that results served in batches
across requests equal an offline `nlp.pipe` of the same pipeline with the same setting.
"""
from typing import Any, Dict, Iterable, List, Optional, Tuple

from spacy.language import Language

from ..errors import Errors
from ..layers.precision.policy import PRECISIONS
from .arguments import string_list

__all__ = ["set_batch_invariant", "set_precision"]


def set_precision(nlp: Language, precision: str, names: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """Set `precision` on the spacy-bert components of `nlp` and record it in `nlp.config`
    (so `nlp.to_disk` saves it and `spacy.load` restores it).

    Args:
        nlp (Language): The pipeline.
        precision (str): "float32", "int8", "bfloat16", "float16" or "auto" (E660 otherwise).
        names (Optional[Iterable[str]]): Components to change (a str is one name); default every component that has
            a `set_precision` method (`bert`, `bert_ner`, `bert_textcat`, `bert_qa`,
            `bert_fill_mask`).

    Returns:
        Dict[str, str]: component name -> the precision it now predicts in (the setting
            resolved for the device: "auto" -> what `auto` chose; `pipe.precision_setting` and
            `nlp.config` keep "auto").
    """
    changed: Dict[str, str] = {}
    for name, pipe in _components(nlp, names, "set_precision"):
        pipe.set_precision(precision)
        # `get_pipe_config` returns the config `nlp.config` is built from: changing it is how
        # the setting reaches config.cfg at `nlp.to_disk`.
        nlp.get_pipe_config(name)["precision"] = precision
        changed[name] = pipe.precision
    return changed


def set_batch_invariant(nlp: Language, batch_invariant: bool = True, names: Optional[Iterable[str]] = None) -> List[str]:
    """Set `batch_invariant` on the spacy-bert components of `nlp` and record it in `nlp.config`.

    Args:
        nlp (Language): The pipeline.
        batch_invariant (bool): True: every text's outputs are bit for bit the same whatever
            it is batched with (`EncoderSettings.batch_invariant`); False: the faster default.
        names (Optional[Iterable[str]]): Components to change (a str is one name); default every
            spacy-bert component.

    Returns:
        List[str]: The components changed.
    """
    changed = []
    for name, pipe in _components(nlp, names, "set_batch_invariant"):
        pipe.set_batch_invariant(batch_invariant)
        nlp.get_pipe_config(name)["batch_invariant"] = batch_invariant
        changed.append(name)
    return changed


def _components(nlp: Language, names: Optional[Iterable[str]], method: str) -> List[Tuple[str, Any]]:
    """(name, component) of the components `names` (default: every one with a `method`);
    E662 for a named component without it."""
    if names is None:
        return [(name, pipe) for name, pipe in nlp.components if hasattr(pipe, method)]
    # a str is one component name, never its letters
    chosen = string_list(names, what=f"{method}(names=...)", item="component name", example="bert")
    components = []
    for name in chosen:
        pipe: Any = nlp.get_pipe(name)
        if not hasattr(pipe, method):
            raise ValueError(Errors.E662.format(name=name, factory=nlp.get_pipe_meta(name).factory, method=method))
        components.append((name, pipe))
    return components
