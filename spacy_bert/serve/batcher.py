"""One batcher per model copy: requests queue their texts, one thread forms batches across
requests and runs them through `nlp.pipe` (DESIGN.md decision 13).

- A batch holds up to `max_batch_items` word pieces (counted with the pipeline's own WordPiece
  tokenizer once it is loaded, [CLS]/[SEP] included), and waits at most `max_wait_ms` after its
  oldest text arrived for more texts to come. It waits only while other requests are being
  received (read and checked by the event loop, not queued yet): a lone request runs at once
  and does not pay the wait, and under load the texts that arrive while a batch runs form the
  next one.
- Texts are taken round-robin, one text per waiting request in turn, and a request that still
  has texts goes to the back of the line: a large request is cut into batches that interleave
  with small ones, so it cannot starve them.
- Each batch runs inside `nlp.memory_zone()`: its Docs and the strings they added are freed when
  the batch is answered, so memory does not grow with fresh vocabulary. Results are plain dicts
  made inside the zone (`schema.doc_result`).
- A batch that raises is re-run one request at a time to find the request whose text the
  pipeline refuses (that request gets 422 E811, or 500 E812 for an error that is not about input);
  the others are run again together and answered.
- Results go back to the event loop with `call_soon_threadsafe`; a request that timed out is
  marked cancelled and its remaining texts leave the queue.
"""
import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

from ..errors import Errors
from .metrics import Metrics
from .schema import Item, ServeError, doc_result

logger = logging.getLogger("spacy_bert.serve")

#: Input errors: the pipeline refuses the text (422). Anything else is the server's (500).
INPUT_ERRORS = (ValueError, TypeError, KeyError, IndexError)


class QueueFull(Exception):
    def __init__(self, queued: int) -> None:
        super().__init__(queued)
        self.queued = queued


class Job:
    """The texts of one request and where their results go.

    Attributes:
        items (list[Item]): Its texts, in request order.
        vectors (bool): Whether results carry the Doc vector.
        results (list[dict | None]): Filled by the batcher thread.
        next (int): Index of the next item to take into a batch.
        cancelled (bool): Set on timeout; the batcher drops the rest.
    """

    def __init__(self, items: List[Item], vectors: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.items = items
        self.vectors = vectors
        self.results: List[Optional[dict]] = [None] * len(items)
        self.next = 0
        self.finished = 0
        self.cancelled = False
        self.failed = False
        self.arrived = time.monotonic()
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()

    def _settle(self, result: Any = None, error: Optional[BaseException] = None) -> None:
        if self.future.done():
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)

    def deliver(self, index: int, result: dict) -> None:
        """Batcher thread: one result; the future is set once the last one is in."""
        if self.failed:
            return
        self.results[index] = result
        self.finished += 1
        if self.finished == len(self.items):
            self.loop.call_soon_threadsafe(self._settle, self.results)

    def fail(self, error: ServeError) -> None:
        """Batcher thread: the request fails as a whole; its other texts are dropped."""
        self.failed = True
        self.cancelled = True
        self.loop.call_soon_threadsafe(self._settle, None, error)


def find_tokenizer(nlp: Any) -> Any:
    """The first loaded spacy-bert WordPiece tokenizer of the pipeline's components, or None."""
    for _, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        shims = [shim for node in (model.walk() if model is not None else []) for shim in node.shims]
        if getattr(pipe, "shim", None) is not None:
            shims.append(pipe.shim)
        for shim in shims:
            tokenizer = getattr(shim, "tokenizer", None)
            if tokenizer is not None and hasattr(tokenizer, "encode_batch_with_offsets"):
                return tokenizer
    return None


def piece_counter(nlp: Any) -> Optional[Callable[[Sequence[str]], List[int]]]:
    """Piece counts (with [CLS] and [SEP]) by the pipeline's WordPiece tokenizer, or None when
    it has none (the batcher then estimates 1 piece per 4 characters)."""
    tokenizer = find_tokenizer(nlp)
    if tokenizer is None:
        return None
    return lambda texts: [len(ids) + 2 for ids, _ in tokenizer.encode_batch_with_offsets(list(texts))]


