"""THE shard function of `spacy bert annotate` (DESIGN.md decision 10): one input shard -> one
output shard, whatever engine calls it.

Exactly once: each output file is written under a hidden temporary name, fsynced and renamed
atomically; the manifest (`<shard>.manifest.json`: input checksum, pipeline fingerprint,
settings, checksums of the outputs) is written the same way, last. A shard is done only when its
manifest matches the input, the pipeline, the settings and the output files; anything else (a
temporary file left by a killed worker, an output without a manifest, a truncated output) is
redone. Two workers finishing the same shard write the same bytes, and the last rename wins.

Outputs of shard `<name>` in OUTPUT_DIR:

- `<name>.spacy`: a DocBin of the annotated Docs (user data and extension values stored;
  `doc.user_data["id"]` and `["meta"]` carry the record's id and meta), in input order;
- `<name>.jsonl` (with `--format jsonl`): one line per record, `{"id", "meta", "entities":
  [{"start", "end", "label", "text", "score"}], "cats"}` plus "answers" / "fill_mask" when a
  component set `doc._.answers` / `doc._.fill_mask`;
- `<name>.errors.jsonl` (with `--on-error skip`, when a record failed): `{"id", "source",
  "error"}` per failing record; those records are in no other output.

A record fails wherever it fails: making its Doc, the pipeline, or writing it (a component
that leaves a Doc `DocBin` cannot store, e.g. user data msgpack cannot encode, spans out of
bounds, or a value JSON cannot encode in the JSONL line). Either way it is reported (or E708
with `--on-error fail`) and every other record of the shard is written.
"""
import hashlib
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import Errors
from ..json_files import fsync_directory
from .msgpack_cache import cached_msgpack_hooks
from .records import Record, ShardSpec, read_shard, shard_bytes, shard_checksum

MANIFEST_VERSION = 1
OUTPUT_FORMATS = ("spacy", "jsonl")
ON_ERROR = ("fail", "skip")
#: Test hook, read by the driver only and passed on in `ShardOptions.crash_once`: "<shard
#: name>:<marker file>" makes the worker running that shard SIGKILL itself once, after writing
#: its DocBin under the temporary name and before renaming it (the marker records "done once").
CRASH_ENV = "SPACY_BERT_ANNOTATE_CRASH_ONCE"


@dataclass(frozen=True)
class ShardOptions:
    """What every shard of a run shares.

    Attributes:
        output_dir (str): OUTPUT_DIR.
        pipeline (str): Path or package name the worker loads.
        fingerprint (Dict[str, str]): `pipelines.fingerprint(pipeline)`.
        fmt (str): "spacy" (DocBin only) or "jsonl" (DocBin + JSONL).
        on_error (str): "fail" (E708 at the first failing record) or "skip" (errors file).
        precision (Optional[str]): Applied after load; None keeps the saved setting.
        crash_once (Optional[str]): Test hook (`CRASH_ENV`).
    """

    output_dir: str
    pipeline: str
    fingerprint: Dict[str, str]
    fmt: str = "spacy"
    on_error: str = "fail"
    precision: Optional[str] = None
    crash_once: Optional[str] = None

    def settings(self) -> Dict[str, Any]:
        return {"format": self.fmt, "on_error": self.on_error, "precision": self.precision}


@dataclass
class ShardResult:
    """What one shard did: `records` read, `annotated` written, `errors` reported, `skipped` when a
    previous run had already finished it, `seconds` spent on it (reading, the pipeline, writing;
    not the worker's one-time pipeline load), `cpu_seconds` the worker process's CPU time over
    the same span (all its threads). `started` (wall clock, `time.time()`, moved past a load)
    and `worker` (process id) place the shard on its worker's timeline: bench/annotate.py reads them to find the
    workers' idle time between shards and what each engine costs in CPU per record."""

    name: str
    records: int
    annotated: int = 0
    errors: int = 0
    skipped: bool = False
    seconds: float = 0.0
    error_ids: List[Any] = field(default_factory=list)
    started: float = 0.0
    worker: int = 0
    cpu_seconds: float = 0.0


def output_paths(output_dir: str, name: str) -> Dict[str, Path]:
    directory = Path(output_dir)
    return {
        "spacy": directory / f"{name}.spacy",
        "jsonl": directory / f"{name}.jsonl",
        "errors": directory / f"{name}.errors.jsonl",
        "manifest": directory / f"{name}.manifest.json",
    }


