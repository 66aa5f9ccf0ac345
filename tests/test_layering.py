"""Imports point one way: down the layers of DESIGN.md (issue 8 §7).

Every module of `spacy_bert` is parsed with `ast` (nothing is imported, so a module that
fails to import is still checked) and every `import` / `from ... import` in it is resolved to
an absolute module name: relative imports (`from ..checkpoint import x`), `from . import
submodule`, and imports inside functions, methods and `if TYPE_CHECKING:` blocks all count.

Where each module sits, highest first (a module may import its own rank or any lower one):

    4  applications: `spacy_bert/__init__.py` (the package root: it re-exports modeling and
       tokenization), `cli.py` (spaCy's CLI), `__main__.py` (`python -m spacy_bert`),
       `corpora/` (data converters used by the CLI and project.yml), `annotate/` (corpus
       annotation at scale: `spacy bert annotate`, local and Ray engines) and `serve/`
       (`spacy bert serve`: a pipeline behind HTTP), `hf_reference.py`
       (Hugging Face's own QA features and NER labels, what the parity tests and benchmarks
       compare spacy_bert with: no layer may build on it). They sit at the top
       because they are entry points that nothing inside the package builds on: no layer
       may import them, and they may import any layer.
    3  pipeline/      spaCy components
    2  layers/        thinc glue
    1  tokenization/  WordPiece
    0  checkpoint/    Hugging Face files
   -1  modeling/      pure PyTorch

plus the *base* modules (`errors.py`, `about.py`, `json_files.py`, `resolve.py`): importable from anywhere,
and importing nothing of the package but each other.

DESIGN.md writes the order as pipeline > layers > tokenization > checkpoint > modeling, so
tokenization may import checkpoint; it does not, though, so that tokenizing does not pull in
torch and safetensors (`_NO_THIRD_PARTY` below holds that and the other third-party rules).

There is no exception: `modeling/` imports nothing of the package above it.
`BertPreTrainedModel.from_pretrained`/`.save_pretrained` run functions that `checkpoint/`
registers when it is imported (`modeling.pretrained.register_checkpoint_io`).

No import cycles either, between modules or inside a layer, counting imports inside functions
as well as module-level ones (`test_no_import_cycles`): a cycle that only a lazy import keeps
working is still a cycle. And the layer table of ARCHITECTURE.md names the same parts in the
same order as `RANKS` (`test_architecture_layer_table_matches_ranks`).
"""
import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

import spacy_bert

PACKAGE = "spacy_bert"
PACKAGE_DIR = Path(spacy_bert.__file__).resolve().parent

APPLICATION_RANK = 4
BASE_RANK = None  # importable from anywhere
RANKS: Dict[str, Optional[int]] = {
    "cli": APPLICATION_RANK,
    "__main__": APPLICATION_RANK,
    "corpora": APPLICATION_RANK,
    "annotate": APPLICATION_RANK,
    "serve": APPLICATION_RANK,
    "hf_reference": APPLICATION_RANK,
    "pipeline": 3,
    "layers": 2,
    "tokenization": 1,
    "checkpoint": 0,
    "modeling": -1,
    "errors": BASE_RANK,
    "about": BASE_RANK,
    "json_files": BASE_RANK,
    "resolve": BASE_RANK,
}

