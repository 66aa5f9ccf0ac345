"""Prometheus metrics of one server process, in the text exposition format (version 0.0.4).

Written here rather than with `prometheus_client`: six metric families, one process, no
registry, no multiprocess directory, so the format is a few lines; `prometheus_client` would
be a dependency for that alone. Each process (worker or Ray replica) has its own numbers and
labels them `worker="<pid>"`, so a scrape that reaches any worker is still a correct sample of
that worker (sum over `worker` in PromQL for the whole server).

Families:
    spacy_bert_serve_requests_total{status}            counter
    spacy_bert_serve_request_seconds                   histogram (end-to-end latency)
    spacy_bert_serve_batch_texts / _batch_pieces       histograms (batch sizes)
    spacy_bert_serve_queue_texts                        gauge (texts waiting)
    spacy_bert_serve_words_total                        counter (rate() gives words/s)
    spacy_bert_serve_words_per_second                   gauge (over the last batches, 10 s)
"""
import os
import threading
import time
from bisect import bisect_left
from collections import deque
from typing import Callable, Deque, Dict, List, Sequence, Tuple

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TEXT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
PIECE_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
RATE_WINDOW_S = 10.0


class Histogram:
    """Cumulative buckets, sum and count (Prometheus' histogram type)."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> List[str]:
        out, running = [], 0
        for bound, count in zip(list(self.buckets) + ["+Inf"], self.counts):
            running += count
            out.append(f'{name}_bucket{{{labels},le="{bound}"}} {running}')
        out.append(f"{name}_sum{{{labels}}} {self.sum!r}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class Metrics:
    """Thread-safe: the event loop records requests, the batcher thread records batches.

    Args:
        queue_depth (Callable[[], int]): Reads the texts waiting now (the batcher's queue).
    """

    def __init__(self, queue_depth: Callable[[], int] = lambda: 0) -> None:
        self._lock = threading.Lock()
        self.queue_depth = queue_depth
        self.requests: Dict[int, int] = {}
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_texts = Histogram(TEXT_BUCKETS)
        self.batch_pieces = Histogram(PIECE_BUCKETS)
        self.words = 0
        self._recent: Deque[Tuple[float, int, int]] = deque()  # (time, words, texts) of recent batches
        self.worker = str(os.getpid())

    def request(self, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[status] = self.requests.get(status, 0) + 1
            self.latency.observe(seconds)

    def batch(self, texts: int, pieces: int, words: int) -> None:
        now = time.monotonic()
        with self._lock:
            self.batch_texts.observe(texts)
            self.batch_pieces.observe(pieces)
            self.words += words
            self._recent.append((now, words, texts))
            while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
                self._recent.popleft()

    def _recent_sum(self, field: int) -> float:
        now = time.monotonic()
        with self._lock:
            return sum(entry[field] for entry in self._recent if entry[0] >= now - RATE_WINDOW_S) / RATE_WINDOW_S

    def words_per_second(self) -> float:
        """spaCy tokens annotated per second over the last RATE_WINDOW_S seconds."""
        return self._recent_sum(1)

    def texts_per_second(self) -> float:
        """Texts annotated per second over the last RATE_WINDOW_S seconds (for Retry-After)."""
        return self._recent_sum(2)

    def render(self) -> str:
        """The text exposition format (Content-Type `text/plain; version=0.0.4`)."""
        worker = f'worker="{self.worker}"'
        depth = self.queue_depth()
        rate = self.words_per_second()
        p = "spacy_bert_serve"
        with self._lock:
            lines = [f"# HELP {p}_requests_total Requests answered, by HTTP status.", f"# TYPE {p}_requests_total counter"]
            lines += [f'{p}_requests_total{{{worker},status="{s}"}} {n}' for s, n in sorted(self.requests.items())]
            lines += [f"# HELP {p}_request_seconds Time from request to response.", f"# TYPE {p}_request_seconds histogram"]
            lines += self.latency.lines(f"{p}_request_seconds", worker)
            lines += [f"# HELP {p}_batch_texts Texts per batch run by the pipeline.", f"# TYPE {p}_batch_texts histogram"]
            lines += self.batch_texts.lines(f"{p}_batch_texts", worker)
            lines += [f"# HELP {p}_batch_pieces Word pieces per batch run by the pipeline.", f"# TYPE {p}_batch_pieces histogram"]
            lines += self.batch_pieces.lines(f"{p}_batch_pieces", worker)
            lines += [f"# HELP {p}_queue_texts Texts waiting for a batch.", f"# TYPE {p}_queue_texts gauge",
                      f"{p}_queue_texts{{{worker}}} {depth}"]
            lines += [f"# HELP {p}_words_total spaCy tokens annotated.", f"# TYPE {p}_words_total counter",
                      f"{p}_words_total{{{worker}}} {self.words}"]
            lines += [f"# HELP {p}_words_per_second spaCy tokens annotated per second over the last {RATE_WINDOW_S:g} s.",
                      f"# TYPE {p}_words_per_second gauge", f"{p}_words_per_second{{{worker}}} {rate!r}"]
        return "\n".join(lines) + "\n"
