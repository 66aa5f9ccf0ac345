"""`raises_code`: assert that a coded error from `spacy_bert.errors` was raised.

Works before and after the messages carry their code as a prefix (spaCy's `ErrorsWithCodes`
style, "[E380] ..."): the message must contain the longest literal part of the template, and
the code itself when the message shows it.
"""
import contextlib
import re

import pytest

from spacy_bert.errors import Errors


@contextlib.contextmanager
def raises_code(code: str, match: str = None, exception=ValueError):
    template = getattr(Errors, code).removeprefix(f"[{code}] ")
    literal = max(re.split(r"\{[^}]*\}", template), key=len).strip()
    with pytest.raises(exception) as info:
        yield info
    message = str(info.value)
    assert literal in message, f"expected {code} ({literal!r}), got: {message}"
    if message.startswith("["):
        assert message.startswith(f"[{code}]"), message
    if match is not None:
        assert re.search(match, message), f"{match!r} not in: {message}"
