"""`spacy bert serve`: a saved pipeline behind HTTP (DESIGN.md decision 13, issue 26).

- `settings.py`  ServeSettings: every option, checked once (E814).
- `schema.py`    request checks (400/413/422 with E800-E806) and the per-text result.
- `batcher.py`   one batcher per model copy: batches across requests by pieces and a short
                 wait, round-robin so large requests interleave, `nlp.memory_zone()` per batch.
- `state.py`     one model copy: load, warm-up, ready/draining, in-flight count.
- `app.py`       the Starlette app: POST /v1/annotate, /healthz, /readyz, /metrics, /openapi.json.
- `metrics.py`   Prometheus text format.
- `workers.py`   uvicorn in this process, or a supervisor of N worker processes on one port.
- `ray_engine.py` the same app as a Ray Serve deployment.

The ASGI stack (starlette, uvicorn) is the optional extra `spacy-bert[serve]`; this package
imports it only when a server is built.
"""
from .settings import ServeSettings

__all__ = ["ServeSettings"]
