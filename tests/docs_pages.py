"""Reading and running the code examples of `README.md` and `docs/*.md` (tests/test_docs_examples.py).

How a page is run: its fenced blocks, top to bottom, in one fresh working directory that holds
copies of what a clone has (`assets/`, `configs/`, `project.yml`), as a reader following the page
would. Each ```python block runs in a fresh namespace (in the running process, so a failure shows
its traceback); each ```bash block runs its commands with `bash -e`, `python` being this
interpreter and this checkout's `spacy_bert` first on the path. Files one block writes are what
the next block reads (a pipeline saved in Python, then annotated from the shell).

`python -m tests.docs_pages PAGE DIR` runs one page in DIR (the slow pages run so, as background
jobs beside the suite); it exits 0 when every block ran, else 1 with the failing block's output.
"""
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

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


def is_slow(page: Path) -> bool:
    return any(block.slow for block in blocks(page))


def make_clone(directory: Path) -> Path:
    """Copy into `directory` the files of a fresh clone that the pages' examples read."""
    for name in CLONE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, directory / name)
        else:
            shutil.copy(source, directory / name)
    return directory


def shell_env(directory: Path) -> dict:
    """`python` is this interpreter; this checkout's package comes first on the path."""
    bin_dir = directory / ".bin"
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


def run_page(page: Path, directory: Path) -> int:
    """Run the examples of `page` in `directory` (the current directory must be `directory`, as
    the Python blocks use relative paths); returns how many blocks ran. A failing block raises
    (Python) or fails an assertion with its output (bash)."""
    env = shell_env(directory)
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
                cwd=directory, env=env, capture_output=True, text=True, timeout=600,
            )
            assert result.returncode == 0, f"{block.where()} failed:\n{block.code}\n{result.stdout}\n{result.stderr}"
        ran += 1
    return ran


if __name__ == "__main__":
    page, directory = Path(sys.argv[1]), Path(sys.argv[2])
    os.chdir(directory)
    print(f"ran {run_page(page, directory)} blocks of {page.relative_to(ROOT)}")
