"""`spacy package` of a trained tiny pipeline: the package requires spacy-bert, installs into a
fresh virtual environment (offline, no dependencies fetched: they come from this environment)
and predicts exactly what the pipeline predicted before packaging."""
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import spacy
from spacy.training import Example
from spacy.util import fix_random_seed

from tests.pipeline.spacy_cli import ONE_THREAD_ENV, REPO

TRAIN = [
    ("Apple is opening a store in Paris", {"entities": [(0, 5, "ORG"), (28, 33, "LOC")], "cats": {"POS": 1.0, "NEG": 0.0}}),
    ("Taylor Swift sang in Berlin", {"entities": [(0, 12, "PER"), (21, 27, "LOC")], "cats": {"POS": 0.0, "NEG": 1.0}}),
]
TEXTS = ["Apple sang in Paris", "Taylor Swift is opening a store in Berlin", "nothing to see here"]

PREDICT = """
import json, sys
import spacy
nlp = spacy.load(sys.argv[1])
out = []
for doc in nlp.pipe(json.loads(sys.argv[2])):
    out.append({"ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents],
                "scores": [float(s) for s in doc.spans["bert_ner"].attrs["scores"]],
                "cats": doc.cats})
print(json.dumps({"predictions": out}))
"""


def predict_here(model: Path, texts) -> list:
    """PREDICT's output computed in this process (one interpreter start less than a subprocess)."""
    namespace = {"__name__": "predict"}
    import contextlib
    import io

    import torch

    buffer = io.StringIO()
    argv, threads = sys.argv, torch.get_num_threads()
    try:
        # one thread, as the subprocess below runs (ONE_THREAD_ENV): the same float sums
        torch.set_num_threads(1)
        sys.argv = ["predict", str(model), json.dumps(texts)]
        with contextlib.redirect_stdout(buffer):
            exec(PREDICT, namespace)
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    return json.loads(buffer.getvalue())["predictions"]


def env(**extra):
    return {**os.environ, **ONE_THREAD_ENV, "HF_HUB_OFFLINE": "1", "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, tiny_bert_dir):
    """bert_ner + bert_textcat on the tiny checkpoint, a few updates, saved; the checkpoint copy is
    deleted, so everything later runs from the saved pipeline alone."""
    root = tmp_path_factory.mktemp("packaging")
    checkpoint = root / "tiny"
    shutil.copytree(tiny_bert_dir, checkpoint)
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("bert_ner", config={"checkpoint": str(checkpoint)})
    nlp.add_pipe("bert_textcat", config={"checkpoint": str(checkpoint)})
    examples = [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in TRAIN]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    nlp.meta["name"] = "tiny_bert"
    nlp.meta["version"] = "0.0.1"
    nlp.to_disk(root / "model")
    shutil.rmtree(checkpoint)
    return root / "model"


@pytest.mark.slow
def test_package_installs_in_a_fresh_venv_and_predicts_the_same(trained_dir, tmp_path):
    # the saved pipeline's predictions, by the same code the fresh venv runs below
    expected = predict_here(trained_dir, TEXTS)
    assert len(expected) == 3 and all(len(p["cats"]) == 2 for p in expected)

    packages = tmp_path / "packages"
    packages.mkdir()
    run([sys.executable, "-m", "spacy", "package", str(trained_dir), str(packages), "--force"], env=env())
    package_dir = packages / "en_tiny_bert-0.0.1"
    meta = json.loads((package_dir / "meta.json").read_text())
    assert any(req.startswith("spacy-bert") for req in meta["requirements"]), meta["requirements"]
    sdist = package_dir / "dist" / "en_tiny_bert-0.0.1.tar.gz"
    assert sdist.is_file()

    # A fresh venv that sees this environment's packages (torch, spacy, ...) through a .pth file,
    # so the install needs no network; spacy_bert comes from this checkout (PYTHONPATH), as here.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    venv_site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    ours = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (venv_site / "_outer_env.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(sdist)],
        env=env(), cwd=tmp_path)
    assert list(venv_site.glob("en_tiny_bert*"))  # installed into the fresh venv, not here

    # the package loads by name, offline, and predicts exactly what the saved pipeline did
    got = json.loads(run([str(python), "-c", PREDICT, "en_tiny_bert", json.dumps(TEXTS)],
                         env=env(PYTHONPATH=str(REPO)), cwd=tmp_path))["predictions"]
    assert got == expected


def test_the_package_ships_py_typed(monkeypatch):
    """PEP 561: `spacy_bert/py.typed` exists and setup.py installs it with the package."""
    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(REPO)
    exec(compile((REPO / "setup.py").read_text(encoding="utf-8"), "setup.py", "exec"), {"__name__": "__main__", "__file__": str(REPO / "setup.py")})
    assert "py.typed" in captured["package_data"]["spacy_bert"]
    assert (REPO / "spacy_bert" / "py.typed").is_file()
    assert any(req.startswith("mypy") for req in captured["extras_require"]["test"])