def warm_tokenizer_cache(nlp: Any, chunk: int = 1000) -> int:
    """Tokenize the WordPiece vocabulary's whole words (as written and capitalized) once, outside
    any memory zone, so that spaCy keeps their lexemes and its tokenizer caches them.

    Inside `nlp.memory_zone()` spaCy's tokenizer caches nothing, so every word of every batch
    would go through prefix/suffix/infix matching again (measured: 2.3x slower tokenizing than
    with the cache). With the common words cached, only new words pay that. Costs about a second
    at start-up and a few MB (about 45,000 strings for an uncased 30k vocabulary).

    Returns:
        int: The words tokenized (0 without a WordPiece tokenizer).
    """
    tokenizer = find_tokenizer(nlp)
    if tokenizer is None:
        return 0
    words = [word for word in tokenizer.get_vocab() if word.isalpha()]
    words += [word.capitalize() for word in words if not word[0].isupper()]
    for start in range(0, len(words), chunk):
        nlp.make_doc(" ".join(words[start:start + chunk]))
    return len(words)


class Batcher:
    """Forms batches across requests for one pipeline and runs them in its own thread.

    Args:
        nlp (Language): The loaded pipeline (this batcher is its only user).
        max_batch_items (int): Word pieces per batch.
        max_wait_ms (float): Longest wait of the oldest queued text for a batch to fill.
        max_queue (int): Texts allowed to wait; `submit` raises QueueFull past it (an empty
            queue always takes a request, so one request larger than the limit still runs).
        metrics (Metrics | None): Where batch sizes and words go.
        arriving (Callable[[], int]): Requests being received and checked now (not queued yet):
            a batch waits for their texts (up to max_wait_ms) only while there are some.
    """

    def __init__(self, nlp: Any, *, max_batch_items: int, max_wait_ms: float, max_queue: int, metrics: Optional[Metrics] = None,
                 arriving: Callable[[], int] = lambda: 0) -> None:
        self.nlp = nlp
        self.arriving = arriving
        self.max_batch_items = max_batch_items
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics
        self.count_pieces: Optional[Callable[[Sequence[str]], List[int]]] = None
        self._cond = threading.Condition()
        self._jobs: Deque[Job] = deque()
        self._queued = 0
        self._running = 0  # texts in the batch being run
        self._stopping = False
        self._thread: Optional[threading.Thread] = None

    # -- state ---------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        """Texts waiting for a batch."""
        return self._queued

    @property
    def busy(self) -> bool:
        """Whether any text is waiting or being run."""
        with self._cond:
            return bool(self._queued or self._running)

    def start(self) -> None:
        self.count_pieces = piece_counter(self.nlp)
        self._thread = threading.Thread(target=self._loop, name="spacy-bert-batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queue, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue a request's texts (QueueFull when the queue cannot take them)."""
        with self._cond:
            if self._queued and self._queued + len(job.items) > self.max_queue:
                raise QueueFull(self._queued)
            if not job.items:
                job.loop.call_soon_threadsafe(job._settle, [])
                return
            self._jobs.append(job)
            self._queued += len(job.items)
            self._cond.notify_all()

    # -- the batcher thread --------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            except BaseException:  # noqa: BLE001  (never let the thread die: answer and go on)
                logger.exception("spacy-bert serve: batch failed outside the pipeline")
                for job in {id(job): job for job, _ in batch}.values():
                    job.fail(ServeError(500, Errors.E812.format(error_type="internal")))
            finally:
                with self._cond:
                    self._running = 0

    def _next_batch(self) -> Optional[List[Tuple[Job, int]]]:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if not self._jobs:
                return None
        while True:
            self._count_new()
            with self._cond:
                self._drop_cancelled()
                if not self._jobs:
                    if self._stopping:
                        return None
                    self._cond.wait(0.05)
                    continue
                wait = min(job.arrived for job in self._jobs) + self.max_wait_s - time.monotonic()
                coming = self.arriving() > 0  # requests being received now: their texts are worth a wait
                if wait <= 0 or not coming or self._stopping or self._pending_pieces() >= self.max_batch_items:
                    return self._take()
                self._cond.wait(wait)

    def _count_new(self) -> None:
        """Count the pieces of queued texts not counted yet (outside the lock: tokenizing)."""
        with self._cond:
            new = [item for job in self._jobs for item in job.items[job.next:] if item.pieces < 0]
        if not new:
            return
        if self.count_pieces is None:
            counts = [len(item.text) // 4 + 2 for item in new]
        else:
            counts = self.count_pieces([item.text for item in new])
        for item, count in zip(new, counts):
            item.pieces = count

    def _pending_pieces(self) -> int:
        total = 0
        for job in self._jobs:
            for item in job.items[job.next:]:
                total += max(item.pieces, 1)
                if total >= self.max_batch_items:
                    return total
        return total

    def _drop_cancelled(self) -> None:
        for job in [job for job in self._jobs if job.cancelled]:
            self._jobs.remove(job)
            self._queued -= len(job.items) - job.next

    def _take(self) -> List[Tuple[Job, int]]:
        """Round-robin, one text per request in turn, up to the piece budget (always one text)."""
        batch: List[Tuple[Job, int]] = []
        pieces = 0
        while self._jobs:
            job = self._jobs[0]
            item = job.items[job.next]
            cost = item.pieces if item.pieces > 0 else len(item.text) // 4 + 2
            if batch and pieces + cost > self.max_batch_items:
                break
            self._jobs.popleft()
            batch.append((job, job.next))
            pieces += cost
            job.next += 1
            if job.next < len(job.items):
                self._jobs.append(job)
        self._queued -= len(batch)
        self._running = len(batch)
        return batch

    def _run(self, batch: List[Tuple[Job, int]]) -> None:
        try:
            results, words = self._annotate(batch)
        except Exception:  # noqa: BLE001  (found per request below)
            results, words = self._annotate_apart(batch)
        for (job, index), result in zip(batch, results):
            if result is not None:
                job.deliver(index, result)
        if self.metrics is not None:
            pieces = sum(max(job.items[i].pieces, 0) for job, i in batch)
            self.metrics.batch(len(batch), pieces, words)

    def _annotate(self, batch: List[Tuple[Job, int]]) -> Tuple[List[Optional[dict]], int]:
        """One `nlp.pipe` over the batch inside a memory zone: (results in batch order, words)."""
        nlp = self.nlp
        with nlp.memory_zone():
            docs = []
            for job, index in batch:
                item = job.items[index]
                doc = nlp.make_doc(item.text)
                if item.questions is not None:
                    doc._.questions = list(item.questions)
                docs.append(doc)
            docs = list(nlp.pipe(docs, batch_size=max(1, len(docs))))
            results: List[Optional[dict]] = [doc_result(doc, job.vectors) for doc, (job, _) in zip(docs, batch)]
            words = sum(len(doc) for doc in docs)
        return results, words

    def _annotate_apart(self, batch: List[Tuple[Job, int]]) -> Tuple[List[Optional[dict]], int]:
        """After a failed batch: each request's texts alone, to find the failing ones; then the
        others together again (so their results do not depend on which request failed)."""
        good: List[Tuple[Job, int]] = []
        for job, index in batch:
            if job.failed:
                continue
            try:
                self._annotate([(job, index)])
                good.append((job, index))
            except INPUT_ERRORS as error:
                job.fail(ServeError(422, Errors.E811.format(index=index, error=_one_line(error))))
            except Exception as error:  # noqa: BLE001
                logger.exception("spacy-bert serve: the pipeline failed on a text")
                job.fail(ServeError(500, Errors.E812.format(error_type=type(error).__name__)))
        good = [(job, index) for job, index in good if not job.failed]
        results, words = self._annotate(good) if good else ([], 0)
        by_position = {id_pair: result for id_pair, result in zip([(id(j), i) for j, i in good], results)}
        return [by_position.get((id(job), index)) for job, index in batch], words


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
