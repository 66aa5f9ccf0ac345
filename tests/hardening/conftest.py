"""Fixtures of the hardening suite.

The tests match errors by their code (`match="E030"`), as every message will carry it once
`errors.py` uses spaCy's ErrorsWithCodes style (messages prefixed "[E030] "). Until that change
is on this branch, `prefix_codes` prefixes the messages the same way for the test session (and
in the suite's subprocesses); with ErrorsWithCodes in place it finds them prefixed already and
does nothing. (Delete it once errors.py is converted.)
"""
import re

import pytest

from spacy_bert import errors
from tests.pipeline.conftest import tiny_bert_dir  # noqa: F401 (the tiny checkpoint the fuzz suite runs)

_CODE = re.compile(r"^[EW]\d+$")


def prefix_codes():
    """Prefix every message of `Errors`/`Warnings` with "[CODE] " unless it already is; returns what to undo."""
    patched = []
    for cls in (errors.Errors, errors.Warnings):
        for name in list(vars(cls)):
            if _CODE.match(name) and not getattr(cls, name).startswith(f"[{name}]"):
                patched.append((cls, name, vars(cls)[name]))
                setattr(cls, name, f"[{name}] {vars(cls)[name]}")
    return patched


@pytest.fixture(autouse=True, scope="package")
def coded_messages():
    patched = prefix_codes()
    yield
    for cls, name, message in patched:
        setattr(cls, name, message)
