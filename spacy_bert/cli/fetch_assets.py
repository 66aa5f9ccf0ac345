"""`spacy bert fetch-assets`: the first step of each project workflow.

Fetches the named assets of project.yml as `spacy project assets` does (its URL, or a local
directory given through the dataset's `*_base` var), but a missing network or a wrong checksum
ends with one message that says what is missing and how to get it (`spacy project assets`
itself ends offline in a network traceback).
"""
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from ..errors import Errors
from ._app import command, fail


def project_assets(project_dir: Path, overrides: Dict[str, str]) -> Dict[str, dict]:
    """dest -> asset entry (url, checksum, ...) of project.yml, with the var overrides applied.
    E784 when weasel cannot read project.yml (its own message, which it prints and exits on,
    becomes the reason)."""
    import contextlib
    import io

    from weasel.util import load_project_config

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            config = load_project_config(project_dir, overrides=overrides)
    except SystemExit:
        reason = re.sub(r"\x1b\[[0-9;]*m|[\u2714\u2718]", "", printed.getvalue())
        fail(Errors.E784.format(path=project_dir / "project.yml", error=" ".join(reason.split()).rstrip(". ")))
    return {asset["dest"]: asset for asset in config.get("assets", []) if "dest" in asset}


def fetch_one(project_dir: Path, asset: dict) -> Optional[str]:
    """Make asset["dest"] present with its checksum. Returns a problem line, or None when done."""
    from weasel.util import download_file, get_checksum

    dest, url, checksum = project_dir / asset["dest"], asset.get("url"), asset.get("checksum")
    if dest.is_file() and (checksum is None or get_checksum(dest) == checksum):
        msg.good(f"Present with matching checksum: {asset['dest']}")
        return None
    if not url:
        return f"{asset['dest']}: missing, and project.yml gives no url"
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")  # never leave a half-written asset behind
    try:
        if "://" not in url:
            source = Path(url) if Path(url).is_absolute() else project_dir / url
            shutil.copyfile(source, partial)
        else:
            download_file(url, partial, force=True)
    except Exception as error:  # offline, 404, no such local file: all end in one message
        partial.unlink(missing_ok=True)
        return f"{asset['dest']}: cannot get {url} ({type(error).__name__}: {str(error)[:160]})"
    if checksum is not None and get_checksum(partial) != checksum:
        found = get_checksum(partial)
        partial.unlink()
        return f"{asset['dest']}: {url} has md5 {found}, project.yml expects {checksum}"
    partial.replace(dest)
    msg.good(f"Fetched {asset['dest']} from {url}")
    return None


@command("fetch-assets")
def fetch_assets_cli(
    project_dir: Path = typer.Argument(..., help="Project directory (holds project.yml)"),
    dests: List[str] = typer.Argument(..., help="asset paths (dest in project.yml) to fetch"),
    base_var: str = typer.Option(..., "--base-var", help="the project var that holds these assets' base URL"),
    base: Optional[str] = typer.Option(None, "--base", help="its value in this run (the workflow passes ${vars.<base_var>})"),
    var: List[str] = typer.Option([], "--var", metavar="NAME=VALUE", help="another project var the URLs use, as this run has it (repeatable)"),
) -> None:
    """Fetch project assets (URL or local mirror), check their md5; on failure say how to get them."""
    if not (project_dir / "project.yml").is_file():
        fail(Errors.E778.format(path=project_dir))
    overrides = {f"vars.{base_var}": base} if base is not None else {}
    for item in var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(Errors.E534.format(value=item))
        overrides[f"vars.{name}"] = value
    assets = project_assets(project_dir, overrides)
    unknown = [dest for dest in dests if dest not in assets]
    if unknown:
        fail(Errors.E511.format(dests=unknown, known=sorted(assets)))
    problems = [problem for problem in (fetch_one(project_dir, assets[dest]) for dest in dests) if problem]
    if problems:
        fail(Errors.E510.format(problems="; ".join(problems), var=base_var))
