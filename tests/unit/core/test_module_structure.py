"""The structure issue 11 asks for: no import cycles in ``include/``, and no branch on a request
kind's name outside the kinds (``include/request_kinds.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
INCLUDE = REPO / "include"
KIND_NAMES = frozenset({"output", "ingest", "transfer"})
KINDS_MODULE = "include/request_kinds.py"
# Modules allowed to keep a kind branch for now (none left); an entry must still be true, so
# the set only ever shrinks.
LEFT_TO_THEIR_OWNERS: frozenset[str] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in INCLUDE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _side_effect_only(node: ast.AST, lines: list[str]) -> bool:
    """An import inside a function made only for its side effects, and saying so (``# noqa:
    F401``: nothing of it is used), e.g. table modules imported so ``create_all`` knows them."""
    return "noqa: F401" in lines[node.lineno - 1]


def _imports(source: str) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs: at module level and inside functions (a lazy import is still a
    dependency). Left out: ``if TYPE_CHECKING:`` blocks, which never run, and an in-function
    import marked as made only for its side effects."""
    lines = source.splitlines()
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            is_import = isinstance(child, ast.Import | ast.ImportFrom)
            if is_import and not (in_function and _side_effect_only(child, lines)):
                found.append(child)
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the ``include`` modules it imports (``from include.x import y`` names
    include.x, and include.x.y too when y is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(path.read_text()):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones():
    graph = import_graph()
    # request_kinds imports these only inside its methods (DAG parsing stays light) ...
    assert {"include.request_forms", "include.release", "include.placement"} <= graph[
        "include.request_kinds"
    ]
    # ... and include.tickets only for type hints.
    assert "include.tickets" not in graph["include.request_kinds"]


def test_include_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in include/: " + " → ".join(cycle or [])


def _kind_like(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return isinstance(name, str) and name.endswith("kind")


def _kind_names(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in KIND_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_kind_names(e) for e in node.elts)
    return False


def kind_branches(path: Path) -> list[str]:
    """Comparisons of a kind with a kind's name (``kind == "output"``, ``t.kind in ("ingest",
    …)``) and tables keyed by kinds' names, in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_kind_like(o) for o in operands) and any(_kind_names(o) for o in operands):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if len(keys & KIND_NAMES) >= 2:
                found.append(f"line {node.lineno}: a table keyed by request kinds")
    return found


def test_the_branch_finder_finds_branches(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        'if ticket.kind == "output": pass\n'
        'if kind in ("ingest", "transfer"): pass\n'
        'DAGS = {"output": "a", "ingest": "b"}\n'
        'if role == "output": pass\n'  # a file's role, not a request kind
        'if kind == "full": pass\n'
    )
    assert [b.split(":")[0] for b in kind_branches(probe)] == ["line 1", "line 2", "line 3"]


def test_no_kind_branches_outside_the_kinds():
    sources = [
        *INCLUDE.rglob("*.py"),
        *(REPO / "plugins").rglob("*.py"),
        *(REPO / "dags").glob("*.py"),
    ]
    found = {}
    for path in sources:
        rel = path.relative_to(REPO).as_posix()
        if rel != KINDS_MODULE and (branches := kind_branches(path)):
            found[rel] = branches
    unexpected = {f: b for f, b in found.items() if f not in LEFT_TO_THEIR_OWNERS}
    assert unexpected == {}, f"branches on a request kind outside {KINDS_MODULE}: {unexpected}"
    assert set(found) == LEFT_TO_THEIR_OWNERS, (
        f"no kind branch left in {sorted(LEFT_TO_THEIR_OWNERS - set(found))}: "
        "drop it from LEFT_TO_THEIR_OWNERS"
    )
