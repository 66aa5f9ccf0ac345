"""`--engine ray`: the same app as a Ray Serve deployment (past one machine).

Each replica is one model copy: it loads the pipeline from its path or package name (never a
pickled `nlp`), runs the same `ServerState` (batcher, memory zones, limits, metrics) and the same
Starlette app (app.py) through `serve.ingress`, so the API, the checks and the coded errors are
the ones of `--engine local`. Ray Serve's HTTP proxy listens on --host/--port; a replica takes
up to `max_queue` requests at once (`max_ongoing_requests`), so requests reach its batcher and are
batched there rather than queued one by one in Ray. `--workers` is the number of replicas, each
with `cores // workers` CPUs (`--threads`) as its torch threads and Ray's `num_cpus`.

Without --address a local Ray starts on 127.0.0.1 (no dashboard; usage statistics off unless
RAY_USAGE_STATS_ENABLED is set); with --address the deployment goes to that cluster, where the
pipeline must be at the same path on every node (or an installed package). SIGTERM/SIGINT shut
the application down through Ray Serve (its replicas finish their requests) and exit 0.
"""
import os
import signal
import threading
from typing import Any, Dict, Optional

from ..errors import Errors
from .settings import ServeSettings

APP_NAME = "spacy-bert"


def import_serve():
    try:
        import ray  # noqa: F401
        from ray import serve
    except ImportError as error:
        raise ImportError(Errors.E816.format(error=error)) from None
    return serve


def replica_threads(settings: ServeSettings) -> int:
    from ..annotate.engines import threads_for

    return threads_for(settings.workers, settings.threads)


def deployment(settings: ServeSettings):
    """The bound Ray Serve application of `settings` (`workers` replicas)."""
    serve = import_serve()
    threads = replica_threads(settings)

    @serve.ingress()
    class SpacyBertReplica:
        """One model copy: loads and warms up in the constructor, then serves app.py's app."""

        def __init__(self, settings_dict: Dict[str, Any], threads: int) -> None:
            from ..annotate.engines import set_threads
            from .state import ServerState
            from .workers import ONEDNN_CACHE_CAPACITY, ONEDNN_CACHE_ENV

            os.environ.setdefault(ONEDNN_CACHE_ENV, ONEDNN_CACHE_CAPACITY)
            set_threads(threads)
            self.state = ServerState(ServeSettings(**settings_dict))
            self.state.load()

        def __serve_build_asgi_app__(self):
            from .app import build_app

            return build_app(self.state, load_on_startup=False)

    replica = serve.deployment(
        SpacyBertReplica, name="SpacyBertReplica", num_replicas=settings.workers,
        max_ongoing_requests=settings.max_queue, ray_actor_options={"num_cpus": threads},
    )
    return replica.bind(settings.to_dict(), threads)


def start_ray(settings: ServeSettings, **local_init: Any) -> bool:
    """Connect to Ray (a local instance on 127.0.0.1 without --address) and start Serve's HTTP
    proxy on host:port. Returns True when this call started Ray."""
    import_serve()
    from ray import serve

    from ..annotate.engines import connect_ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if settings.address is None:
        local_init.setdefault("_node_ip_address", "127.0.0.1")
    started = connect_ray(settings.address, **local_init)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    return started


def run_app(settings: ServeSettings) -> None:
    """Deploy and wait until every replica is loaded (Serve's `run` blocks until healthy)."""
    from ray import serve

    serve.run(deployment(settings), name=APP_NAME, route_prefix="/", blocking=False)


def serve_ray(settings: ServeSettings, stop: Optional[threading.Event] = None) -> int:
    """`spacy bert serve --engine ray`: deploy, print the address, serve until SIGTERM/SIGINT
    (or `stop`), then shut the application down. Returns 0."""
    import ray
    from ray import serve

    if settings.port == 0:
        raise ValueError(Errors.E814.format(option="--port", value=0, expected="a fixed port with --engine ray (Ray Serve's proxy picks no free port)"))
    stop = stop or threading.Event()
    started = start_ray(settings)
    try:
        run_app(settings)
        print(f"spacy-bert serve: {settings.pipeline} on http://{settings.host}:{settings.port} "
              f"(Ray Serve, replicas {settings.workers}, pid {os.getpid()})", flush=True)
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.wait(0.2):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        serve.delete(APP_NAME)
        serve.shutdown()
    finally:
        if started:
            ray.shutdown()
    return 0
