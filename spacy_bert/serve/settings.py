"""The settings of `spacy bert serve`, checked once (E814) before anything is loaded."""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from ..errors import Errors

ENGINES = ("local", "ray")
PRECISIONS = ("float32", "int8", "bfloat16", "auto")


@dataclass
class ServeSettings:
    """Everything a server process needs, so that a worker or a Ray replica is built from it alone.

    Attributes:
        pipeline (str): A saved pipeline directory or an installed pipeline package.
        host (str): Interface to bind; 127.0.0.1 unless the user chooses another.
        port (int): TCP port (0: any free port, printed at start).
        workers (int): Processes (local engine) or Ray Serve replicas, one model copy each.
        max_batch_items (int): Word pieces per batch the batcher forms across requests.
        max_wait_ms (float): How long the oldest queued text may wait for a batch to fill.
        max_queue (int): Texts waiting per model copy before new requests get 429.
        max_body_bytes (int), max_text_chars (int), max_texts (int): Request limits (413).
        timeout_s (float): A request not answered within this gets 504.
        precision (str | None): Applied after load (`set_precision`); None keeps the saved one.
        max_requests (int): Requests a model copy answers before a fresh process replaces it
            (0: never). The replacement loads and warms up first, then the old copy finishes
            its requests and exits; this returns what spaCy keeps per word ever met (see
            docs/serving.md, memory).
        batch_invariant (bool): Applied after load (`set_batch_invariant`): a text's results do
            not depend on the texts of other requests batched with it, and equal an offline
            `nlp.pipe` of the pipeline with the same setting byte for byte (default True).
        threads (int | None): Torch threads per model copy (default cores // workers).
        engine (str): "local" or "ray".
        address (str | None): Ray cluster address (engine "ray"; None starts a local Ray).
        drain_timeout_s (float): After SIGTERM, the longest wait for accepted requests.
        log_level (str): uvicorn's log level.
    """

    pipeline: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch_items: int = 4096
    max_wait_ms: float = 5.0
    max_queue: int = 2048
    max_body_bytes: int = 1 << 20
    max_text_chars: int = 100_000
    max_texts: int = 1000
    timeout_s: float = 30.0
    precision: Optional[str] = None
    batch_invariant: bool = True
    max_requests: int = 0
    threads: Optional[int] = None
    engine: str = "local"
    address: Optional[str] = None
    drain_timeout_s: float = 30.0
    log_level: str = "warning"

    def __post_init__(self) -> None:
        positive_ints = ("workers", "max_batch_items", "max_queue", "max_body_bytes", "max_text_chars", "max_texts")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(Errors.E814.format(option=_option(name), value=value, expected="a positive integer"))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(Errors.E814.format(option="--port", value=self.port, expected="an integer in 0..65535"))
        if isinstance(self.max_requests, bool) or not isinstance(self.max_requests, int) or self.max_requests < 0:
            raise ValueError(Errors.E814.format(option="--max-requests", value=self.max_requests, expected="an integer >= 0 (0: never)"))
        if self.max_requests and self.engine == "ray":
            raise ValueError(Errors.E814.format(
                option="--max-requests", value=self.max_requests,
                expected="0 with --engine ray (recycling is the local engine's; Ray Serve replaces its replicas itself)",
            ))
        for name in ("max_wait_ms", "drain_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(Errors.E814.format(option=_option(name), value=value, expected="a number >= 0"))
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or not self.timeout_s > 0:
            raise ValueError(Errors.E814.format(option="--timeout-s", value=self.timeout_s, expected="a number > 0"))
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(Errors.E814.format(option="--threads", value=self.threads, expected="a positive integer"))
        if self.engine not in ENGINES:
            raise ValueError(Errors.E814.format(option="--engine", value=self.engine, expected=" | ".join(ENGINES)))
        if not isinstance(self.batch_invariant, bool):
            raise ValueError(Errors.E814.format(option="--batch-invariant", value=self.batch_invariant, expected="true or false"))
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(Errors.E814.format(option="--precision", value=self.precision, expected=" | ".join(PRECISIONS)))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (a worker process or a Ray replica rebuilds the settings from it)."""
        return asdict(self)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")