# Third-party packages a part must not import. (part, top-level package, module level only):
# "module level only" allows an import inside a function (a lazy import, paid only when used).
_NO_THIRD_PARTY: List[Tuple[str, str, bool]] = [
    # modeling/ is pure PyTorch, usable without spaCy (DESIGN.md).
    ("modeling", "spacy", False),
    ("modeling", "thinc", False),
    ("checkpoint", "spacy", False),
    ("checkpoint", "thinc", False),
    ("tokenization", "spacy", False),
    ("tokenization", "thinc", False),
    # Tokenizing needs neither torch nor safetensors; torch only lazily for return_tensors="pt".
    ("tokenization", "torch", True),
    ("tokenization", "safetensors", False),
    # Nothing above layers/ touches torch tensors (DESIGN.md): the components go through layers/.
    ("pipeline", "torch", False),
]


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved.

    module: str — the importing module (dotted); target: str — the imported module (dotted,
    absolute); function: Optional[str] — the innermost enclosing function, None at module
    level; line: int.
    """

    module: str
    target: str
    function: Optional[str]
    line: int


def module_name(path: Path, root: Path = PACKAGE_DIR, package: str = PACKAGE) -> str:
    """Dotted name of the module at `path` (a .py file under `root`)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _resolve_relative(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    """The absolute name of `from <level dots><name> import ...` written in `module`."""
    base = module.split(".")
    # In a package's __init__ one dot is the package itself; in a module it is its parent.
    drop = level - 1 if is_package else level
    if drop > len(base) - 1:
        raise ValueError(f"{module}: relative import beyond the top-level package (level {level})")
    base = base[: len(base) - drop]
    return ".".join(base + ([name] if name else []))


def parse_imports(source: str, module: str, is_package: bool, known_modules: Set[str]) -> Iterator[Import]:
    """Every import in `source` (the text of `module`), anywhere in the tree.

    known_modules: the dotted names of the package's modules, so that `from pkg import name`
    counts as importing `pkg.name` when that is a module and `pkg` otherwise.
    """
    tree = ast.parse(source)

    def visit(node: ast.AST, function: Optional[str]) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, function, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    origin = _resolve_relative(module, is_package, child.level, child.module)
                else:
                    origin = child.module or ""
                for alias in child.names:
                    candidate = f"{origin}.{alias.name}"
                    yield Import(module, candidate if candidate in known_modules else origin, function, child.lineno)
            yield from visit(child, inner)

    yield from visit(tree, None)


def package_modules(root: Path = PACKAGE_DIR, package: str = PACKAGE) -> Dict[str, Path]:
    """Dotted name -> path of every .py file of the package."""
    return {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}


def part_of(module: str) -> str:
    """The part (`layers`, `errors`, ...) of a dotted name inside the package; "" for the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank_of(module: str) -> Optional[int]:
    """The rank of a module of the package (None for base modules); the root package is an
    application. An unknown part is an error: a new top-level module must be placed here."""
    part = part_of(module)
    if part == "":
        return APPLICATION_RANK
    if part not in RANKS:
        raise KeyError(
            f"{module}: part {part!r} has no place in tests/test_layering.py RANKS; "
            "add it to a layer (or to the base modules) there."
        )
    return RANKS[part]


def upward_imports(imports: List[Import]) -> List[Import]:
    """Imports of a higher rank than their module's, imports of the package by base modules,
    and imports of applications from a layer."""
    violations = []
    for imp in imports:
        if not (imp.target == PACKAGE or imp.target.startswith(PACKAGE + ".")):
            continue
        source_rank, target_rank = rank_of(imp.module), rank_of(imp.target)
        if target_rank is BASE_RANK:
            continue
        if source_rank is BASE_RANK or target_rank > source_rank:
            violations.append(imp)
    return violations


def import_cycles(imports: List[Import]) -> List[List[str]]:
    """Every set of package modules that import each other in a circle (module-level and
    function-level imports alike), each sorted, as strongly connected components of the graph
    module -> imported module. Importing `a.b` also runs the package `a`, but that implicit step
    is not an edge: a package's `__init__` importing its own submodules is not a cycle."""
    edges: Dict[str, Set[str]] = {}
    for imp in imports:
        if (imp.target == PACKAGE or imp.target.startswith(PACKAGE + ".")) and imp.target != imp.module:
            edges.setdefault(imp.module, set()).add(imp.target)
    # Tarjan's algorithm, iteratively (no recursion limit to meet).
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


def collect_imports(root: Path = PACKAGE_DIR, package: str = PACKAGE) -> List[Import]:
    modules = package_modules(root, package)
    known = set(modules)
    found: List[Import] = []
    for name, path in modules.items():
        found.extend(parse_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known))
    return found


def describe(imp: Import) -> str:
    where = f" in {imp.function}()" if imp.function else ""
    return (
        f"{imp.module} (line {imp.line}{where}, rank {rank_of(imp.module)}) imports {imp.target} "
        f"(rank {rank_of(imp.target)})"
    )


# ---- the package --------------------------------------------------------------------------


def test_every_module_has_a_place():
    for name in package_modules():
        rank_of(name)  # raises for a part that RANKS does not place


def test_no_import_points_up_a_layer():
    violations = upward_imports(collect_imports())
    assert not violations, "Imports that point up a layer (DESIGN.md):\n" + "\n".join(map(describe, violations))


def test_no_import_cycles():
    imports = collect_imports()
    cycles = import_cycles(imports)
    details = []
    for cycle in cycles:
        members = set(cycle)
        details.append(" <-> ".join(cycle))
        details.extend(f"    {describe(imp)}" for imp in imports if imp.module in members and imp.target in members)
    assert not cycles, "Import cycles (break them; a lazy import inside a function still counts):\n" + "\n".join(details)


# Inside `layers/`, one folder (or module) per concept, highest first: a concept may import its
# own folder or any folder below it. `__init__` (the package docstring) imports nothing.
LAYERS_ORDER = ["heads", "training", "encoder", "stages", "shim", "precision", "settings"]


