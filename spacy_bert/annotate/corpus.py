"""`annotate_corpus`: the Python API behind `spacy bert annotate PIPELINE INPUT OUTPUT_DIR`.

It checks the options, plans the shards (every input record is read and checked first, so a
malformed line stops the run before any work), skips the shards a previous run finished, hands
the rest to an engine, and sums up. See `shard.py` for the outputs and `engines.py` for the
engines.
"""
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, TextIO

from ..errors import Errors, Warnings
from .engines import ENGINES, connect_ray, import_ray, run_inline, run_local, run_ray, threads_for
from .pipelines import check_precision, fingerprint
from .progress import Progress
from .records import plan_shards
from .shard import CRASH_ENV, ON_ERROR, OUTPUT_FORMATS, ShardOptions, ShardResult, is_done, output_paths


@dataclass
class AnnotateSummary:
    """What a run did. `error_files` lists the errors files of this run's failing records."""

    shards: int
    records: int
    annotated: int
    errors: int
    skipped_shards: int
    results: List[ShardResult] = field(default_factory=list)
    error_files: List[str] = field(default_factory=list)
    text: str = ""


def _choice(option: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(Errors.E706.format(option=option, value=value, expected=" | ".join(map(str, choices))))


def annotate_corpus(
    pipeline: str,
    input_path: str,
    output_dir: str,
    *,
    engine: str = "local",
    workers: int = 1,
    shard_size: int = 1000,
    fmt: str = "spacy",
    on_error: str = "fail",
    precision: Optional[str] = None,
    address: Optional[str] = None,
    gpus_per_worker: float = 0.0,
    threads_per_worker: Optional[int] = None,
    progress_stream: Optional[TextIO] = None,
    progress_every: float = 10.0,
) -> AnnotateSummary:
    """Annotate every record of `input_path` with `pipeline` into shards in `output_dir`.

    Args:
        pipeline (str): Saved pipeline directory or installed package name.
        input_path (str): .jsonl / .txt / .spacy file, a directory of them, or a glob.
        output_dir (str): Where the shards go (created when missing).
        engine (str): "local" (this machine) or "ray".
        workers (int): Processes (local; 1 = this process) or Ray actors.
        shard_size (int): Records per shard.
        fmt (str): "spacy" (DocBin) or "jsonl" (DocBin and JSONL).
        on_error (str): "fail" or "skip" (failing records go to `<shard>.errors.jsonl`).
        precision (Optional[str]): float32 | int8 | bfloat16 | auto, applied after load.
        address (Optional[str]): Ray cluster address; None starts a local Ray instance
            (unless this process already runs one).
        gpus_per_worker (float): GPUs per Ray actor.
        threads_per_worker (Optional[int]): Torch threads per worker; default cores // workers
            (local), 1 (Ray: each actor reserves that many CPUs).
        progress_stream (Optional[TextIO]): Where progress goes (default stderr).
        progress_every (float): Seconds between progress lines off a terminal.

    Returns:
        AnnotateSummary: counts and the per-shard results (in shard order).
    """
    _choice("--engine", engine, ENGINES)
    _choice("--format", fmt, OUTPUT_FORMATS)
    _choice("--on-error", on_error, ON_ERROR)
    check_precision(precision)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(Errors.E706.format(option="--workers", value=workers, expected="a positive integer"))
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise ValueError(Errors.E711.format(path=output_dir))
    if engine == "ray":
        import_ray()  # E707 before any work when Ray is missing
    print_ = fingerprint(pipeline)
    shards = plan_shards(input_path, shard_size)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    options = ShardOptions(
        output_dir=str(Path(output_dir).resolve()), pipeline=str(Path(pipeline).resolve()) if Path(pipeline).exists() else pipeline,
        fingerprint=print_, fmt=fmt, on_error=on_error, precision=precision, crash_once=os.environ.get(CRASH_ENV) or None,
    )
    _warn_foreign_shards(options.output_dir, {spec.name for spec in shards})
    progress = Progress(sum(s.n_records for s in shards), len(shards), progress_stream, progress_every)
    results = {}
    todo = []
    for spec in shards:
        if is_done(spec, options):
            results[spec.name] = ShardResult(spec.name, spec.n_records, skipped=True)
            progress.update(results[spec.name])
        else:
            todo.append(spec)

    def on_result(result: ShardResult) -> None:
        results[result.name] = result
        progress.update(result)

    if todo and engine == "local" and workers == 1:
        run_inline(todo, options, on_result, threads_per_worker)
    elif todo and engine == "local":
        run_local(todo, options, on_result, workers, threads_for(workers, threads_per_worker))
    elif todo:
        started = connect_ray(address)
        try:
            run_ray(todo, options, on_result, workers, gpus_per_worker, threads_per_worker)
        finally:
            if started:
                import_ray().shutdown()
    ordered = [results[spec.name] for spec in shards]
    error_files = [str(output_paths(options.output_dir, r.name)["errors"]) for r in ordered if r.errors]
    summary = AnnotateSummary(
        shards=len(shards), records=sum(r.records for r in ordered), annotated=sum(r.annotated for r in ordered),
        errors=sum(r.errors for r in ordered), skipped_shards=sum(r.skipped for r in ordered), results=ordered,
        error_files=error_files, text=progress.summary(),
    )
    if summary.errors:
        warnings.warn(Warnings.W700.format(count=summary.errors, files=", ".join(error_files)))
    return summary


def _warn_foreign_shards(output_dir: str, names: set) -> None:
    """W702 when OUTPUT_DIR holds manifests of shards this run does not have (they would be
    read as output by whoever globs the directory)."""
    suffix = ".manifest.json"
    foreign = sorted(p.name[: -len(suffix)] for p in Path(output_dir).glob(f"*{suffix}") if p.name[: -len(suffix)] not in names)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        warnings.warn(Warnings.W702.format(output_dir=output_dir, count=len(foreign), names=shown))
