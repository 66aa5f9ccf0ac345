"""`bert_fill_mask`'s output in Hugging Face's form: the prediction dicts of each mask
(`prediction_entries`) with their `sequence` strings, spliced in linear time where a text has
several masks (`SequenceSplicer`)."""
from typing import Any, Dict, List

import numpy as np

from ..layers.heads.mlm_fill import FilledMasks
from ..tokenization.wordpiece import clean_up_tokenization

__all__ = ["SequenceSplicer", "prediction_entries"]


def prediction_entries(tokenizer: Any, filled: FilledMasks) -> List[Dict[str, Any]]:
    """Hugging Face's `FillMaskPipeline` dicts for the masks of one text: per mask {"start",
    "end", "predictions": [{"score", "token", "token_str", "sequence"}, ...]} (`tokenizer`: the
    component's `BertTokenizer`)."""
    single = len(filled.pieces) == 1
    tokens = np.concatenate([[tokenizer.cls_token_id], filled.piece_ids, [tokenizer.sep_token_id]])
    token_strs: Dict[int, str] = {}
    fast = None if single else SequenceSplicer(tokenizer, tokens)
    entries = []
    for j, piece in enumerate(filled.pieces.tolist()):
        predictions = []
        for score, token in zip(filled.scores[j].tolist(), filled.ids[j].tolist()):
            if token not in token_strs:
                token_strs[token] = tokenizer.decode([token])
            if fast is not None and fast.exact:
                sequence = fast.sequence(piece + 1, token)
            else:
                seq = tokens.copy()
                seq[piece + 1] = token
                sequence = tokenizer.decode(seq, skip_special_tokens=single)
            predictions.append({"score": score, "token": token, "token_str": token_strs[token], "sequence": sequence})
        start, end = filled.offsets[j].tolist()
        entries.append({"start": start, "end": end, "predictions": predictions})
    return entries


#: tokenizers' WordPiece decoder with cleanup=True applies these to each token's text.
_DECODER_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class SequenceSplicer:
    """Hugging Face's multi-mask `sequence` (decode with special tokens kept) for one token
    replaced, in time linear in the text instead of one full decode per prediction (a Doc
    with 1,000 masks needs 5,000 sequences).

    WordPiece decoding is per token: each token's text depends only on the token and on
    whether it is the first ("##" glued, else a leading space; then the decoder's cleanup),
    and the tokenizer's `clean_up_tokenization` runs once over the joined text. So the text
    before and after the replaced position is decoded once and spliced. The first splice is
    checked against a full decode (`exact`); where they differ the caller decodes in full.
    """

    def __init__(self, tokenizer, tokens: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.parts = [self.piece_text(t, i == 0) for i, t in enumerate(tokenizer.convert_ids_to_tokens(tokens.tolist()))]
        self.prefix_ends = np.cumsum([0] + [len(p) for p in self.parts])
        self.text = "".join(self.parts)
        self.exact = True
        self._checked = False

    @staticmethod
    def piece_text(token: str, first: bool) -> str:
        if not first:
            token = token[2:] if token.startswith("##") else " " + token
        for old, new in _DECODER_CLEANUP:
            token = token.replace(old, new)
        return token

    def sequence(self, position: int, token_id: int) -> str:
        start, end = self.prefix_ends[position], self.prefix_ends[position + 1]
        token = self.tokenizer.convert_ids_to_tokens([token_id])[0]
        text = self.text[:start] + self.piece_text(token, position == 0) + self.text[end:]
        if self.tokenizer.clean_up_tokenization_spaces:
            text = clean_up_tokenization(text)
        if not self._checked:
            self._checked = True
            seq = self.tokens.copy()
            seq[position] = token_id
            self.exact = text == self.tokenizer.decode(seq, skip_special_tokens=False)
            if not self.exact:
                return self.tokenizer.decode(seq, skip_special_tokens=False)
        return text
