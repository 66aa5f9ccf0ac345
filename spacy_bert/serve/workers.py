"""Running the server on this machine: one process, or N worker processes behind one port.

- `run_server`: one model copy in this process on uvicorn. SIGTERM (or Ctrl-C) starts a drain:
  new requests get 503 (E809) while the listening socket stays open, requests already accepted
  are answered, then the process exits 0. A second signal stops at once.
- `Supervisor` (`--workers N`, N > 1): binds the port once, then starts N worker processes
  (`python -m spacy_bert.serve.workers`, fresh interpreters, never forks of a process with torch
  threads) that accept on that shared socket, each with `cores // N` torch threads
  (`--threads` to choose). A worker that dies (SIGKILL, out of memory) is started again while the
  others keep answering; one that dies before it is ready 3 times in a row stops the server
  (E817: the pipeline cannot load). SIGTERM is passed to every worker; each drains as above,
  and the supervisor exits 0 when they have.
- `--max-requests N` recycles model copies (a supervisor then runs even for one worker): a worker
  that has answered N requests asks to retire (a file the supervisor watches); the supervisor
  starts its replacement, and once that one is loaded and warmed up, sends the old one SIGUSR1:
  uvicorn's own shutdown (no new connections; requests in flight are answered; idle keep-alive
  connections are closed, as any HTTP server may), then exit 0. Connections not yet accepted
  wait in the shared socket's backlog for the new worker: none is refused. What this returns is
  the memory spaCy keeps per distinct word ever met inside a memory zone (docs/serving.md).

oneDNN's primitive cache (one entry per op and input shape) grows a serving process's memory
after warm-up (issue 26 measured ~32 MB over 10,000 fresh texts; bounded by the cache's capacity,
1024 entries by default). Serving caps it at 128 entries (`ONEDNN_PRIMITIVE_CACHE_CAPACITY`,
unless the environment sets it); batch-invariant batches (the default) also bound the shapes, as
their padded lengths are multiples of 8. A cache miss costs a primitive creation (microseconds to
a millisecond), small next to a BERT forward.
"""
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import Errors
from .settings import ServeSettings

logger = logging.getLogger("spacy_bert.serve")

ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
ONEDNN_CACHE_CAPACITY = "128"
#: A worker that exits before it is ready this many times in a row is not restarted again.
MAX_EARLY_EXITS = 3
READY_FILE_ENV = "SPACY_BERT_SERVE_READY_FILE"
RETIRE_FILE_ENV = "SPACY_BERT_SERVE_RETIRE_FILE"


