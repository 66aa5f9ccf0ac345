"""Input records of `spacy bert annotate`: find the input files, check them, cut them into shards.

Formats (by suffix):

- `.jsonl`: one JSON object per line, `{"text": ..., "id": ..., "meta": ..., "questions": [...]}`;
  only "text" is required. Blank lines are skipped (they are not records). A line that is not a
  JSON object, or a record without "text", stops the run before any work (E703/E704, naming
  file:line).
- `.txt`: one text per non-empty line (line ends stripped; empty lines are skipped with W701).
- `.spacy`: a DocBin; each Doc is a record, `doc.user_data["id"]` / `["meta"]` when set.

A directory means its files with those suffixes (not recursive; other files are ignored); any
other INPUT that is not a file is taken as a glob. Default ids are `"<file name>:<line>"` (the
1-based line of a .jsonl/.txt file, the 1-based document number of a DocBin).

A shard is a contiguous range of one file's records (byte range for line formats, document
range for DocBins): workers read their shard themselves, so no record travels through a pipe
or Ray's object store, and its checksum is the checksum of exactly those bytes.
"""
import glob
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..errors import Errors, Warnings

FORMATS = {".jsonl": "jsonl", ".txt": "txt", ".spacy": "spacy"}


@dataclass(frozen=True)
class ShardSpec:
    """One input shard: records `[start, stop)` of one file.

    Attributes:
        name (str): Stable output name, `"<file name>-<index:05d>"` (the same on every run with
            the same --shard-size).
        path (str): The input file (absolute).
        fmt (str): "jsonl", "txt" or "spacy".
        start (int), stop (int): Byte offsets of the lines (jsonl/txt), document indices (spacy).
        first_line (int): 1-based line (or document) number of the range's first line.
        n_records (int): Records in the range.
    """

    name: str
    path: str
    fmt: str
    start: int
    stop: int
    first_line: int
    n_records: int


@dataclass
class Record:
    """One input record. `text` is whatever the input held (a non-str is reported when the shard
    runs, with the record's id); `doc` is set for DocBin records."""

    id: Any
    text: Any
    meta: Any = None
    questions: Optional[list] = None
    source: str = ""
    doc: Any = None


def input_files(input_path: str) -> List[Path]:
    """The input files of INPUT (a file, a directory or a glob), sorted; E700/E701/E702/E705."""
    path = Path(input_path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in FORMATS and not p.name.startswith("."))
        if not files:
            raise ValueError(Errors.E702.format(input=input_path, detail=f"no {', '.join(FORMATS)} file in the directory"))
    else:
        files = sorted(Path(p) for p in glob.glob(input_path) if Path(p).is_file())
        if not files:
            raise ValueError(Errors.E700.format(input=input_path))
    for file in files:
        if file.suffix not in FORMATS:
            raise ValueError(Errors.E701.format(path=str(file), suffix=file.suffix, expected=", ".join(FORMATS)))
    seen: Dict[str, Path] = {}
    for file in files:
        if file.name in seen:
            raise ValueError(Errors.E705.format(first=str(seen[file.name]), second=str(file), name=file.name))
        seen[file.name] = file
    return [file.resolve() for file in files]


def plan_shards(input_path: str, shard_size: int) -> List[ShardSpec]:
    """Check every input record and cut each file into shards of `shard_size` records.

    Args:
        input_path (str): INPUT (file, directory or glob).
        shard_size (int): Records per shard (the last shard of a file may hold fewer).

    Returns:
        List[ShardSpec]: In input order (files sorted, then position in the file).
    """
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(Errors.E706.format(option="--shard-size", value=shard_size, expected="a positive integer"))
    shards: List[ShardSpec] = []
    for path in input_files(input_path):
        fmt = FORMATS[path.suffix]
        ranges = _docbin_ranges(path, shard_size) if fmt == "spacy" else _line_ranges(path, fmt, shard_size)
        if not ranges:
            raise ValueError(Errors.E702.format(input=str(path), detail="the file has no records"))
        for index, (start, stop, first, count) in enumerate(ranges):
            shards.append(ShardSpec(f"{path.name}-{index:05d}", str(path), fmt, start, stop, first, count))
    return shards


