"""Reading a JSON object from a file, with an error that names the file.

A base module (standard library only, plus `errors`): both `checkpoint/` (config.json,
shard indexes) and `tokenization/` (tokenizer_config.json, tokenizer.json) read JSON files,
and tokenization must not import `checkpoint/` for it (that would pull in torch and
safetensors). See tests/test_layering.py.
"""
import json
import os
from typing import Any, Dict, Union

from .errors import Errors

__all__ = ["read_json"]


def read_json(path: Union[str, os.PathLike], message: str = Errors.E107) -> Dict[str, Any]:
    """Read a JSON object from `path`; a `ValueError` built from `message` (with `{path}` and
    `{error}`) when the file is unreadable or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(message.format(path=path, error=error)) from error
    except RecursionError as error:  # json gives up on deep nesting with a RecursionError
        raise ValueError(message.format(path=path, error="JSON nested too deeply")) from error
    if not isinstance(data, dict):
        raise ValueError(message.format(path=path, error=f"expected a JSON object, got {type(data).__name__}"))
    return data
