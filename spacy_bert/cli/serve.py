"""`spacy bert serve PIPELINE`: a saved pipeline behind HTTP (spacy_bert/serve/, docs/serving.md)."""
from typing import Optional

import typer

from ._app import command


@command("serve")
def serve_cli(
    pipeline: str = typer.Argument(..., help="Saved spaCy pipeline (directory or package name)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (127.0.0.1: this machine only)"),
    port: int = typer.Option(8080, "--port", help="TCP port (0: any free port, printed at start)"),
    workers: int = typer.Option(1, "--workers", "-w", help="Processes (local) or Ray Serve replicas, one model copy each"),
    max_batch_items: int = typer.Option(4096, "--max-batch-items", help="Word pieces per batch formed across requests"),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="Longest wait of a queued text for its batch to fill"),
    max_queue: int = typer.Option(2048, "--max-queue", help="Texts waiting per model copy before 429"),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Largest request body (413 past it)"),
    max_text_chars: int = typer.Option(100_000, "--max-text-chars", help="Longest text (413 past it)"),
    max_texts: int = typer.Option(1000, "--max-texts", help="Most texts per request (413 past it)"),
    timeout_s: float = typer.Option(30.0, "--timeout-s", help="A request not answered in time gets 504"),
    precision: Optional[str] = typer.Option(None, "--precision", help="float32 | int8 | bfloat16 | auto, applied after load"),
    batch_invariant: bool = typer.Option(
        True, "--batch-invariant/--no-batch-invariant",
        help="Results independent of the other requests batched with a text (byte-identical to offline nlp.pipe with the same setting); off: faster",
    ),
    max_requests: int = typer.Option(
        0, "--max-requests",
        help="Requests a model copy answers before a fresh process replaces it, loaded first (0: never); bounds memory",
    ),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads per model copy (default cores // workers)"),
    engine: str = typer.Option("local", "--engine", "-e", help="local (this machine) or ray (Ray Serve)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray on 127.0.0.1)"),
    drain_timeout_s: float = typer.Option(30.0, "--drain-timeout-s", help="After SIGTERM, longest wait for accepted requests"),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn's log level"),
) -> None:
    """Serve PIPELINE over HTTP: POST /v1/annotate, GET /healthz, /readyz, /metrics, /openapi.json."""
    from ..serve import ServeSettings

    settings = ServeSettings(
        pipeline=pipeline, host=host, port=port, workers=workers, max_batch_items=max_batch_items, max_wait_ms=max_wait_ms,
        max_queue=max_queue, max_body_bytes=max_body_bytes, max_text_chars=max_text_chars, max_texts=max_texts,
        timeout_s=timeout_s, precision=precision, batch_invariant=batch_invariant, max_requests=max_requests, threads=threads, engine=engine, address=address,
        drain_timeout_s=drain_timeout_s, log_level=log_level,
    )
    from ..annotate.pipelines import pipeline_directory

    pipeline_directory(pipeline)  # E710 before any process starts
    if engine == "ray":
        from ..serve.ray_engine import serve_ray

        code = serve_ray(settings)
    else:
        from ..serve.workers import serve_local

        code = serve_local(settings)
    raise typer.Exit(code)
