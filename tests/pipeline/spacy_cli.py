"""Running spaCy's CLI (`python -m spacy ...`) from tests."""
import os
import subprocess
import sys
from pathlib import Path
from typing import Tuple

from spacy_bert.corpora import convert_conll
from tests.paths import REPO, TEST_DATA

#: Subprocesses run torch on one thread: on a busy 2-core machine, OpenMP threads that wait
#: for each other make a training step about ten times slower.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_spacy(*args: str, timeout: int = 600) -> str:
    """Run `python -m spacy *args`, assert it succeeded, return its stdout."""
    env = {**os.environ, **ONE_THREAD_ENV}
    result = subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def wnut_slice(tmp_path: Path) -> Tuple[Path, Path]:
    """The first sentences of WNUT-17 train (300 lines) and dev (200 lines) as `.spacy` files."""
    wnut = TEST_DATA / "wnut17"
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    paths = []
    for name, lines in (("wnut17train.conll", 300), ("emerging.dev.conll", 200)):
        head = "".join((wnut / name).open(encoding="utf-8").readlines()[:lines])
        (tmp_path / name).write_text(head, encoding="utf-8")
        paths.append(corpus / name.replace(".conll", ".spacy"))
        convert_conll(tmp_path / name, paths[-1])
    return paths[0], paths[1]


def train_briefly(config_name: str, train: Path, dev: Path, checkpoint: Path, output: Path) -> Path:
    """`spacy train configs/<config_name>` for 4 steps on the CPU; returns `model-best`."""
    run_spacy(
        "train", str(REPO / "configs" / config_name),
        "--output", str(output),
        "--paths.train", str(train),
        "--paths.dev", str(dev),
        "--paths.checkpoint", str(checkpoint),
        "--training.max_steps", "4",
        "--training.eval_frequency", "2",
        "--gpu-id", "-1",
    )
    return output / "model-best"
