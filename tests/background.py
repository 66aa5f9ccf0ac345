"""Slow process chains that the suite starts at its beginning, on the second core.

The suite runs its tests one after another in one process; the slowest tests are chains of
`python -m spacy ...` processes (a project workflow, a docs page's commands) whose results are
read by a test much later. A test module declares such a chain as a *job* (`@job("name")`: a
function of the pytest request that returns the steps); a test that reads it carries
`@pytest.mark.background("name")` and calls `results("name")`. At the start of the session
(the autouse fixture `background_jobs` in conftest.py) the jobs of the selected tests start, one
after another in the order the tests will read them, in a worker thread beside the tests; a
test waits only if its job has not finished yet. Deselected tests (`-m "not slow"`) start
nothing. What a job runs and what its test asserts are the same as when the test ran the
processes itself: only *when* they run changes.
"""
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest


@dataclass
class Step:
    """One process of a job: `argv` in `cwd` with `env` (None: this process's environment).
    `check=False`: the step is expected to fail (its test reads the exit status); the job goes on."""

    argv: List[str]
    cwd: Path
    env: Optional[Dict[str, str]] = None
    timeout: int = 1800
    check: bool = True


@dataclass
class Done:
    """What one step did: its exit status and output (stdout and stderr as text)."""

    step: Step
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Job:
    name: str
    make: Callable[[pytest.FixtureRequest], List[Step]]
    steps: List[Step] = field(default_factory=list)
    done: List[Done] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)  # its steps are made
    finished: threading.Event = field(default_factory=threading.Event)
    error: Optional[BaseException] = None


#: name -> job, filled by `@job` when the test modules are imported (collection)
JOBS: Dict[str, Job] = {}
_queue: List[Job] = []
_current: Dict[str, subprocess.Popen] = {}
_stop = threading.Event()


def job(name: str):
    """Declare a background job: the decorated function takes the pytest request (for fixtures
    such as `tmp_path_factory` or `tiny_bert_dir`) and returns its steps, run in order; a step
    that fails ends the job."""

    def register(make: Callable[[pytest.FixtureRequest], List[Step]]):
        JOBS[name] = Job(name, make)
        return make

    return register


def wanted(items) -> List[str]:
    """The job names the selected test items read, in the order they read them."""
    names: List[str] = []
    for item in items:
        for mark in item.iter_markers("background"):
            for name in mark.args:
                if name not in names:
                    names.append(name)
    return names


def _run(step: Step) -> Done:
    with open(os.devnull, "rb") as stdin:
        process = subprocess.Popen(step.argv, cwd=step.cwd, env=step.env, stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    _current["process"] = process
    try:
        stdout, stderr = process.communicate(timeout=step.timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        stderr += f"\n[tests/background.py] killed after {step.timeout} s"
    finally:
        _current.pop("process", None)
    return Done(step, process.returncode, stdout, stderr)


def _work() -> None:
    for item in list(_queue):
        item.ready.wait()
        if item.error is not None:  # its steps could not be made
            item.finished.set()
            continue
        try:
            for step in item.steps:
                if _stop.is_set():
                    break
                item.done.append(_run(step))
                if item.done[-1].returncode != 0 and step.check:
                    break
        except BaseException as error:  # noqa: BLE001  (handed to the test that reads the job)
            item.error = error
        finally:
            item.finished.set()


def start(request: pytest.FixtureRequest, names: List[str]) -> Optional[threading.Thread]:
    """Run the jobs `names` in a worker thread; their steps are made here, one job after another
    (fixtures are not thread-safe), while the worker already runs the first ones. Returns the
    worker (None: nothing to run)."""
    _queue.clear()
    _stop.clear()
    for name in names:
        item = JOBS[name]
        item.steps, item.done, item.error = [], [], None
        item.ready.clear()
        item.finished.clear()
        _queue.append(item)
    if not _queue:
        return None
    worker = threading.Thread(target=_work, name="background-jobs", daemon=True)
    worker.start()
    for item in _queue:
        try:
            item.steps = item.make(request)
        except Exception as error:  # noqa: BLE001  (only the tests that read this job fail)
            item.error = error
        finally:
            item.ready.set()
    return worker


def stop(worker: Optional[threading.Thread]) -> None:
    """End of the session: a job no test waited for (a test failed first) is killed."""
    _stop.set()
    process = _current.get("process")
    if process is not None and process.poll() is None:
        process.kill()
    if worker is not None:
        worker.join(timeout=60)


def results(name: str, timeout: float = 3600) -> List[Done]:
    """Wait for job `name`; assert every step ran and succeeded (but those with `check=False`);
    return what each step did."""
    item = JOBS[name]
    assert item in _queue, f"background job {name!r} was not started: mark the test @pytest.mark.background({name!r})"
    assert item.finished.wait(timeout), f"background job {name!r} did not finish in {timeout} s"
    if item.error is not None:
        raise item.error
    last = item.done[-1] if item.done else None
    assert len(item.done) == len(item.steps) and (last is None or last.returncode == 0 or not last.step.check), (
        f"background job {name!r}: step {len(item.done)} of {len(item.steps)} "
        + (f"{' '.join(last.step.argv)} exited {last.returncode}:\n{last.stdout[-4000:]}\n{last.stderr[-4000:]}"
           if last else "never ran")
    )
    return item.done
