"""Where `bert_fill_mask` puts its predictions on a Doc's tokens, without ever retokenizing it.

DESIGN.md decision 14: a component never retokenizes a Doc that earlier components annotated
(`bert` set `doc.tensor` and `doc._.bert` per token, `bert_ner` set spans by token index; a
merge or split leaves them stale). So the masks are placed on the tokens the Doc already has:

1. At tokenization, before any component runs, `keep_masks_whole` makes spaCy's tokenizer cut
   "[MASK]" out as its own token wherever it stands: alone, glued to words ("a[MASK]b",
   "x[MASK]"), to punctuation ("[MASK].", "([MASK])") or to other masks ("[MASK][MASK]").
   This is tokenization, not retokenization: every component sees the same tokens.
2. At `set_annotations`, each mask's char span (from its WordPiece piece) is aligned to the
   Doc's tokens by char overlap with `align_pieces_to_tokens`, the rule every head uses to
   align pieces to tokens. This also covers Docs whose tokens were made elsewhere (a DocBin,
   `Doc(vocab, words=...)`, another tokenizer) where a mask may be cut into several tokens or
   share one token with other masks.

`token._.fill_mask` of a token (None for a token that overlaps no mask) follows Hugging Face's
`FillMaskPipeline` output shape, applied to the masks that the token overlaps:

- one mask (the usual case, and every case after `keep_masks_whole`): that mask's list of
  prediction dicts ({"score", "token", "token_str", "sequence"}), as Hugging Face returns it
  for a text with one mask; every token that overlaps the mask holds it (a mask cut into
  "[", "MASK", "]" puts the same list on all three);
- several masks (a token such as "MASK][MASK" of a Doc tokenized elsewhere): one such list
  per mask, in text order, as Hugging Face returns for a text with several masks.

`doc._.fill_mask` is the uniform view: one {"start", "end", "predictions"} entry per mask,
with the mask's char offsets (`doc.char_span(start, end, alignment_mode="expand")` gives its
tokens).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Sequence

import numpy as np
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from ..tokenization.alignment import align_pieces_to_tokens

MASK_TEXT = "[MASK]"
_MASK = re.escape(MASK_TEXT)
#: (tokenizer attribute, the mask rule put first in its regex, the method the attribute holds)
_RULES = (("prefix_search", "^" + _MASK, "search"), ("suffix_search", _MASK + "$", "search"), ("infix_finditer", _MASK, "finditer"))


def keep_masks_whole(tokenizer: Any) -> None:
    """Make spaCy's `tokenizer` cut "[MASK]" out as one token wherever it stands.

    A special case for the bare word, and "[MASK]" as the first alternative of the prefix,
    suffix and infix rules (so it wins over "[" / "]"). Idempotent (a loaded pipeline's saved
    tokenizer already has the rules). A tokenizer that is not spaCy's rule-based `Tokenizer`, or
    a rule that is not a compiled regex, is left as it is: masks on its tokens are still found by
    alignment, only a token may then hold part of a mask or several masks (module docstring).
    """
    if not isinstance(tokenizer, Tokenizer):
        return
    tokenizer.add_special_case(MASK_TEXT, [{ORTH: MASK_TEXT}])
    for attribute, rule, method in _RULES:
        current = getattr(tokenizer, attribute)
        regex = getattr(current, "__self__", None)
        if current is None:
            compiled = re.compile(rule)
        elif isinstance(regex, re.Pattern):
            if regex.pattern.startswith(rule + "|"):
                continue
            compiled = re.compile(rule + "|" + regex.pattern, regex.flags)
        else:
            continue
        setattr(tokenizer, attribute, getattr(compiled, method))  # the setter clears the tokenizer's cache


def set_token_predictions(doc: Doc, entries: Sequence[Dict[str, Any]]) -> None:
    """Write `token._.fill_mask` on every token that overlaps a mask (module docstring).

    doc (Doc): Left as it is, apart from the tokens' `fill_mask` values.
    entries (Sequence[Dict[str, Any]]): `doc._.fill_mask`: per mask, in text order, "start" and
        "end" (char offsets into doc.text, ascending, not overlapping) and "predictions".
    """
    if not entries or not len(doc):
        return
    masks = np.array([(e["start"], e["end"]) for e in entries], dtype=np.int64).reshape(-1, 2)
    tokens = np.array([(t.idx, t.idx + len(t.text)) for t in doc], dtype=np.int64).reshape(-1, 2)
    alignment = align_pieces_to_tokens(masks, tokens)  # the masks are the "pieces"
    for i in np.flatnonzero(alignment.lengths).tolist():
        overlapping: List[int] = alignment.pieces_of(i).tolist()
        value = entries[overlapping[0]]["predictions"] if len(overlapping) == 1 else [entries[m]["predictions"] for m in overlapping]
        doc[i]._.fill_mask = value
