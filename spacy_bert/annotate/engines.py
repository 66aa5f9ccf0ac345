"""Engines of `spacy bert annotate`: they only schedule `shard.annotate_shard` (DESIGN.md decision 10).

- `run_inline`: this process (`--workers 1`), like `nlp.pipe(n_process=1)`.
- `run_local`: a process pool on this machine. Workers are *spawned* (never forked: a forked
  torch runtime with threads started can deadlock), each loads the pipeline once and runs with
  `threads_per_worker` torch threads (cores // workers unless given), set before torch starts, so
  N workers do not oversubscribe the cores. A worker that dies (killed, out of memory) breaks the
  pool: a new pool is started and every unfinished shard is submitted again, up to
  `max_attempts` times per shard (E709 after that). Python errors are not retried: they are the
  record's or the pipeline's, and go through --on-error.
- `run_ray`: a pool of Ray actors, each loading the pipeline once from a path or package name
  (never `ray.put(nlp)`: spaCy objects do not survive Ray's read-only buffers), `num_gpus` per
  actor with --gpus-per-worker (the actor then runs the pipeline on that GPU; CuPy needed, as
  for `spacy train --gpu-id 0`). Each actor holds two shards, so it never waits for the
  driver between them. An actor that dies (node lost, killed, out of memory) is replaced and
  its unfinished shards submitted again, up to `max_attempts` times each.

Workers read their input shard from INPUT and write their outputs to OUTPUT_DIR themselves
(no record goes through a pipe or Ray's object store), so on a Ray cluster INPUT, OUTPUT_DIR and
a PIPELINE directory must be at the same path on every node (a shared filesystem), or PIPELINE
an installed package on each node.

Each engine calls `on_result(ShardResult)` as shards finish (in completion order) and returns
the results in shard order.
"""
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..errors import Errors
from .records import ShardSpec
from .shard import ShardOptions, ShardResult, annotate_shard

ENGINES = ("local", "ray")
MAX_ATTEMPTS = 3
#: Shards held by one Ray actor at a time (`run_ray`).
IN_FLIGHT = 2

