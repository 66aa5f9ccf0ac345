"""Progress of a long `spacy bert annotate` run: records and shards done, records/s, time left.

On a terminal one line redrawn with "\\r"; otherwise (logs, CI, a file) a plain line every
`every` seconds and at the end. No tqdm: the output is the same wherever it goes.
"""
import sys
import time
from typing import Callable, Optional, TextIO

from .shard import ShardResult


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Counts finished shards and prints progress.

    Args:
        total_records (int), total_shards (int): The run's size.
        stream (TextIO): Where to print (default sys.stderr).
        every (float): Seconds between log lines when `stream` is not a terminal.
        clock (Callable[[], float]): Time source (tests pass a fake one).
    """

    def __init__(self, total_records: int, total_shards: int, stream: Optional[TextIO] = None, every: float = 10.0,
                 clock: Callable[[], float] = time.perf_counter):
        self.total_records, self.total_shards = total_records, total_shards
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.clock = every, clock
        self.started = clock()
        self.last_line = float("-inf")
        self.records = self.shards = self.skipped_shards = self.annotated = self.errors = 0
        # records/s counts only what this run computed: skipped shards would inflate it
        self.computed = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, result: ShardResult) -> None:
        self.shards += 1
        self.records += result.records
        if result.skipped:
            self.skipped_shards += 1
        else:
            self.computed += result.records
            self.annotated += result.annotated
            self.errors += result.errors
        now = self.clock()
        if self.tty:
            self.stream.write("\r" + self.line(now))
            self.stream.flush()
        elif now - self.last_line >= self.every or self.shards == self.total_shards:
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()
            self.last_line = now

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.computed / elapsed if elapsed > 0 else 0.0

    def line(self, now: float) -> str:
        rate = self.rate(now)
        left = self.total_records - self.records
        eta = format_seconds(left / rate) if rate > 0 else "?"
        percent = 100.0 * self.records / self.total_records if self.total_records else 100.0
        return (f"annotate: {self.records}/{self.total_records} records ({percent:.0f}%), "
                f"{self.shards}/{self.total_shards} shards, {rate:.1f} records/s, ETA {eta}")

    def summary(self) -> str:
        now = self.clock()
        if self.tty:
            self.stream.write("\n")
        return (f"{self.records} records in {self.total_shards} shards: {self.shards - self.skipped_shards} shards "
                f"annotated, {self.skipped_shards} already done (skipped); {self.annotated} records written, "
                f"{self.errors} failed; {format_seconds(now - self.started)} at {self.rate(now):.1f} records/s")