def layers_folder_of(module: str) -> Optional[str]:
    """`stages` for spacy_bert.layers.stages.run, `encoder` for spacy_bert.layers.encoder;
    None outside layers/ and for the layers package itself."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "layers" else None


def upward_layers_imports(imports: List[Import]) -> List[Import]:
    """Imports inside layers/ from a concept to one above it in LAYERS_ORDER."""
    violations = []
    for imp in imports:
        source, target = layers_folder_of(imp.module), layers_folder_of(imp.target)
        if source is None or target is None or source == target:
            continue
        if LAYERS_ORDER.index(target) < LAYERS_ORDER.index(source):
            violations.append(imp)
    return violations


def test_every_layers_module_has_a_concept():
    names = {layers_folder_of(name) for name in package_modules()} - {None}
    assert names == set(LAYERS_ORDER), "place new layers/ folders in LAYERS_ORDER"


def test_layers_concepts_import_down_only():
    violations = upward_layers_imports(collect_imports())
    assert not violations, "layers/ imports that point up LAYERS_ORDER:\n" + "\n".join(map(describe, violations))


def test_layers_order_checker_finds_an_upward_import():
    imports = [
        Import("spacy_bert.layers.stages.run", "spacy_bert.layers.shim.bert_shim", None, 1),
        Import("spacy_bert.layers.shim.bert_shim", "spacy_bert.layers.heads.qa", "f", 2),
        Import("spacy_bert.layers.heads.qa", "spacy_bert.layers.heads.mlm", None, 3),
    ]
    assert upward_layers_imports(imports) == [imports[1]]


ARCHITECTURE = PACKAGE_DIR.parent / "ARCHITECTURE.md"


def layer_table(text: str) -> List[List[str]]:
    """The parts named (in backticks) in the `package` column of each row of the table under
    `## Layers`, top row first; "package root" is the root (`""`)."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header, rule
    parts = []
    for row in rows:
        cell = row.split("|")[2]
        names = [name.rstrip("/").removesuffix(".py") for name in cell.split("`")[1::2]]
        parts.append(names + ([""] if "package root" in cell else []))
    return parts


def test_architecture_layer_table_matches_ranks():
    """ARCHITECTURE.md's layer table lists every part of `RANKS`, once, from the top layer down
    (a row per rank; the base modules last)."""
    table = layer_table(ARCHITECTURE.read_text(encoding="utf-8"))
    named = [part for row in table for part in row]
    assert sorted(named) == sorted([*RANKS, ""]), "ARCHITECTURE.md's layer table and RANKS name different parts"
    ranks = [{APPLICATION_RANK if part == "" else RANKS[part] for part in row} for row in table]
    assert all(len(r) == 1 for r in ranks), f"a row of the layer table mixes ranks: {table}"
    order = [r.pop() for r in ranks]
    assert order[-1] is BASE_RANK and BASE_RANK not in order[:-1], "the base modules are the table's last row"
    assert order[:-1] == sorted(order[:-1], reverse=True) and len(set(order[:-1])) == len(order) - 1, (
        f"layer table rows are not one per rank, top down: {list(zip(order, table))}"
    )


@pytest.mark.parametrize("part,package,module_level_only", _NO_THIRD_PARTY)
def test_third_party_imports(part, package, module_level_only):
    offending = [
        imp
        for imp in collect_imports()
        if part_of(imp.module) == part
        and imp.target.split(".")[0] == package
        and (imp.function is None or not module_level_only)
    ]
    assert not offending, "\n".join(
        f"{imp.module} line {imp.line}: imports {imp.target}" for imp in offending
    )


def test_tokenization_does_not_import_checkpoint():
    """Not forbidden by the order, but tokenizing must not pull in torch and safetensors
    through checkpoint/ (issue 8 §7)."""
    offending = [
        imp
        for imp in collect_imports()
        if part_of(imp.module) == "tokenization" and part_of(imp.target) == "checkpoint"
        and imp.target.startswith(PACKAGE + ".")
    ]
    assert not offending, "\n".join(map(describe, offending))


def module_level_closure(start: str, imports: List[Import]) -> Set[str]:
    """The package modules that importing `start` runs through module-level imports (its own
    submodule chain, not the package root `spacy_bert/__init__.py`, which re-exports modeling)."""
    edges: Dict[str, Set[str]] = {}
    for imp in imports:
        if imp.function is None and imp.target.startswith(PACKAGE + "."):
            edges.setdefault(imp.module, set()).add(imp.target)
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # Importing a.b.c runs a.b's __init__ first.
        parts = name.split(".")
        todo.extend(".".join(parts[:k]) for k in range(2, len(parts)))
        todo.extend(edges.get(name, ()))
    return seen