def is_done(spec: ShardSpec, options: ShardOptions, input_sha: Optional[str] = None) -> bool:
    """True when the shard's manifest matches its input, the pipeline, the settings and every
    output file it lists (checked by size and sha256)."""
    paths = output_paths(options.output_dir, spec.name)
    try:
        manifest = json.loads(paths["manifest"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if input_sha is None:
        input_sha = shard_checksum(shard_bytes(spec), spec)
    expected = {
        "version": MANIFEST_VERSION,
        "input_sha256": input_sha,
        "records": spec.n_records,
        "pipeline": options.fingerprint,
        "settings": options.settings(),
    }
    if any(manifest.get(key) != value for key, value in expected.items()):
        return False
    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict) or f"{spec.name}.spacy" not in outputs:
        return False
    for file_name, recorded in outputs.items():
        path = Path(options.output_dir) / file_name
        if Path(file_name).name != file_name or not path.is_file() or path.stat().st_size != recorded.get("bytes"):
            return False
        if _sha256(path.read_bytes()) != recorded.get("sha256"):
            return False
    return True


def annotate_shard(spec: ShardSpec, options: ShardOptions, nlp: Any = None) -> ShardResult:
    """Annotate one shard unless it is done; write its outputs and manifest atomically.

    Args:
        spec (ShardSpec): The input shard.
        options (ShardOptions): The run's settings.
        nlp (Language): The loaded pipeline; None loads `options.pipeline` once per process.

    Returns:
        ShardResult: What was done.
    """
    # `seconds` / `cpu_seconds`: the shard's own work from the call on (checksum, reading, the
    # pipeline, writing), not the worker's one-time pipeline load
    began, started, cpu_began = time.perf_counter(), time.time(), time.process_time()
    data = shard_bytes(spec)
    input_sha = shard_checksum(data, spec)
    if is_done(spec, options, input_sha):
        return ShardResult(spec.name, spec.n_records, skipped=True)
    if nlp is None:
        from .pipelines import load_pipeline

        loading, cpu_loading = time.perf_counter(), time.process_time()
        nlp = load_pipeline(options.pipeline, options.precision)
        load_seconds = time.perf_counter() - loading
        began, started = began + load_seconds, started + load_seconds
        cpu_began += time.process_time() - cpu_loading
    records = read_shard(spec, data, nlp.vocab)
    docs, errors = run_records(nlp, records, spec, options.on_error)
    docbin, lines, docs, errors = serialise_records(docs, errors, records, spec, options)
    paths = output_paths(options.output_dir, spec.name)
    Path(options.output_dir).mkdir(parents=True, exist_ok=True)
    _remove_stale(paths)
    outputs: Dict[str, bytes] = {paths["spacy"].name: docbin}
    if options.fmt == "jsonl":
        outputs[paths["jsonl"].name] = "".join(lines).encode("utf-8")
    if errors:
        lines = [json.dumps({"id": r.id, "source": r.source, "error": message}, ensure_ascii=False) + "\n" for r, message in errors]
        outputs[paths["errors"].name] = "".join(lines).encode("utf-8")
    for file_name, payload in outputs.items():
        temp = _write_temp(Path(options.output_dir) / file_name, payload)
        if file_name == paths["spacy"].name:
            _maybe_crash(spec, options)
        os.replace(temp, Path(options.output_dir) / file_name)
    manifest = {
        "version": MANIFEST_VERSION,
        "shard": spec.name,
        "input": {"path": spec.path, "start": spec.start, "stop": spec.stop, "first_line": spec.first_line},
        "input_sha256": input_sha,
        "records": spec.n_records,
        "annotated": len(docs),
        "errors": len(errors),
        "pipeline": options.fingerprint,
        "settings": options.settings(),
        "outputs": {name: {"bytes": len(payload), "sha256": _sha256(payload)} for name, payload in outputs.items()},
    }
    temp = _write_temp(paths["manifest"], (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
    os.replace(temp, paths["manifest"])
    fsync_directory(Path(options.output_dir))
    return ShardResult(spec.name, spec.n_records, len(docs), len(errors), False, time.perf_counter() - began,
                       [r.id for r, _ in errors], started, os.getpid(), time.process_time() - cpu_began)


def run_records(nlp: Any, records: List[Record], spec: ShardSpec, on_error: str) -> Tuple[List[Tuple[Record, Any]], List[Tuple[Record, str]]]:
    """Run the pipeline over a shard's records in one `nlp.pipe` (as a plain run would batch them).

    When the batch raises, each record is run alone to find the ones that fail (E708 for the
    first with on_error "fail"); the others are then run again as one batch on fresh Docs, so
    their results do not depend on which records failed.

    Returns:
        (annotated, errors): [(record, Doc)] in input order, and [(record, message)].
    """
    errors: List[Tuple[Record, str]] = []
    good: List[Record] = []
    fresh: List[Any] = []
    for record in records:
        try:
            fresh.append(_make_doc(nlp, record))
            good.append(record)
        except Exception as error:  # noqa: BLE001  (any failure of one record is that record's)
            errors.append((record, _report(record, error, spec, on_error)))
    try:
        docs = list(nlp.pipe(fresh))
    except Exception:  # noqa: BLE001
        survivors = []
        for record in good:
            try:
                list(nlp.pipe([_make_doc(nlp, record)]))
                survivors.append(record)
            except Exception as error:  # noqa: BLE001
                errors.append((record, _report(record, error, spec, on_error)))
        good = survivors
        docs = list(nlp.pipe([_make_doc(nlp, record) for record in good]))
    order = {id(record): index for index, record in enumerate(records)}
    errors.sort(key=lambda item: order[id(item[0])])
    return list(zip(good, docs)), errors


def serialise_records(
    docs: List[Tuple[Record, Any]], errors: List[Tuple[Record, str]], records: List[Record], spec: ShardSpec, options: ShardOptions
) -> Tuple[bytes, List[str], List[Tuple[Record, Any]], List[Tuple[Record, str]]]:
    """The shard's DocBin bytes and JSONL lines (empty unless `options.fmt` is "jsonl").

    All at once first (the usual case costs nothing extra). When that raises, each Doc is
    written alone to find the ones that cannot be (E708 for the first with on_error "fail";
    with "skip" they join `errors`, in input order), and the others are written together.

    Returns:
        (DocBin bytes, JSONL lines, the written [(record, Doc)], all [(record, message)]).
    """
    try:
        return _docbin_bytes(docs), _jsonl_lines(docs, options.fmt), docs, errors
    except Exception:  # noqa: BLE001  (found per record below)
        pass
    written: List[Tuple[Record, Any]] = []
    errors = list(errors)
    for record, doc in docs:
        try:
            _docbin_bytes([(record, doc)])
            _jsonl_lines([(record, doc)], options.fmt)
            written.append((record, doc))
        except Exception as error:  # noqa: BLE001  (this record's Doc cannot be written)
            errors.append((record, _report(record, error, spec, options.on_error)))
    order = {id(record): index for index, record in enumerate(records)}
    errors.sort(key=lambda item: order[id(item[0])])
    return _docbin_bytes(written), _jsonl_lines(written, options.fmt), written, errors


def _jsonl_lines(docs: List[Tuple[Record, Any]], fmt: str) -> List[str]:
    if fmt != "jsonl":
        return []
    return [json.dumps(doc_record(doc, record), ensure_ascii=False) + "\n" for record, doc in docs]


def _make_doc(nlp: Any, record: Record) -> Any:
    """A fresh Doc of the record (a copy for DocBin records: a failed batch may have changed them)."""
    if record.doc is not None:
        doc = record.doc.copy()
    elif isinstance(record.text, str):
        doc = nlp.make_doc(record.text)
    else:
        raise TypeError(Errors.E715.format(type=type(record.text).__name__, value=record.text))
    if record.questions is not None:
        doc._.questions = list(record.questions)
    doc.user_data["id"] = record.id
    if record.meta is not None:
        doc.user_data["meta"] = record.meta
    return doc


def _report(record: Record, error: Exception, spec: ShardSpec, on_error: str) -> str:
    message = f"{type(error).__name__}: {error}"
    if on_error == "fail":
        raise ValueError(Errors.E708.format(id=record.id, shard=spec.name, source=record.source, error=message)) from error
    return message


def doc_record(doc: Any, record: Record) -> Dict[str, Any]:
    """The JSONL line of one annotated Doc: id, meta, entities (char offsets, label, text, score
    from the span group the NER component wrote), cats, and answers / fill_mask when set."""
    scores: Dict[Tuple[int, int, str], float] = {}
    for group in doc.spans.values():
        values = group.attrs.get("scores")
        if isinstance(values, list) and len(values) == len(group):
            for span, score in zip(group, values):
                scores.setdefault((span.start, span.end, span.label_), float(score))
    line: Dict[str, Any] = {"id": record.id, "meta": record.meta}
    line["entities"] = [
        {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text, "score": scores.get((e.start, e.end, e.label_))}
        for e in doc.ents
    ]
    line["cats"] = {label: float(value) for label, value in doc.cats.items()}
    for extension, key in (("answers", "answers"), ("fill_mask", "fill_mask")):
        if doc.has_extension(extension) and getattr(doc._, extension) is not None:
            line[key] = _plain(getattr(doc._, extension))
    return line


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _docbin_bytes(docs: List[Tuple[Record, Any]]) -> bytes:
    from spacy.tokens import DocBin

    with cached_msgpack_hooks():
        docbin = DocBin(store_user_data=True)
        for _, doc in docs:
            docbin.add(doc)
        return docbin.to_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_temp(path: Path, payload: bytes) -> Path:
    """Write `payload` to a hidden temporary name beside `path` and fsync it; returns that name."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with temp.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return temp


def _remove_stale(paths: Dict[str, Path]) -> None:
    """Before a shard is redone: its old manifest (first, so no state in between reads as done),
    its old errors file, and temporary files a killed worker left."""
    paths["manifest"].unlink(missing_ok=True)
    paths["errors"].unlink(missing_ok=True)
    for path in paths.values():
        for temp in path.parent.glob(f".{path.name}.tmp-*"):
            temp.unlink(missing_ok=True)


def _maybe_crash(spec: ShardSpec, options: ShardOptions) -> None:
    """The `CRASH_ENV` test hook: die like a killed worker, once, with a temporary file written."""
    if not options.crash_once:
        return
    name, _, marker = options.crash_once.partition(":")
    if name == spec.name and marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