def thread_environment(threads: int) -> Dict[str, str]:
    """Environment for a model copy with `threads` torch threads (set before torch starts)."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "SPACY_BERT_NUM_THREADS")}
    env[ONEDNN_CACHE_ENV] = os.environ.get(ONEDNN_CACHE_ENV, ONEDNN_CACHE_CAPACITY)
    return env


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (E818 when that fails), inheritable by workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ValueError(Errors.E818.format(host=host, port=port, error=error)) from None
    sock.set_inheritable(True)
    return sock


def announce(settings: ServeSettings, sock: socket.socket) -> None:
    """The one line a user (and the tests) read to find the server."""
    host, port = sock.getsockname()[:2]
    print(f"spacy-bert serve: {settings.pipeline} on http://{host}:{port} "
          f"(workers {settings.workers}, pid {os.getpid()})", flush=True)


def _uvicorn() -> Any:
    """The uvicorn module (E815 when the serve extra is not installed)."""
    try:
        import uvicorn
        import starlette  # noqa: F401
    except ImportError as error:
        raise ImportError(Errors.E815.format(error=error)) from None
    return uvicorn


def run_server(
    settings: ServeSettings, sock: Optional[socket.socket] = None, nlp: Any = None, ready_file: Optional[str] = None,
    retire_file: Optional[str] = None,
) -> int:
    """Serve one model copy in this process until SIGTERM/SIGINT (drained), SIGUSR1 (a retiring
    worker: uvicorn's own shutdown) or a load failure.

    Args:
        settings (ServeSettings): What to serve and how.
        sock (socket | None): A listening socket (a worker's shared one); None binds host:port.
        nlp (Language | None): An already loaded pipeline (else `settings.pipeline` is loaded).
        ready_file (str | None): Touched once the pipeline is warmed up (the supervisor's signal).
        retire_file (str | None): Touched once `settings.max_requests` requests are answered (the
            supervisor then starts a replacement and sends SIGUSR1 when it is ready).

    Returns:
        int: The exit code: 0 after a drain, 3 when the pipeline could not be loaded.

    The pipeline is loaded and warmed up before the socket is served, so connections wait in
    the listen backlog (or go to a ready worker) rather than meet a half-loaded server.
    """
    uvicorn = _uvicorn()
    from .app import build_app
    from .state import ServerState

    state = ServerState(settings, nlp)
    try:
        state.load()  # before accepting: a worker that is loading takes no connection from the others
    except Exception:  # noqa: BLE001  (any load failure: logged, exit code 3)
        logger.exception("spacy-bert serve: cannot load the pipeline %s", settings.pipeline)
        return 3
    if ready_file:
        Path(ready_file).touch()
    if retire_file and settings.max_requests:
        retire = Path(retire_file)

        def ask_to_retire(answered: int) -> None:
            if answered == settings.max_requests:
                retire.touch()

        state.on_answered = ask_to_retire
    if sock is None:
        sock = bind(settings.host, settings.port)
        announce(settings, sock)

    server_class: Any = uvicorn.Server  # an attribute of a module held in a variable: not a base mypy accepts

    class DrainingServer(server_class):
        """uvicorn's server, with a drain on the first signal instead of an immediate close."""

        def handle_exit(self, sig, frame) -> None:  # noqa: ANN001
            if state.draining:
                self.should_exit = self.force_exit = True
                return
            state.draining = True
            threading.Thread(target=self._drain, daemon=True).start()

        def _drain(self) -> None:
            state.wait_idle(settings.drain_timeout_s)
            time.sleep(0.05)  # let the last responses leave the event loop
            self.should_exit = True

    app = build_app(state, load_on_startup=False)
    config = uvicorn.Config(app, log_level=settings.log_level, lifespan="on", timeout_graceful_shutdown=max(1, int(settings.drain_timeout_s)))
    server = DrainingServer(config)
    if retire_file:
        signal.signal(signal.SIGUSR1, lambda sig, frame: setattr(server, "should_exit", True))
    server.run(sockets=[sock])
    return 0


class Supervisor:
    """N worker processes on one listening socket, replaced when they die (see the module doc).

    Args:
        settings (ServeSettings): `workers` > 1.
    """

    def __init__(self, settings: ServeSettings) -> None:
        from ..annotate.engines import threads_for

        self.settings = settings
        self.threads = threads_for(settings.workers, settings.threads)
        self.sock: Optional[socket.socket] = None
        self.procs: List[Optional[subprocess.Popen]] = [None] * settings.workers
        self.retiring: List[Optional[subprocess.Popen]] = [None] * settings.workers  # replaced, finishing
        self.retire_sent = [False] * settings.workers  # SIGUSR1 sent to the retiring one
        self.early_exits = [0] * settings.workers
        self.stopping = False
        self.restarts = 0
        self._dir = tempfile.mkdtemp(prefix="spacy-bert-serve-")

    def _ready_file(self, index: int) -> str:
        return str(Path(self._dir) / f"ready-{index}")

    def _retire_file(self, index: int) -> str:
        return str(Path(self._dir) / f"retire-{index}")

    def _start(self, index: int) -> None:
        ready = self._ready_file(index)
        Path(ready).unlink(missing_ok=True)
        env = dict(os.environ, **thread_environment(self.threads), **{READY_FILE_ENV: ready, RETIRE_FILE_ENV: self._retire_file(index)})
        assert self.sock is not None  # bound in run(), before any worker starts
        fd = self.sock.fileno()
        self.procs[index] = subprocess.Popen(
            [sys.executable, "-m", "spacy_bert.serve.workers", json.dumps(self.settings.to_dict()), str(fd)],
            pass_fds=[fd], env=env,
        )

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns 0 after the workers drained (E817 raised when a
        worker cannot start)."""
        self.sock = bind(self.settings.host, self.settings.port)
        announce(self.settings, self.sock)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.settings.workers):
                self._start(index)
            while not self.stopping:
                self._check_workers()
                time.sleep(0.1)
            return self._stop_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()
            for index in range(self.settings.workers):
                Path(self._ready_file(index)).unlink(missing_ok=True)
                Path(self._retire_file(index)).unlink(missing_ok=True)
            os.rmdir(self._dir)

    def _on_signal(self, sig, frame) -> None:  # noqa: ANN001
        if self.stopping:  # a second signal: stop now
            for proc in self.procs + self.retiring:
                if proc is not None and proc.poll() is None:
                    proc.kill()
        self.stopping = True

    def _recycle(self, index: int) -> None:
        """Hand worker `index` over to a fresh process once it asked to retire: start the
        replacement; when it is ready, SIGUSR1 to the old one; forget the old one once it exited."""
        old, current = self.retiring[index], self.procs[index]
        if old is not None:
            if old.poll() is not None:
                self.retiring[index] = None
            elif not self.retire_sent[index] and Path(self._ready_file(index)).exists():
                old.send_signal(signal.SIGUSR1)
                self.retire_sent[index] = True
            return
        if current is not None and not self.stopping and Path(self._retire_file(index)).exists():
            Path(self._retire_file(index)).unlink()
            self.retiring[index], self.retire_sent[index] = current, False
            print(f"spacy-bert serve: worker {index} (pid {current.pid}) answered --max-requests "
                  f"{self.settings.max_requests} requests; starting its replacement", flush=True)
            self._start(index)

    def _check_workers(self) -> None:
        for index in range(self.settings.workers):
            self._recycle(index)
        for index, proc in enumerate(self.procs):
            if proc is None or proc.poll() is None:
                if proc is not None and Path(self._ready_file(index)).exists():
                    self.early_exits[index] = 0
                continue
            if self.stopping:
                return
            was_ready = Path(self._ready_file(index)).exists()
            self.early_exits[index] = 0 if was_ready else self.early_exits[index] + 1
            if self.early_exits[index] >= MAX_EARLY_EXITS:
                self.stopping = True
                self._stop_workers()
                raise RuntimeError(Errors.E817.format(index=index, count=self.early_exits[index], code=proc.returncode))
            logger.warning("spacy-bert serve: worker %d (pid %d) exited with %s; starting a new one", index, proc.pid, proc.returncode)
            print(f"spacy-bert serve: worker {index} (pid {proc.pid}) exited ({proc.returncode}); starting a new one", flush=True)
            self.restarts += 1
            self._start(index)

    def _stop_workers(self) -> int:
        """SIGTERM to every worker, wait for their drains, SIGKILL what is left after that."""
        for proc in self.procs + self.retiring:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout_s + 10
        for proc in self.procs + self.retiring:
            if proc is None:
                continue
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return 0


def serve_local(settings: ServeSettings) -> int:
    """`--engine local`: one process (`workers` 1), or a supervisor of `workers` processes (also
    of one with `max_requests`: recycling needs a process that outlives the worker)."""
    _uvicorn()  # E815 before anything is started
    if settings.workers == 1 and not settings.max_requests:
        from ..annotate.engines import set_threads, threads_for

        os.environ.setdefault(ONEDNN_CACHE_ENV, ONEDNN_CACHE_CAPACITY)
        set_threads(threads_for(1, settings.threads))
        return run_server(settings)
    return Supervisor(settings).run()


def _worker_main(argv: List[str]) -> int:
    """A worker process: settings (JSON) and the shared socket's file descriptor."""
    settings = ServeSettings(**json.loads(argv[0]))
    sock = socket.socket(fileno=int(argv[1]))
    logging.basicConfig(level=settings.log_level.upper() if settings.log_level.upper() in logging._nameToLevel else "WARNING")
    return run_server(settings, sock=sock, ready_file=os.environ.get(READY_FILE_ENV), retire_file=os.environ.get(RETIRE_FILE_ENV))


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
