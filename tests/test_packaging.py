"""`spacy package` of a trained tiny pipeline: the package requires spacy-bert, installs into a
fresh virtual environment (offline, no dependencies fetched: they come from this environment)
and predicts exactly what the pipeline predicted before packaging."""
import json
import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path

import pytest
import spacy
from spacy.training import Example
from spacy.util import fix_random_seed

from tests.background import Step, job, results
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


def train_tiny_pipeline(root: Path, tiny_bert_dir: Path) -> Path:
    """bert_ner + bert_textcat on the tiny checkpoint, a few updates, saved to root/model; the
    checkpoint copy is deleted, so everything later runs from the saved pipeline alone."""
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


@job("packaging")
def packaging_job(request) -> list:
    """Train and save the pipeline (here, at the start of the session), then in the background:
    `spacy package`; a fresh venv that sees this environment's packages (torch, spacy, ...) through
    a .pth file, so the install needs no network; pip install of the sdist, offline, no
    dependencies fetched; the package's predictions, loaded by name, with spacy_bert from this
    checkout (PYTHONPATH), as here."""
    root = request.getfixturevalue("tmp_path_factory").mktemp("packaging")
    model = train_tiny_pipeline(root, request.getfixturevalue("tiny_bert_dir"))
    packages, venv = root / "packages", root / "venv"
    packages.mkdir()
    python = str(venv / "bin" / "python")
    ours = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    outer_pth = ("import pathlib, sys, sysconfig; "
                 "pathlib.Path(sysconfig.get_paths()['purelib'], '_outer_env.pth').write_text(sys.argv[1])")
    sdist = packages / "en_tiny_bert-0.0.1" / "dist" / "en_tiny_bert-0.0.1.tar.gz"
    return [
        Step([sys.executable, "-m", "spacy", "package", str(model), str(packages), "--force"], cwd=root, env=env()),
        Step([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root),
        Step([python, "-c", outer_pth, "\n".join(dict.fromkeys(ours)) + "\n"], cwd=root),
        Step([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(sdist)],
             cwd=root, env=env()),
        Step([python, "-c", PREDICT, "en_tiny_bert", json.dumps(TEXTS)], cwd=root, env=env(PYTHONPATH=str(REPO))),
    ]


@pytest.mark.slow
@pytest.mark.background("packaging")
def test_package_installs_in_a_fresh_venv_and_predicts_the_same():
    packaged, _, _, installed, predicted = results("packaging")
    trained_dir, packages = (Path(arg) for arg in packaged.step.argv[-3:-1])
    # the saved pipeline's predictions, by the same code the fresh venv ran
    expected = predict_here(trained_dir, TEXTS)
    assert len(expected) == 3 and all(len(p["cats"]) == 2 for p in expected)

    package_dir = packages / "en_tiny_bert-0.0.1"
    meta = json.loads((package_dir / "meta.json").read_text())
    assert any(req.startswith("spacy-bert") for req in meta["requirements"]), meta["requirements"]
    sdist = package_dir / "dist" / "en_tiny_bert-0.0.1.tar.gz"
    assert sdist.is_file()

    venv = Path(installed.step.argv[0]).parents[1]  # venv/bin/python -> venv
    assert list(venv.glob("lib/python*/site-packages/en_tiny_bert*"))  # installed into the fresh venv, not here

    # the package loads by name, offline, and predicts exactly what the saved pipeline did
    got = json.loads(predicted.stdout)["predictions"]
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
