"""Switching the prediction precision of a loaded pipeline in one call.

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
"""
from typing import Any, Dict, Iterable, Optional

from spacy.language import Language

from ..errors import Errors
from ..layers.precision.policy import PRECISIONS
from .arguments import string_list

__all__ = ["set_precision"]


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
    if names is None:
        chosen = [name for name, pipe in nlp.components if hasattr(pipe, "set_precision")]
    else:  # a str is one component name, never its letters
        chosen = string_list(names, what="set_precision(names=...)", item="component name", example="bert")
    changed: Dict[str, str] = {}
    for name in chosen:
        pipe: Any = nlp.get_pipe(name)  # any component with set_precision / precision
        if not hasattr(pipe, "set_precision"):
            raise ValueError(Errors.E662.format(name=name, factory=nlp.get_pipe_meta(name).factory, expected=", ".join(PRECISIONS)))
        pipe.set_precision(precision)
        # `get_pipe_config` returns the config `nlp.config` is built from: changing it is how
        # the setting reaches config.cfg at `nlp.to_disk`.
        nlp.get_pipe_config(name)["precision"] = precision
        changed[name] = pipe.precision
    return changed
