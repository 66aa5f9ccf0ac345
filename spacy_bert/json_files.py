"""Reading and writing JSON files: one reader with an error that names the file, one atomic writer.

A base module (standard library only, plus `errors`): `checkpoint/` (config.json, shard
indexes) and `tokenization/` (tokenizer_config.json, tokenizer.json) read and write JSON files,
and tokenization must not import `checkpoint/` for it (that would pull in torch and
safetensors). See tests/test_layering.py.

Every file is written atomically (`atomic_write`): to a temporary file in the same directory,
flushed to the disk (`fsync`), then renamed over the target, and the directory fsynced. A crash
or a full disk leaves the old file or the new one, never half a file.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Union

from .errors import Errors

__all__ = ["atomic_write", "fsync_directory", "read_json", "write_json", "write_text"]

PathLike = Union[str, os.PathLike]
# The process's umask, read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def read_json(path: PathLike, message: str = Errors.E107) -> Dict[str, Any]:
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


def atomic_write(path: PathLike, write: Callable[[str], None]) -> Path:
    """Create or replace the file `path` atomically.

    Args:
        path (str | PathLike): The file to write; its directory must exist.
        write (Callable[[str], None]): Writes the whole content to the temporary path it is
            given (closing the file it opens).

    Returns:
        Path: `path`.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        # The data must be on the disk before the rename makes it the file: otherwise a crash
        # just after the rename can leave an empty file under the final name.
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the mode open() would give
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    fsync_directory(path.parent)  # the rename itself reaches the disk
    return path


def fsync_directory(directory: Path) -> None:
    """fsync a directory, where the platform allows it (not on Windows: best effort there)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: PathLike, text: str) -> Path:
    """Write `text` (str) to `path` as UTF-8 with "\\n" line ends, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    return atomic_write(path, write)


def write_json(data: Mapping[str, Any], path: PathLike, *, sort_keys: bool = False) -> Path:
    """Write `data` (a JSON object) to `path` as indented UTF-8 JSON ending in a newline, atomically.

    Args:
        sort_keys (bool): Sort object keys (config.json is written sorted, as before; the
            tokenizer files keep their insertion order, as transformers writes them).
    """
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=sort_keys) + "\n")