def test_tokenization_needs_no_torch_or_safetensors():
    """Following module-level imports from every tokenization module reaches no module that
    imports torch or safetensors at module level."""
    imports = collect_imports()
    heavy = {imp.module for imp in imports if imp.function is None and imp.target.split(".")[0] in ("torch", "safetensors")}
    for name in package_modules():
        if part_of(name) == "tokenization":
            reached = module_level_closure(name, imports) & heavy
            assert not reached, f"importing {name} imports torch or safetensors through {sorted(reached)}"


# ---- the checker itself: it must find what it is meant to find ----------------------------


def write_package(root: Path, files: Dict[str, str]) -> Path:
    package_dir = root / PACKAGE
    for rel, text in files.items():
        path = package_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package_dir


def test_checker_finds_relative_function_level_and_submodule_imports(tmp_path):
    package_dir = write_package(
        tmp_path,
        {
            "__init__.py": "from .modeling import x\n",
            "errors.py": "",
            "modeling/__init__.py": "",
            "modeling/bert.py": "def f():\n    if True:\n        from ..layers.encoder import y\n",
            "checkpoint/__init__.py": "from .. import tokenization\n",
            "tokenization/__init__.py": "from ..errors import Errors\nfrom ..checkpoint import files\n",
            "tokenization/wordpiece.py": "import spacy_bert.pipeline.ner as ner\n",
            "layers/__init__.py": "",
            "layers/encoder.py": "from ..cli import app\nfrom . import windows\nfrom ..tokenization import BertTokenizer\n",
            "layers/windows.py": "",
            "pipeline/__init__.py": "",
            "pipeline/ner.py": "from ..layers.encoder import z\nfrom spacy_bert import errors\n",
            "cli.py": "from .pipeline import ner\n",
        },
    )
    imports = collect_imports(package_dir, PACKAGE)
    violations = upward_imports(imports)
    found = sorted((v.module, v.target, v.function) for v in violations)
    assert found == [
        ("spacy_bert.checkpoint", "spacy_bert.tokenization", None),
        ("spacy_bert.layers.encoder", "spacy_bert.cli", None),
        ("spacy_bert.modeling.bert", "spacy_bert.layers.encoder", "f"),
        ("spacy_bert.tokenization.wordpiece", "spacy_bert.pipeline.ner", None),
    ]
    # `from . import windows` in layers/encoder.py is the module layers.windows.
    assert Import("spacy_bert.layers.encoder", "spacy_bert.layers.windows", None, 2) in imports


def test_checker_finds_cycles_at_module_and_function_level(tmp_path):
    package_dir = write_package(
        tmp_path,
        {
            "__init__.py": "from . import modeling\n",
            # a package importing its own submodules, which import each other downwards: no cycle
            "modeling/__init__.py": "from .bert import B\nfrom .config import C\n",
            "modeling/bert.py": "from .config import C\n",
            "modeling/config.py": "",
            # a two-module cycle kept working by a lazy import
            "checkpoint/__init__.py": "",
            "checkpoint/files.py": "from .shards import paths\n",
            "checkpoint/shards.py": "def paths():\n    from .files import read\n",
            # a three-module cycle through a package __init__
            "layers/__init__.py": "from .a import x\n",
            "layers/a.py": "from .b import y\n",
            "layers/b.py": "from spacy_bert.layers import x\n",
        },
    )
    assert import_cycles(collect_imports(package_dir, PACKAGE)) == [
        ["spacy_bert.checkpoint.files", "spacy_bert.checkpoint.shards"],
        ["spacy_bert.layers", "spacy_bert.layers.a", "spacy_bert.layers.b"],
    ]


def test_layer_table_parser():
    text = (
        "# x\n\n## Layers (down)\n\n| layer | package | job |\n|---|---|---|\n"
        "| apps | `cli/`, `__main__.py`, package root | j |\n| model | `modeling/` | torch |\n"
        "| base | `errors.py` | codes `[E1]` |\n\n## Next\n| a | `b/` | c |\n"
    )
    assert layer_table(text) == [["cli", "__main__", ""], ["modeling"], ["errors"]]


def test_base_modules_import_nothing_above_them(tmp_path):
    package_dir = write_package(
        tmp_path,
        {"__init__.py": "", "about.py": "", "errors.py": "from .about import v\nfrom .modeling import x\n", "modeling/__init__.py": ""},
    )
    violations = upward_imports(collect_imports(package_dir, PACKAGE))
    assert [(v.module, v.target) for v in violations] == [("spacy_bert.errors", "spacy_bert.modeling")]


def test_unplaced_part_is_an_error(tmp_path):
    package_dir = write_package(tmp_path, {"__init__.py": "", "utils.py": ""})
    with pytest.raises(KeyError, match="utils"):
        for name in package_modules(package_dir, PACKAGE):
            rank_of(name)
