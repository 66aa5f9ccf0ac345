"""The HTTP layer of `spacy bert serve`: a Starlette app over one `ServerState`.

Starlette (with uvicorn as the server) rather than FastAPI: the API has one JSON route and four
probes, and its checks are written out with coded messages (schema.py), so FastAPI's pydantic
validation would only add a second, uncoded layer of 422s; Starlette is the small, well-kept
ASGI toolkit FastAPI itself is built on. The OpenAPI schema is served as written (openapi.py).

Routes: POST /v1/annotate, GET /healthz, GET /readyz, GET /metrics, GET /openapi.json.
Every answer other than 200 is JSON `{"error": {"status", "code", "message"}}`; no traceback
ever reaches a client (the server logs it).
"""
import asyncio
import json
import logging
import math
import time
from contextlib import asynccontextmanager
from typing import Any, Dict, Optional

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import Errors
from .batcher import Job, QueueFull
from .openapi import openapi_schema
from .schema import ServeError, parse_request
from .state import ServerState

logger = logging.getLogger("spacy_bert.serve")

JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: Optional[Dict[str, str]] = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), status_code=status, headers=headers, media_type=JSON)


def error_response(error: ServeError) -> Response:
    return json_response(error.body(), error.status, error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServeError(413, Errors.E803.format(size=int(declared), limit=limit), {"Connection": "close"})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServeError(413, Errors.E803.format(size=f"more than {limit}", limit=limit), {"Connection": "close"})
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(state: ServerState, load_on_startup: bool = True, on_load_error=None) -> Starlette:
    """The ASGI app of one model copy.

    Args:
        state (ServerState): The model copy and its settings.
        load_on_startup (bool): Load the pipeline in a thread when the app starts (its lifespan);
            False when the caller loads it (Ray replicas, tests with a loaded pipeline).
        on_load_error (callable | None): Called with the error when loading fails.
    """
    settings = state.settings
    metrics = state.metrics

    async def annotate(request: Request) -> Response:
        started = time.perf_counter()
        status = 200
        state.inflight += 1
        state.arriving += 1
        arriving = True
        try:
            if state.draining:
                raise ServeError(503, Errors.E809, {"Retry-After": "1", "Connection": "close"})
            if not state.ready.is_set():
                raise ServeError(503, Errors.E810, {"Retry-After": "1"})
            raw = await read_body(request, settings.max_body_bytes)
            parsed = parse_request(
                raw, max_body_bytes=settings.max_body_bytes, max_text_chars=settings.max_text_chars,
                max_texts=settings.max_texts, has_qa=state.has_qa, components=state.components,
            )
            job = Job(parsed.items, parsed.vectors, asyncio.get_running_loop())
            state.arriving -= 1
            arriving = False
            batcher = state.batcher
            assert batcher is not None  # started before `ready` is set (checked above)
            try:
                batcher.submit(job)
            except QueueFull as full:
                retry = retry_after(full.queued, metrics)
                raise ServeError(429, Errors.E807.format(queued=full.queued, limit=settings.max_queue, retry=retry),
                                 {"Retry-After": str(retry)}) from None
            try:
                results = await asyncio.wait_for(asyncio.shield(job.future), settings.timeout_s)
            except asyncio.TimeoutError:
                job.cancelled = True
                # a failure set after the answer went out is read here, not logged as never retrieved
                job.future.add_done_callback(lambda future: future.cancelled() or future.exception())
                raise ServeError(504, Errors.E808.format(timeout=settings.timeout_s)) from None
            except asyncio.CancelledError:  # the client went away: its texts leave the queue
                job.cancelled = True
                job.future.add_done_callback(lambda future: future.cancelled() or future.exception())
                raise
            return json_response({"results": results})
        except ServeError as error:
            status = error.status
            return error_response(error)
        except ClientDisconnect:
            status = 499
            return Response(status_code=400)
        finally:
            state.inflight -= 1
            if arriving:
                state.arriving -= 1
            metrics.request(status, time.perf_counter() - started)
            state.answered += 1
            if state.on_answered is not None:
                state.on_answered(state.answered)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "alive"})

    async def readyz(request: Request) -> Response:
        if state.draining:
            return error_response(ServeError(503, Errors.E809, {"Retry-After": "1"}))
        if not state.ready.is_set():
            return error_response(ServeError(503, Errors.E810, {"Retry-After": "1"}))
        return json_response({"status": "ready", "pipeline": state.components})

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(request: Request) -> Response:
        return json_response(openapi_schema(settings))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (404, 405):
            error = ServeError(exc.status_code, Errors.E813.format(method=request.method, path=request.url.path))
        else:
            error = ServeError(exc.status_code, Errors.E812.format(error_type=f"HTTP {exc.status_code}"))
        metrics.request(error.status, 0.0)
        return error_response(error)

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("spacy-bert serve: unhandled error", exc_info=exc)
        metrics.request(500, 0.0)
        return error_response(ServeError(500, Errors.E812.format(error_type=type(exc).__name__)))

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if load_on_startup:
            state.load_in_background(on_load_error or (lambda error: None))
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, state.close)

    routes = [
        Route("/v1/annotate", annotate, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    handlers: Dict[Any, Any] = {HTTPException: http_error, Exception: server_error}  # Starlette types each handler for Exception
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


def retry_after(queued: int, metrics) -> int:
    """Seconds until the queue has room, from the recent batch rate (1 to 60)."""
    rate = metrics.texts_per_second()
    if rate <= 0:
        return 1
    return int(min(60, max(1, math.ceil(queued / rate))))
