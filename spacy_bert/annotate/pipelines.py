"""The pipeline of `spacy bert annotate`: where it is, its fingerprint, and loading it once per process."""
import hashlib
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..errors import Errors

PRECISION_CHOICES = ("float32", "int8", "bfloat16", "auto")

_LOADED: Dict[Tuple[str, Optional[str]], Any] = {}


def pipeline_directory(pipeline: str) -> Path:
    """The directory holding the pipeline's config.cfg: `pipeline` itself, or the data directory
    of an installed pipeline package (E710 when it is neither)."""
    path = Path(pipeline)
    if (path / "config.cfg").is_file():
        return path.resolve()
    import spacy.util

    if not path.exists() and spacy.util.is_package(pipeline):
        package = spacy.util.get_package_path(pipeline)
        # `spacy package` puts the pipeline in <package>/<name>-<version>/
        for candidate in [package, *sorted(package.iterdir())]:
            if candidate.is_dir() and (candidate / "config.cfg").is_file():
                return candidate.resolve()
    raise ValueError(Errors.E710.format(pipeline=pipeline))


def fingerprint(pipeline: str) -> Dict[str, str]:
    """Name, version and a sha256 of meta.json + config.cfg: what a shard's manifest records, so a
    re-run with another pipeline (or another version of it) redoes the shards."""
    directory = pipeline_directory(pipeline)
    digest = hashlib.sha256()
    meta: Dict[str, Any] = {}
    for name in ("meta.json", "config.cfg"):
        file = directory / name
        data = file.read_bytes() if file.is_file() else b""
        digest.update(name.encode() + b"\0" + data + b"\0")
        if name == "meta.json" and data:
            import json

            meta = json.loads(data)
    return {
        "name": f"{meta.get('lang', '')}_{meta.get('name', '')}" if meta else directory.name,
        "version": str(meta.get("version", "")),
        "checksum": digest.hexdigest(),
    }


def load_pipeline(pipeline: str, precision: Optional[str] = None) -> Any:
    """`spacy.load(pipeline)` once per process (workers and actors keep it between shards), with
    `precision` applied by `spacy_bert.pipeline.set_precision` when given."""
    key = (pipeline, precision)
    if key not in _LOADED:
        import spacy

        from ..pipeline import set_precision

        path = Path(pipeline)
        nlp = spacy.load(path if path.exists() else pipeline)
        if precision is not None:
            set_precision(nlp, precision)
        _LOADED.clear()  # one pipeline per process: a worker never holds two models
        _LOADED[key] = nlp
    return _LOADED[key]


def check_precision(precision: Optional[str]) -> None:
    """E706 for a --precision that is not one of PRECISION_CHOICES (None: keep the saved one)."""
    if precision is not None and precision not in PRECISION_CHOICES:
        raise ValueError(Errors.E706.format(option="--precision", value=precision, expected=" | ".join(PRECISION_CHOICES)))