def _line_ranges(path: Path, fmt: str, shard_size: int) -> List[Tuple[int, int, int, int]]:
    """(byte start, byte stop, first line, records) per shard of a .jsonl/.txt file; every line
    is decoded and (for .jsonl) parsed here, so a bad line stops the run before any work."""
    ranges: List[Tuple[int, int, int, int]] = []
    start, first, count, offset = 0, 1, 0, 0
    blank: List[int] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if count == 0:
                start, first = offset, number
            offset += len(raw)
            if _parse_line(raw, fmt, str(path), number) is None:
                if fmt == "txt":
                    blank.append(number)
                continue
            count += 1
            if count == shard_size:
                ranges.append((start, offset, first, count))
                count = 0
    if count:
        ranges.append((start, offset, first, count))
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
        warnings.warn(Warnings.W701.format(path=str(path), lines=shown))
    return ranges


def _parse_line(raw: bytes, fmt: str, path: str, number: int) -> Optional[Record]:
    """The record of one line, None for a blank line; E703/E704 for a bad line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(Errors.E703.format(path=path, line=number, reason=f"not UTF-8: {error}")) from None
    line = line.rstrip("\r\n")
    default_id = f"{Path(path).name}:{number}"
    if fmt == "txt":
        return Record(id=default_id, text=line, source=f"{path}:{number}") if line else None
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(Errors.E703.format(path=path, line=number, reason=str(error))) from None
    if not isinstance(value, dict):
        raise ValueError(Errors.E703.format(path=path, line=number, reason=f"a JSON {type(value).__name__}"))
    if "text" not in value:
        raise ValueError(Errors.E704.format(path=path, line=number, field="\"text\"", value="missing", expected="a string"))
    record_id = value.get("id", default_id)
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int, float)):
        raise ValueError(Errors.E704.format(path=path, line=number, field="\"id\"", value=record_id, expected="a string or a number"))
    questions = value.get("questions")
    if questions is not None and not isinstance(questions, list):
        raise ValueError(Errors.E704.format(path=path, line=number, field="\"questions\"", value=questions, expected="a list of questions"))
    return Record(id=record_id, text=value["text"], meta=value.get("meta"), questions=questions, source=f"{path}:{number}")


def _docbin_ranges(path: Path, shard_size: int) -> List[Tuple[int, int, int, int]]:
    """(first doc, stop doc, first doc number, records) per shard of a DocBin."""
    from spacy.tokens import DocBin

    total = len(DocBin().from_disk(path))
    return [(start, min(start + shard_size, total), start + 1, min(shard_size, total - start)) for start in range(0, total, shard_size)]


def shard_bytes(spec: ShardSpec) -> bytes:
    """The input bytes a shard covers (the whole DocBin file for a .spacy shard)."""
    with open(spec.path, "rb") as handle:
        if spec.fmt == "spacy":
            return handle.read()
        handle.seek(spec.start)
        return handle.read(spec.stop - spec.start)


def shard_checksum(data: bytes, spec: ShardSpec) -> str:
    """sha256 of the shard's input (plus its document range for a DocBin shard)."""
    digest = hashlib.sha256(data)
    if spec.fmt == "spacy":
        digest.update(f"\0{spec.start}:{spec.stop}".encode())
    return digest.hexdigest()


def read_shard(spec: ShardSpec, data: bytes, vocab=None) -> List[Record]:
    """The records of a shard from its bytes (`shard_bytes`); `vocab` is needed for DocBins."""
    if spec.fmt == "spacy":
        return list(_docbin_records(spec, data, vocab))
    records = []
    for number, raw in enumerate(data.splitlines(keepends=True), start=spec.first_line):
        record = _parse_line(raw, spec.fmt, spec.path, number)
        if record is not None:
            records.append(record)
    return records


def _docbin_records(spec: ShardSpec, data: bytes, vocab) -> Iterator[Record]:
    from spacy.tokens import DocBin

    from .msgpack_cache import cached_msgpack_hooks

    with cached_msgpack_hooks():
        docs = list(DocBin().from_bytes(data).get_docs(vocab))
    name = Path(spec.path).name
    for index in range(spec.start, spec.stop):
        doc = docs[index]
        record_id = doc.user_data.get("id", f"{name}:{index + 1}")
        if isinstance(record_id, bool) or not isinstance(record_id, (str, int, float)):
            raise ValueError(Errors.E714.format(path=spec.path, index=index + 1, value=record_id))
        yield Record(id=record_id, text=doc.text, meta=doc.user_data.get("meta"), source=f"{spec.path}:{index + 1}", doc=doc)
