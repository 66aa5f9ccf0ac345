"""`spacy project assets` offline: one coded message (E533) instead of a network traceback.

weasel downloads an asset's URL with smart_open/requests and catches only httpx's errors, so
without a network `spacy project assets` ends in a 40-line `requests` traceback after the first
URL. spaCy imports this package (the `spacy_cli` entry point) before it runs a command; there,
for `spacy project assets` only, `install` swaps weasel's per-asset fetch for `fetch_one` (the
one `spacy bert fetch-assets` uses: URL or local path, written through a `.part` file, md5
checked) and reports every asset it could not get at the end, naming the project var that
points the dataset at a local copy (`--vars.wnut17_base DIR`). Exit status 1 then.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import Errors

_VAR = re.compile(r"\$\{\s*vars\.([A-Za-z0-9_]+)\s*\}")


def is_project_assets(argv: Sequence[str]) -> bool:
    """True for a `spacy project assets ...` command line (argv without the program name)."""
    return len(argv) >= 2 and argv[0] == "project" and argv[1] == "assets"


def url_vars(project_dir: Path) -> Dict[str, str]:
    """dest -> the first `${vars.NAME}` in that asset's url in project.yml (before substitution)."""
    import srsly

    path = project_dir / "project.yml"
    if not path.is_file():
        return {}
    found = {}
    for asset in srsly.read_yaml(path).get("assets") or []:
        match = _VAR.search(str(asset.get("url", ""))) if isinstance(asset, dict) else None
        if match and "dest" in asset:
            found[asset["dest"]] = match.group(1)
    return found


def failure_message(project_dir: Path, problems: List[Tuple[str, str]]) -> str:
    """E533 for the (dest, problem) pairs: each problem, and per dataset var the override to use."""
    variables = url_vars(project_dir)
    hints: Dict[str, List[str]] = {}
    for dest, _ in problems:
        hints.setdefault(variables.get(dest, ""), []).append(dest)
    hint_text = "; ".join(
        f"--vars.{var} DIR (for {', '.join(dests)})" if var else f"place {', '.join(dests)} yourself"
        for var, dests in hints.items()
    )
    return Errors.E533.format(count=len(problems), problems="; ".join(p for _, p in problems), hints=hint_text)


def install() -> None:
    """Make weasel's `project assets` fetch with `fetch_one` and end with E533 on failures."""
    import weasel.cli.assets as weasel_assets

    from ._app import fail
    from .fetch_assets import fetch_one

    problems: List[Tuple[str, str]] = []
    original_project_assets = weasel_assets.project_assets

    def fetch_asset(project_path: Path, url: str, dest: Path, checksum: Optional[str] = None) -> None:
        project_path = Path(project_path).resolve()
        dest = Path(dest).resolve()
        try:
            name = dest.relative_to(project_path).as_posix()
        except ValueError:  # a dest outside the project: fetch_one joins it as given
            name = str(dest)
        problem = fetch_one(project_path, {"dest": name, "url": url, "checksum": checksum})
        if problem:
            problems.append((name, problem))

    def project_assets(project_dir: Path, **kwargs) -> None:
        original_project_assets(project_dir, **kwargs)
        if problems:
            fail(failure_message(Path(project_dir), problems))

    weasel_assets.fetch_asset = fetch_asset
    weasel_assets.project_assets = project_assets


def check_project_assets(argv: Sequence[str]) -> None:
    """Install the clear-message fetch when argv is `project assets ...`."""
    if is_project_assets(argv):
        install()


__all__ = ["check_project_assets", "failure_message", "install", "is_project_assets"]
