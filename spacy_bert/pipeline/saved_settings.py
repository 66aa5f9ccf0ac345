"""Which settings a loaded component uses: the one rule for `from_disk`/`from_bytes` of every
spacy-bert component (`bert`, `bert_ner`, `bert_textcat`, `bert_qa`, `bert_fill_mask`).

The factory arguments (what `nlp.config` shows, with any `spacy.load(..., config=...)` override)
are the truth. The saved cfg carries what the config cannot:
- state that is not a factory argument (`labels`, ...), restored as saved;
- settings the component took from elsewhere after it was built, which spaCy cannot write into
  its config: after `nlp.replace_listeners` a task component owns a copy of the shared `bert`
  encoder with that component's `window`/`stride`/`checkpoint`.

So the saved cfg also records, under `CONFIG_KEY`, the factory arguments the component was
built with. At load, a setting whose factory argument differs from the recorded one was
overridden (or the pipeline's config differs from the save's): the factory argument wins. A
setting whose factory argument is unchanged keeps its saved value (equal to the factory
argument, unless it was taken from elsewhere as above). A cfg saved before `CONFIG_KEY`
existed: every factory argument wins.

A setting the saved weights cannot honour (`fixed`, e.g. `bert_textcat`'s `multi_label`: the
head was trained for the other problem type) is refused with E760 when it would change. So is
another `checkpoint`: a saved component carries its weights and never reads a checkpoint, so
pointing it elsewhere would be ignored; null (no checkpoint: the weights come from the save, as
`nlp.add_pipe(name)` + `from_bytes` does) is accepted.
"""
import copy
from typing import Any, Dict, Mapping, Optional

from ..errors import Errors

__all__ = ["CONFIG_KEY", "CHECKPOINT_WHY", "resolve_settings"]

#: Key of the saved cfg file (and of the bytes' cfg) holding the factory arguments the
#: component was built with (not a setting itself).
CONFIG_KEY = "config"
_MISSING = object()
CHECKPOINT_WHY = (
    "a saved component carries its own weights and never reads a checkpoint, so another "
    "checkpoint would be ignored (null is accepted: no checkpoint)."
)


def resolve_settings(
    name: str,
    factory: str,
    built: Mapping[str, Any],
    saved: Mapping[str, Any],
    fixed: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """The component's cfg after loading `saved`.

    Args:
        name (str), factory (str): the component and its factory, for messages.
        built (Mapping[str, Any]): the factory arguments the component was built with.
        saved (Mapping[str, Any]): the saved cfg (settings, state and `CONFIG_KEY`; the weights
            list and the state block already taken out).
        fixed (Optional[Mapping[str, str]]): settings that cannot change at load -> why (the
            sentence E760 gives).

    Returns:
        The new cfg (a copy; nothing is changed here). Raises E760 for a fixed setting that
        would change.
    """
    result: Dict[str, Any] = copy.deepcopy(dict(saved))
    at_save = result.pop(CONFIG_KEY, None)
    at_save = at_save if isinstance(at_save, dict) else {}
    for key, value in built.items():
        recorded = at_save.get(key, _MISSING)
        if recorded is not _MISSING and recorded == value:
            result.setdefault(key, copy.deepcopy(value))
            continue
        why = CHECKPOINT_WHY if (key == "checkpoint" and value is not None) else (fixed or {}).get(key)
        if why is not None and result.get(key) is not None and result[key] != value:
            raise ValueError(Errors.E760.format(name=name, factory=factory, key=key, saved=result[key], value=value, why=why))
        result[key] = copy.deepcopy(value)
    return result
