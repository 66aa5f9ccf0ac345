"""What one server process holds: its pipeline (one model copy), batcher, metrics, and whether it
is ready or draining. The HTTP layer (app.py) only reads it; workers.py and ray_engine.py drive it.
"""
import logging
import threading
import time
from typing import Any, Callable, List, Optional

from .batcher import Batcher
from .metrics import Metrics
from .settings import ServeSettings

logger = logging.getLogger("spacy_bert.serve")

#: Texts the pipeline runs once after loading, so the first request does not pay for lazy loads.
WARMUP_TEXTS = ["Warm-up: Alice Smith flew from Paris to Berlin on Monday.", "A second, shorter warm-up text."]
WARMUP_QUESTION = "Where did Alice fly from?"


class ServerState:
    """One model copy behind the HTTP routes.

    Args:
        settings (ServeSettings): Limits, batching and the pipeline to load.
        nlp (Language | None): An already loaded pipeline (tests, Ray replicas that load
            themselves); None: `load()` loads `settings.pipeline`.
    """

    def __init__(self, settings: ServeSettings, nlp: Any = None) -> None:
        self.settings = settings
        self.nlp = nlp
        self.batcher: Optional[Batcher] = None
        self.metrics = Metrics(queue_depth=lambda: self.batcher.queued if self.batcher is not None else 0)
        self.ready = threading.Event()
        self.draining = False
        self.inflight = 0
        self.arriving = 0  # requests being read and checked, not yet queued (the batcher's cue to wait)
        self.has_qa = False
        self.components: List[str] = []
        self.answered = 0  # /v1/annotate requests answered (any status)
        self.on_answered: Optional[Callable[[int], None]] = None  # called with the count after each

    def load(self) -> None:
        """Load (unless given), apply --precision and --batch-invariant, warm up, start the
        batcher; then ready."""
        from ..pipeline import set_batch_invariant, set_precision

        if self.nlp is None:
            from ..annotate.pipelines import load_pipeline

            self.nlp = load_pipeline(self.settings.pipeline, self.settings.precision)
        elif self.settings.precision is not None:
            set_precision(self.nlp, self.settings.precision)
        set_batch_invariant(self.nlp, self.settings.batch_invariant)
        self.components = list(self.nlp.pipe_names)
        self.has_qa = any(self.nlp.get_pipe_meta(name).factory == "bert_qa" for name in self.components)
        self._warm_up()
        self.batcher = Batcher(
            self.nlp, max_batch_items=self.settings.max_batch_items, max_wait_ms=self.settings.max_wait_ms,
            max_queue=self.settings.max_queue, metrics=self.metrics, arriving=lambda: self.arriving,
        )
        self.batcher.start()
        self.ready.set()

    def load_in_background(self, on_error: Callable[[BaseException], None]) -> threading.Thread:
        """`load()` in a thread, so /healthz answers while the model loads; `on_error` gets a
        load failure (the process then exits: a server that cannot load is not alive)."""

        def run() -> None:
            try:
                self.load()
            except BaseException as error:  # noqa: BLE001
                logger.exception("spacy-bert serve: cannot load the pipeline %s", self.settings.pipeline)
                on_error(error)

        thread = threading.Thread(target=run, name="spacy-bert-load", daemon=True)
        thread.start()
        return thread

    def _warm_up(self) -> None:
        from .batcher import warm_tokenizer_cache

        nlp = self.nlp
        list(nlp.pipe(WARMUP_TEXTS[:1]))  # loads lazily loaded weights (and their tokenizer)
        warm_tokenizer_cache(nlp)
        with nlp.memory_zone():
            docs = [nlp.make_doc(text) for text in WARMUP_TEXTS]
            if self.has_qa:
                for doc in docs:
                    doc._.questions = [WARMUP_QUESTION]
            list(nlp.pipe(docs))

    def idle(self) -> bool:
        """No request in flight and nothing queued or running (what a drain waits for)."""
        return self.inflight == 0 and (self.batcher is None or not self.batcher.busy)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.stop()
