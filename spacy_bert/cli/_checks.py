"""Argument checks shared by the `spacy bert` commands: each bad path or value ends the command
with one coded line (E770-E776) that says which argument was wrong and what to pass, before any
slow work (loading a pipeline, converting a corpus) starts.
"""
import os
from pathlib import Path
from typing import Any, List, Union

from ..errors import Errors
from ._app import fail


def input_file(command: str, argument: str, path: Union[str, Path]) -> Path:
    """`path` when it is an existing file (E770 otherwise)."""
    path = Path(path)
    if not path.exists():
        fail(Errors.E770.format(command=command, argument=argument, path=path, problem="does not exist", expected="an existing file"))
    if not path.is_file():
        fail(Errors.E770.format(command=command, argument=argument, path=path, problem="is a directory, not a file", expected="a file"))
    return path


def input_dir(command: str, argument: str, path: Union[str, Path]) -> Path:
    """`path` when it is an existing directory (E770 otherwise)."""
    path = Path(path)
    if not path.exists():
        fail(Errors.E770.format(command=command, argument=argument, path=path, problem="does not exist", expected="an existing directory"))
    if not path.is_dir():
        fail(Errors.E770.format(command=command, argument=argument, path=path, problem="is a file, not a directory", expected="a directory"))
    return path


def not_utf8(path: Path, data: bytes, error: UnicodeDecodeError) -> str:
    """E772 naming `path:line` of the first byte of `data` (the file's bytes) that is not UTF-8."""
    line = data[: error.start].count(b"\n") + 1
    return Errors.E772.format(path=path, line=line, error=f"byte 0x{data[error.start]:02x}: {error.reason}")


def read_utf8_lines(command: str, argument: str, path: Union[str, Path]) -> List[str]:
    """The lines of a UTF-8 file (a BOM dropped; split on \\n and \\r\\n only). E770 / E772."""
    path = input_file(command, argument, path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        fail(not_utf8(path, data, error))
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _writable_parent(command: str, argument: str, path: Path, expected: str) -> None:
    """E771 when a parent of `path` is a file, the nearest existing one is not writable, or the
    missing parents cannot be made (they are made now: the command writes there later)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                fail(Errors.E771.format(command=command, argument=argument, path=path, problem=f"{parent} is a file, not a directory", expected=expected))
            if not os.access(parent, os.W_OK | os.X_OK):
                fail(Errors.E771.format(command=command, argument=argument, path=path, problem=f"{parent} is not writable (permission denied)", expected=expected))
            break
    try:
        path.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a read-only file system, or /proc
        from ._app import os_error_text

        fail(Errors.E771.format(command=command, argument=argument, path=path, problem=os_error_text(error), expected=expected))


def output_file(command: str, argument: str, path: Union[str, Path]) -> Path:
    """`path` when a file can be written there (E771 otherwise); its parent directories are made."""
    path = Path(path)
    expected = "a file path"
    if path.is_dir():
        fail(Errors.E771.format(command=command, argument=argument, path=path, problem="it is a directory", expected=expected))
    if path.exists() and not os.access(path, os.W_OK):
        fail(Errors.E771.format(command=command, argument=argument, path=path, problem="the file is not writable (permission denied)", expected=expected))
    _writable_parent(command, argument, path, expected)
    return path


def output_dir(command: str, argument: str, path: Union[str, Path]) -> Path:
    """`path` when a directory can be written there (E771 otherwise); its parents are made."""
    path = Path(path)
    expected = "a directory path"
    if path.exists() and not path.is_dir():
        fail(Errors.E771.format(command=command, argument=argument, path=path, problem="it is a file, not a directory", expected=expected))
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        fail(Errors.E771.format(command=command, argument=argument, path=path, problem="the directory is not writable (permission denied)", expected=expected))
    _writable_parent(command, argument, path, expected)
    return path


def non_negative_limit(command: str, limit: int) -> int:
    """`--limit` when it is 0 (all) or positive (E774 otherwise)."""
    if limit < 0:
        fail(Errors.E774.format(command=command, option="--limit", value=limit, expected="0 (all) or a positive number"))
    return limit


def load_pipeline(command: str, pipeline: Union[str, Path]) -> Any:
    """`spacy.load(pipeline)`; E776 (with spaCy's reason) when it is no saved pipeline."""
    import spacy

    try:
        return spacy.load(pipeline)
    except (OSError, ValueError, KeyError) as error:
        from ._app import is_coded

        if isinstance(error, (ValueError, KeyError)) and not is_coded(error):
            raise  # not a user's path problem: a bug, keep its traceback
        fail(Errors.E776.format(command=command, pipeline=str(pipeline), error=" ".join(str(error).split()).rstrip(".")))

