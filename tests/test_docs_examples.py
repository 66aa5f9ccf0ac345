"""Every code example of `README.md` and `docs/*.md` runs as written, offline, on a fresh clone.

How a page is run: its fenced blocks, top to bottom, in one fresh working directory that holds
copies of what a clone has (`assets/`, `configs/`, `project.yml`), as a reader following the page
would. Each ```python block runs in a fresh namespace (in this process, so a failure shows its
traceback); each ```bash block runs its commands with `bash -e`, `python` being this
interpreter and this checkout's `spacy_bert` first on the path. Files one block writes are what
the next block reads (a pipeline saved in Python, then annotated from the shell).

Fences must name their language: `python` and `bash` run; `text` (output), `ini` (config),
`json` and `jsonl` (data) are shown only. An HTML comment on the line above a fence annotates it:

- `<!-- test: skip: new machine -->`: the README's two commands for a new machine (they create a
  venv and install; `.ci/run` runs the test command itself, and a test below checks that both
  say the same);
- `<!-- test: skip: training run -->`: full-size training workflows (minutes to hours);
- `<!-- test: skip: network -->`, `<!-- test: skip: gpu -->`, `<!-- test: skip: cluster -->`:
  what needs a network, a GPU or a Ray cluster, none of which the tests may use;
- `<!-- test: skip: server -->`: a command that serves until it is stopped, and requests to it
  (`docs/serving.md`); `tests/serve/` starts the same server on 127.0.0.1 and checks every route,
  status and answer the page describes;
- `<!-- test: slow -->`: runs, but the page's test carries the `slow` marker.

Nothing else may be skipped. The settings tables of `docs/components.md` and the commands of
`docs/cli.md` are checked against the code, and `docs/errors.md` against `scripts/errors_md.py`.
"""
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README] + sorted(DOCS.glob("*.md"))
RUN = {"python", "bash"}
SHOWN = {"text", "ini", "json", "jsonl"}
SKIP_REASONS = {"new machine", "training run", "network", "gpu", "cluster", "server"}
FENCE = re.compile(r"^```(\w*)[ \t]*$")
NOTE = re.compile(r"^<!-- test: (skip: (?P<reason>[^>]+?)|slow) -->$")
CLONE_FILES = ("assets", "configs", "project.yml")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: Optional[str]
    slow: bool

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> List[Block]:
    """The fenced blocks of `page`, with the annotation on the line above each."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page.name}:{start + 1}: unclosed code fence"
        note = NOTE.match(lines[start - 1].strip()) if start else None
        found.append(
            Block(
                page=page,
                line=start + 1,
                lang=lang,
                code="\n".join(lines[start + 1 : end]) + "\n",
                skip=note.group("reason") if note and note.group("reason") else None,
                slow=bool(note) and not note.group("reason"),
            )
        )
        i = end + 1
    return found


def page_params():
    for page in PAGES:
        marks = [pytest.mark.slow] if any(b.slow for b in blocks(page)) else []
        yield pytest.param(page, id=str(page.relative_to(ROOT)), marks=marks)


@pytest.fixture
def clone_dir(tmp_path, monkeypatch):
    """A working directory with the files of a fresh clone a page's examples read."""
    for name in CLONE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        else:
            shutil.copy(source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def shell_env(tmp_path: Path) -> dict:
    """`python` is this interpreter; this checkout's package comes first on the path."""
    bin_dir = tmp_path / ".bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "python"  # a script, not a symlink: a venv's python finds its venv by its own path
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.mark.parametrize("page", list(page_params()))
def test_page_examples_run(page, clone_dir):
    env = shell_env(clone_dir)
    ran = 0
    for block in blocks(page):
        if block.lang not in RUN or block.skip:
            continue
        if block.lang == "python":
            namespace = {"__name__": "__docs_example__"}
            exec(compile(block.code, block.where(), "exec"), namespace)  # noqa: S102 (our own docs)
        else:
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=clone_dir, env=env, capture_output=True, text=True, timeout=600,
            )
            assert result.returncode == 0, f"{block.where()} failed:\n{block.code}\n{result.stdout}\n{result.stderr}"
        ran += 1
    if page.name != "errors.md":
        assert ran, f"{page.name} has no example that runs"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fences_are_named_and_skips_are_allowed(page):
    for block in blocks(page):
        assert block.lang in RUN | SHOWN, f"{block.where()}: fence language {block.lang!r} (use one of {sorted(RUN | SHOWN)})"
        if block.skip is not None:
            assert block.lang == "bash", f"{block.where()}: only shell commands may be skipped, never Python"
            assert block.skip in SKIP_REASONS, f"{block.where()}: skip reason {block.skip!r} not one of {sorted(SKIP_REASONS)}"


def test_only_the_readme_skips_new_machine_commands():
    new_machine = [b for page in PAGES for b in blocks(page) if b.skip == "new machine"]
    assert [b.page for b in new_machine] == [README, README]


def test_readme_test_command_is_what_ci_runs():
    """The README's second command installs and tests exactly as `.ci/run` does."""
    main_job, tests = [b.code.strip() for b in blocks(README) if b.skip == "new machine"]
    assert main_job.endswith("python -m spacy project run demo")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").replace("--quiet ", "")
    for step in ("pip install torch==2.13.0", 'pip install -e ".[test]"', "python -m pytest tests -q -p no:cacheprovider", "python -m mypy"):
        assert step in tests and step in ci, step


def test_links_between_pages_resolve():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which the repository does not ship"


def test_errors_page_is_current():
    """docs/errors.md is what `python scripts/errors_md.py` writes from spacy_bert/errors.py."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "errors_md.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr + "\nRun: python scripts/errors_md.py"
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    assert "**E101**" in text and "**W630**" in text  # the page lists codes, not an empty shell


FACTORIES = ("bert", "bert_ner", "bert_textcat", "bert_qa", "bert_fill_mask")
ROW = re.compile(r"^\| `(\w+)` \| `([^`]*)` \|")


def settings_table(factory: str) -> dict:
    """{setting: default as written} of the first table in the `## \\`factory\\`` section."""
    text = (DOCS / "components.md").read_text(encoding="utf-8")
    section = re.search(rf"^## `{factory}`\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert section, f"components.md has no section ## `{factory}`"
    rows = {}
    for line in section.group(1).splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2)
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.mark.parametrize("factory", FACTORIES)
def test_settings_tables_match_the_factories(factory):
    """Each section's table lists every setting of the factory with the code's default."""
    import json

    import spacy_bert.pipeline  # noqa: F401  (registers the factories)
    from spacy.language import Language

    defaults = {k: v for k, v in Language.get_factory_meta(factory).default_config.items() if k != "model"}
    documented = settings_table(factory)
    assert documented, f"no settings table under ## `{factory}`"
    for name, value in defaults.items():
        assert name in documented, f"{factory}: setting {name!r} is not documented"
        written = json.dumps(value) if not isinstance(value, dict) else json.dumps(value, separators=(", ", ": "))
        assert documented[name] == written, f"{factory}.{name}: docs say {documented[name]}, the code {written}"
    extra = set(documented) - set(defaults) - {"mixed_precision", "grad_scaler_config"}
    assert not extra, f"{factory}: documented settings the factory does not take: {sorted(extra)}"


def test_cli_page_has_every_command():
    from spacy_bert.cli import bert_cli

    names = {c.name or c.callback.__name__.replace("_", "-") for c in bert_cli.registered_commands}
    assert len(names) >= 10
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## `spacy bert ([\w-]+)`", text, flags=re.M))
    assert documented == names, f"missing: {sorted(names - documented)}, not commands: {sorted(documented - names)}"