OnResult = Callable[[ShardResult], None]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for(workers: int, threads_per_worker: Optional[int] = None) -> int:
    """Torch threads per worker: the given number, else cores // workers (at least 1)."""
    if threads_per_worker is not None:
        if threads_per_worker < 1:
            raise ValueError(Errors.E706.format(option="--threads-per-worker", value=threads_per_worker, expected="a positive integer"))
        return threads_per_worker
    return max(1, available_cores() // max(1, workers))


def set_threads(threads: int) -> None:
    """Pin this process to `threads` torch/OpenMP threads. The environment variables come first,
    so that a torch imported afterwards starts with them; `SPACY_BERT_NUM_THREADS` is what the
    spacy-bert shim applies when it installs a model (layers/settings.py)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "SPACY_BERT_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def run_inline(shards: Sequence[ShardSpec], options: ShardOptions, on_result: OnResult, threads: Optional[int] = None) -> List[ShardResult]:
    """Every shard in this process, one after the other."""
    if threads is not None:
        set_threads(threads)
    results = []
    for spec in shards:
        result = annotate_shard(spec, options)
        on_result(result)
        results.append(result)
    return results


# -- local process pool ------------------------------------------------------------------------
def _init_worker(threads: int) -> None:
    # Threads only: the pipeline is loaded at the worker's first shard (once), where a load
    # error is a Python error that reaches the caller, not a broken pool that would be retried.
    set_threads(threads)


def _work(spec: ShardSpec, options: ShardOptions) -> ShardResult:
    return annotate_shard(spec, options)


def run_local(
    shards: Sequence[ShardSpec],
    options: ShardOptions,
    on_result: OnResult,
    workers: int,
    threads: Optional[int] = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> List[ShardResult]:
    """`shards` on a spawned process pool of `workers` processes (see the module docstring)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = threads_for(workers, threads)
    context = multiprocessing.get_context("spawn")
    done: Dict[str, ShardResult] = {}
    attempts: Dict[str, int] = {spec.name: 0 for spec in shards}
    last_error: Dict[str, str] = {}
    while len(done) < len(shards):
        todo = [spec for spec in shards if spec.name not in done]
        for spec in todo:
            if attempts[spec.name] >= max_attempts:
                raise RuntimeError(Errors.E709.format(shard=spec.name, attempts=attempts[spec.name], error=last_error.get(spec.name, "?")))
            attempts[spec.name] += 1
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(todo)), mp_context=context, initializer=_init_worker, initargs=(threads,),
        )
        try:
            futures = {pool.submit(_work, spec, options): spec for spec in todo}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    spec = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool as error:
                        # a worker died: this shard (and every other unfinished one) goes again
                        last_error[spec.name] = f"worker process died ({error})"
                        continue
                    done[spec.name] = result
                    on_result(result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return [done[spec.name] for spec in shards]


# -- Ray actor pool ----------------------------------------------------------------------------
class _AnnotateActor:
    """One Ray actor: loads the pipeline once (from a path or package), then annotates shards.

    With a GPU (`use_gpu`), thinc's `require_gpu(0)` comes before the load, so the models go to
    the GPU Ray gave this actor (Ray sets CUDA_VISIBLE_DEVICES: it is device 0 here). A load
    error is kept and raised by `annotate`: an exception in `__init__` would look like a dead
    actor, which is retried, while a pipeline that cannot load fails the same way every time.
    """

    def __init__(self, pipeline: str, precision: Optional[str], threads: int, use_gpu: bool):
        self.nlp, self.error = None, None
        try:
            set_threads(threads)
            if use_gpu:
                from thinc.api import require_gpu

                require_gpu(0)
            from .pipelines import load_pipeline

            self.nlp = load_pipeline(pipeline, precision)
        except Exception as error:  # noqa: BLE001  (re-raised at the first shard)
            self.error = error

    def annotate(self, spec: ShardSpec, options: ShardOptions) -> ShardResult:
        if self.error is not None:
            raise self.error
        return annotate_shard(spec, options, self.nlp)


def import_ray():
    """`import ray`, or E707 saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(Errors.E707.format(error=error)) from None
    return ray


#: RayConfig settings of a local Ray instance that `connect_ray` starts (never applied to an
#: existing cluster: its settings are its owner's). Ray starts worker processes at nice 15 so
#: that its own daemons stay responsive next to heavy tasks; for this instance the actors *are*
#: the job, so they run at the driver's priority, as `--engine local` workers do. Otherwise, on a
#: machine also running other work at nice 0 in the same scheduling group, the actors get
#: about 1/30 of a core's share each (CFS weights 36 vs 1024).
LOCAL_RAY_SYSTEM_CONFIG = {"worker_niceness": 0}


def connect_ray(address: Optional[str], **local_init: Any) -> bool:
    """Join the cluster at `address`, or start a local Ray instance when `address` is None
    (no dashboard, `LOCAL_RAY_SYSTEM_CONFIG`; `local_init` goes to its `ray.init`, e.g.
    `num_cpus`). A Ray session this process already started is used as is. Returns True when
    this call started the connection (so the caller shuts it down afterwards)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if address is None:
            system_config = {**LOCAL_RAY_SYSTEM_CONFIG, **local_init.pop("_system_config", {})}
            ray.init(include_dashboard=False, log_to_driver=False, _system_config=system_config, **local_init)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as error:  # noqa: BLE001  (Ray's connection errors have no common base)
        raise RuntimeError(Errors.E712.format(address=address or "local", error=error)) from error
    return True


def run_ray(
    shards: Sequence[ShardSpec],
    options: ShardOptions,
    on_result: OnResult,
    workers: int,
    gpus_per_worker: float = 0.0,
    threads: Optional[int] = None,
    max_attempts: int = MAX_ATTEMPTS,
    in_flight: Optional[int] = None,
) -> List[ShardResult]:
    """`shards` on `workers` Ray actors (Ray must be connected: `connect_ray`).

    Each actor holds up to `in_flight` shards (default `IN_FLIGHT`): an actor runs its calls one
    at a time in submission order, so the next shard is already there when one finishes and the
    actor never waits for the driver's round trip (ray.wait, ray.get, the next submit). Near the
    end (no more queued shards than actors) a shard goes only to an actor with nothing to do,
    so no shard waits behind another while an actor is idle. When an actor dies, every shard it held
    and did not finish goes again on a fresh actor, in order; only the one it was running is
    charged an attempt, the ones queued behind it had not started.
    """
    ray = import_ray()
    from ray.exceptions import RayActorError, RayTaskError

    if gpus_per_worker < 0:
        raise ValueError(Errors.E706.format(option="--gpus-per-worker", value=gpus_per_worker, expected="0 or more"))
    in_flight = IN_FLIGHT if in_flight is None else in_flight
    if in_flight < 1:
        raise ValueError(Errors.E706.format(option="in_flight", value=in_flight, expected="a positive integer"))
    threads = threads if threads is not None else 1
    actor_class = ray.remote(_AnnotateActor).options(num_cpus=threads, num_gpus=gpus_per_worker, max_restarts=0)

    started = []  # every actor of this run, replacements included, killed at the end

    def new_actor():
        actor = actor_class.remote(options.pipeline, options.precision, threads, gpus_per_worker > 0)
        started.append(actor)
        return actor

    queue = list(shards)[::-1]  # pop() takes the next shard in input order
    actors = [new_actor() for _ in range(min(workers, len(shards)))]
    attempts: Dict[str, int] = {spec.name: 0 for spec in shards}
    held: Dict[object, List[tuple]] = {actor: [] for actor in actors}  # actor -> [(ref, spec)], oldest first
    running: Dict[object, tuple] = {}  # object ref -> (actor, spec)
    done: Dict[str, ShardResult] = {}

    def fill(actor) -> None:
        while queue and len(held[actor]) < in_flight:
            if held[actor] and len(queue) <= len(actors):
                return  # the end: keep the last shards for actors that have nothing to do
            spec = queue.pop()
            if attempts[spec.name] >= max_attempts:
                raise RuntimeError(Errors.E709.format(shard=spec.name, attempts=attempts[spec.name], error="actor died"))
            attempts[spec.name] += 1
            ref = actor.annotate.remote(spec, options)
            running[ref] = (actor, spec)
            held[actor].append((ref, spec))

    def collect(ref) -> Optional[ShardResult]:
        """A shard's result; None when its actor died first. An error of the shard function
        itself (a coded error such as E708) is raised as is: it is not retried."""
        try:
            return ray.get(ref)
        except RayActorError:
            return None
        except RayTaskError as error:
            cause = getattr(error, "cause", None)
            raise (cause if isinstance(cause, Exception) else error) from None

    def finish(actor, ref, spec: ShardSpec, result: ShardResult) -> None:
        del running[ref]
        held[actor].remove((ref, spec))
        done[spec.name] = result
        on_result(result)

    def replace(actor) -> None:
        """A dead actor (its model gone with it) makes way for a fresh one. It ran its calls in
        order, so the shards it held are: some it finished (their results are collected, not
        redone), the one it was running, then ones it never started (they get their attempt
        back). Every unfinished one goes again, in order."""
        lost: List[ShardSpec] = []
        for ref, spec in list(held[actor]):
            result = None if lost else collect(ref)
            if result is not None:
                finish(actor, ref, spec, result)
                continue
            del running[ref]
            if lost:
                attempts[spec.name] -= 1
            lost.append(spec)
        del held[actor]
        queue.extend(reversed(lost))  # pop() takes the oldest first
        ray.kill(actor, no_restart=True)
        fresh = new_actor()
        actors[actors.index(actor)] = fresh
        held[fresh] = []

    try:
        for actor in actors:
            fill(actor)
        while running:
            finished, _ = ray.wait(list(running), num_returns=1)
            ref = finished[0]
            actor, spec = running[ref]
            result = collect(ref)
            if result is None:
                replace(actor)
            else:
                finish(actor, ref, spec, result)
            for each in list(actors):  # near the end a finished shard frees work for an idle actor
                fill(each)
    finally:
        # killing the actors also stops their unfinished shards (their temporary files are
        # never taken as done, and a later run cleans them)
        for actor in started:
            ray.kill(actor, no_restart=True)
    return [done[spec.name] for spec in shards]
