"""project.yml: `spacy project run` on a tiny slice of every workflow (tiny checkpoint, a few
steps, data from a local mirror through the `*_base` vars), offline; the assets step with and
without a mirror; the demo workflow on its committed data.

The mirror is tests/data: the first lines of each real file under its source name. The project
copies that use it get project.yml with those files' checksums (`mirrored_project_copy`), so the
fetch, the checksum checks and every later step run as they do on the full files.

The workflows share steps (WNUT-17's assets and conversion serve ner, ner-listener and
pretrain), so one run of `all` runs every step once and the per-workflow tests read its outputs.
That run and the demo's are background jobs (tests/background.py): they start with the session
and run on the second core while the rest of the suite runs on the first; the tests here read
what they left. `test_each_workflow_is_self_contained` checks that each workflow on its own
produces every file its steps depend on (what running it alone would need)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

from tests.background import Step, job, results
from tests.paths import TEST_DATA
from tests.pipeline.spacy_cli import ONE_THREAD_ENV, REPO

#: workflow -> (metrics file, score keys the component must report, packaged pipeline name)
WORKFLOWS = {
    "ner": ("wnut17", ["ents_f", "ents_p", "ents_r", "ents_per_type"], "en_wnut17_bert_ner"),
    "ner-listener": ("wnut17-listener", ["ents_f", "ents_p", "ents_r"], "en_wnut17_bert_listener"),
    "textcat": ("sst2", ["cats_score", "cats_macro_f", "cats_macro_auc"], "en_sst2_bert_textcat"),
    "textcat-trec": ("trec", ["cats_score", "cats_macro_f", "cats_macro_auc"], "en_trec_bert_textcat"),
    "textcat-multilabel": ("goemotions", ["cats_score", "cats_macro_f", "cats_macro_auc"], "en_goemotions_bert_textcat"),
    # evaluate-qa's file: {"scores": {...}, "predictions": {...}}; the scores are read below
    "qa": ("xquad", ["qa_f1", "qa_exact", "exact", "f1", "total"], "en_xquad_bert_qa"),
    "pretrain": ("wnut17-pretrained", ["ents_f", "ents_p", "ents_r", "ents_per_type"], "en_wnut17_bert_ner_pretrained"),
}
#: workflow -> the assets its first step fetches from the mirror (none: committed data)
FETCHED = {"ner": "wnut17", "ner-listener": "wnut17", "textcat": "sst2", "textcat-trec": "trec",
           "textcat-multilabel": "goemotions", "qa": None, "pretrain": "wikitext2"}


def project_copy(tmp_path: Path) -> Path:
    """A fresh project directory as a clone has it: project.yml, configs/, committed assets/."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "project.yml", project)
    shutil.copytree(REPO / "configs", project / "configs")
    shutil.copytree(REPO / "assets" / "wnut17-demo", project / "assets" / "wnut17-demo")
    shutil.copytree(REPO / "assets" / "xquad", project / "assets" / "xquad")
    return project


#: mirrored asset (its url's `*_base` var) -> the file of tests/data that stands in for it
MIRRORED = {"wnut17_base": "wnut17", "sst2_base": "sst2", "goemotions_base": "goemotions", "trec_base": "trec",
            "wikitext2_base": "wikitext2"}


def mirror_file(asset: dict) -> Path:
    """The tests/data file a project.yml asset is fetched from (TREC's is `train.txt`, see mirror_vars)."""
    var = asset["url"].split("${vars.")[1].split("}")[0]
    name = "train.txt" if var == "trec_base" else asset["url"].rsplit("/", 1)[1]
    return TEST_DATA / MIRRORED[var] / name


def mirrored_project_copy(tmp_path: Path) -> Path:
    """`project_copy`, its project.yml expecting the checksums of the mirror's (sliced) files."""
    from weasel.util import get_checksum

    project_dir = project_copy(tmp_path)
    text = (project_dir / "project.yml").read_text(encoding="utf-8")
    for asset in srsly.read_yaml(project_dir / "project.yml")["assets"]:
        if not asset["url"].startswith("${vars.xquad_base}"):  # XQuAD is committed whole
            assert text.count(asset["checksum"]) == 1
            text = text.replace(asset["checksum"], get_checksum(mirror_file(asset)))
    (project_dir / "project.yml").write_text(text, encoding="utf-8")
    return project_dir


def offline_env() -> dict:
    """Offline: no hub, and no proxy to reach anything else either; torch on one thread."""
    return {**os.environ, **ONE_THREAD_ENV, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def project(*args, cwd: Path, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "spacy", "project", *args], cwd=cwd, env=offline_env(),
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def mirror_vars() -> list:
    """The `--vars.*_base` of tests/data; it keeps TREC's train file as train.txt (TREC.train.all
    at the source)."""
    return [*(f"--vars.{var}={TEST_DATA / folder}" for var, folder in MIRRORED.items()), "--vars.trec_file=train.txt"]


def tiny_vars(checkpoint: Path) -> list:
    return [f"--vars.checkpoint={checkpoint}", "--vars.max_steps=2", "--vars.eval_frequency=2",
            "--vars.corpus_limit=20", "--vars.demo_max_steps=2", "--vars.demo_eval_frequency=2",
            "--vars.qa_max_steps=2", "--vars.qa_eval_frequency=2", "--vars.qa_batch_size=2",
            "--vars.pretrain_max_steps=2", "--vars.pretrain_eval_frequency=2", "--vars.pretrain_batch_size=300"]


def spacy_project_step(*args, cwd: Path) -> Step:
    """`python -m spacy project *args` in `cwd`, offline, as a background step."""
    return Step([sys.executable, "-m", "spacy", "project", *args], cwd=cwd, env=offline_env())


@job("project-all")
def all_job(request) -> list:
    """`spacy project run all`, offline, on tiny slices: it runs beside the suite from its start."""
    cwd = mirrored_project_copy(request.getfixturevalue("tmp_path_factory").mktemp("all"))
    return [spacy_project_step("run", "all", ".", *mirror_vars(), *tiny_vars(request.getfixturevalue("tiny_bert_dir")),
                               cwd=cwd)]


@job("project-demo")
def demo_job(request) -> list:
    """`spacy project run demo` in a fresh clone, offline, on the committed data."""
    cwd = project_copy(request.getfixturevalue("tmp_path_factory").mktemp("demo"))
    return [spacy_project_step("run", "demo", ".", *tiny_vars(request.getfixturevalue("tiny_bert_dir")), cwd=cwd)]


@pytest.fixture(scope="module")
def all_run():
    """The finished `spacy project run all`: (project dir, its stdout)."""
    (done,) = results("project-all")
    return done.step.cwd, done.stdout


def _committed(project_dir: Path) -> set:
    return {path.relative_to(project_dir).as_posix() for path in project_dir.rglob("*") if path.is_file()}


@pytest.mark.parametrize("workflow", [*WORKFLOWS, "demo", "all"])
def test_each_workflow_is_self_contained(workflow, tmp_path):
    """Run alone in a fresh clone, every step finds its deps: committed, or made by an earlier step."""
    config = srsly.read_yaml(REPO / "project.yml")
    commands = {command["name"]: command for command in config["commands"]}
    available = _committed(project_copy(tmp_path))
    for step in config["workflows"][workflow]:
        command = commands[step]
        for dep in command.get("deps", []):
            assert dep in available, f"{workflow}: step {step} needs {dep}, which no earlier step makes"
        available |= {out.replace("${vars.package_version}", "0.0.1")
                      for out in command.get("outputs", []) + command.get("outputs_no_cache", [])}


def test_all_is_every_workflow(tmp_path):
    config = srsly.read_yaml(REPO / "project.yml")
    workflows = config["workflows"]
    assert set(workflows) == {"demo", "all", *WORKFLOWS}
    expected = [step for name in WORKFLOWS for step in workflows[name]]
    assert sorted(set(workflows["all"])) == sorted(set(expected))
    assert len(workflows["all"]) == len(set(workflows["all"]))  # every step once
    names = {command["name"] for command in config["commands"]}
    assert all(step in names for steps in workflows.values() for step in steps)
    assert {"gpu_id", "checkpoint", "max_steps", "ner_batch_size", "textcat_batch_size", "wnut17_base",
            "trec_base", "xquad_base", "wikitext2_base", "qa_max_steps", "qa_batch_size",
            "pretrain_max_steps", "pretrain_batch_size"} <= set(config["vars"])


@pytest.mark.slow
def test_assets_offline_with_and_without_a_mirror(tmp_path):
    cwd = mirrored_project_copy(tmp_path)
    # `spacy project assets` without a mirror, offline: one coded message naming each dataset's
    # var, no traceback, exit status 1; the committed XQuAD files pass their checksums
    failed = project("assets", ".", cwd=cwd, check=False)
    output = " ".join((failed.stdout + failed.stderr).split())
    assert failed.returncode == 1, output[-3000:]
    assert "[E533]" in output and "Traceback" not in output
    for var in ("wnut17_base", "sst2_base", "goemotions_base", "trec_base", "wikitext2_base"):
        assert f"--vars.{var} DIR" in output
    assert "--vars.xquad_base" not in output
    assert not list((cwd / "assets").rglob("*.part")) and not (cwd / "assets" / "wnut17" / "wnut17train.conll").exists()
    # without a mirror, offline: the workflow's first step fails with one clear message
    failed = project("run", "assets-wnut17", ".", cwd=cwd, check=False)
    assert failed.returncode != 0
    output = " ".join((failed.stdout + failed.stderr).split())  # wasabi wraps long lines
    assert "E510" in output and "--vars.wnut17_base DIR" in output
    assert "Traceback" not in output
    assert not (cwd / "assets" / "wnut17" / "wnut17train.conll").exists()
    # with a mirror: `spacy project assets` copies every file, with project.yml's checksums
    project("assets", ".", *mirror_vars(), cwd=cwd)
    config = srsly.read_yaml(cwd / "project.yml")
    from weasel.util import get_checksum

    for asset in config["assets"]:
        assert get_checksum(cwd / asset["dest"]) == asset["checksum"], asset["dest"]
    # a wrong file (here: a changed copy in the mirror) is named, never used
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "wnut17train.conll").write_text("changed\tO\n")
    (cwd / "assets" / "wnut17" / "wnut17train.conll").unlink()
    failed = project("run", "assets-wnut17", ".", f"--vars.wnut17_base={mirror}", cwd=cwd, check=False)
    output = " ".join((failed.stdout + failed.stderr).split())
    expected = get_checksum(TEST_DATA / "wnut17" / "wnut17train.conll")
    assert failed.returncode != 0 and f"project.yml expects {expected}" in output
    assert not (cwd / "assets" / "wnut17" / "wnut17train.conll").exists()


@pytest.mark.slow
@pytest.mark.background("project-demo")
def test_demo_runs_offline_on_committed_data():
    (result,) = results("project-demo")
    cwd = result.step.cwd
    metrics = srsly.read_json(cwd / "metrics" / "wnut17-demo.json")
    assert {"ents_f", "ents_p", "ents_r", "ents_per_type"} <= set(metrics)
    assert "NER F" in result.stdout  # spacy evaluate printed the dev scores
    sentences = (cwd / "assets" / "wnut17-demo" / "sentences.txt").read_text(encoding="utf-8").splitlines()
    for sentence in sentences:
        assert sentence in result.stdout  # each sentence annotated and printed
    html = (cwd / "displacy" / "wnut17-demo.html").read_text(encoding="utf-8")
    assert "<html" in html and sentences[0].split()[0] in html
    assert "Training pipeline" in result.stdout
    # what docs/components.md says the demo leaves: a pipeline `spacy.load` reads from its path
    loads = (
        "import spacy\n"
        "nlp = spacy.load('training/wnut17-demo/model-best')\n"
        "doc = nlp('Did anybody else hear Hamilton playing in the car at the beginning lol')\n"
        "assert nlp.pipe_names == ['bert_ner'] and len(doc.spans['bert_ner'].attrs['scores']) == len(doc.spans['bert_ner'])\n"
    )
    run_python(cwd, loads)


def run_python(cwd: Path, code: str) -> None:
    env = {**os.environ, **ONE_THREAD_ENV, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.background("project-all")
@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_workflow_runs_on_a_tiny_slice(workflow, all_run):
    cwd, stdout = all_run
    metrics_name, keys, package = WORKFLOWS[workflow]
    metrics = srsly.read_json(cwd / "metrics" / f"{metrics_name}.json")
    if workflow == "qa":
        assert len(metrics["predictions"]) == 170  # evaluate-qa answers every question of XQuAD dev
        metrics = metrics["scores"]
        assert metrics["total"] == 170
    for key in keys:
        assert key in metrics, (key, sorted(metrics))
    assert 0.0 <= metrics[keys[0]] <= 1.0
    assert (cwd / "packages" / f"{package}-0.0.1" / "dist" / f"{package}-0.0.1.tar.gz").is_file()
    dataset = FETCHED[workflow]
    if dataset:
        assert f"Fetched assets/{dataset}/" in stdout  # from the mirror, checksums checked
    else:
        assert "Present with matching checksum: assets/xquad/train.json" in stdout  # committed
    if workflow == "pretrain":  # the NER step trained from the exported masked-LM encoder
        exported = srsly.read_json(cwd / "training" / "wikitext2-hf" / "config.json")
        assert exported["architectures"] == ["BertForMaskedLM"]
        config = (cwd / "training" / "wnut17-pretrained" / "model-best" / "config.cfg").read_text(encoding="utf-8")
        assert 'checkpoint = "training/wikitext2-hf"' in config
        assert (cwd / "corpus" / "wikitext2" / "dev.txt").read_text(encoding="utf-8").count("\n") == 2  # 10 % of 20
    if workflow == "textcat":  # the trained pipeline loads from its path and classifies
        run_python(cwd, (
            "import spacy\n"
            "cats = spacy.load('training/sst2/model-best')('A gorgeous, witty, seductive movie.').cats\n"
            "assert set(cats) == {'negative', 'positive'} and abs(sum(cats.values()) - 1) < 1e-5\n"
        ))
