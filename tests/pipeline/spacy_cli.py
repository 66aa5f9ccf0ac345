"""Running spaCy's CLI (`python -m spacy ...`) from tests."""
import os
import subprocess
import sys

#: Subprocesses run torch on one thread: on a busy 2-core machine, OpenMP threads that wait
#: for each other make a training step about ten times slower.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_spacy(*args: str, timeout: int = 600) -> str:
    """Run `python -m spacy *args`, assert it succeeded, return its stdout."""
    env = {**os.environ, **ONE_THREAD_ENV}
    result = subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout
