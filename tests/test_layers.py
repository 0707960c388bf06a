"""The layers DESIGN.md draws, pinned: every module's imports (function-level ones too) walked with
``ast``.

* Dagster is imported only under ``pipelines/`` and ``cli/``; graphene, starlette and uvicorn only
  under ``registry/api/`` and ``cli/``;
* ``registry/`` imports neither ``pipelines`` nor ``cli``; ``lineage/``, ``expectations/`` and
  ``ingest/`` import no orchestration (``pipelines``, Dagster) and no API code (``registry.api``,
  graphene);
* no import cycle between modules, function-level imports counted (deferring an import hides a
  cycle; it does not break it);
* no module imports another module's ``_private`` name.

The checker is tried on a small fixture tree with one violation of each kind, so a rule that stops
seeing its violation fails here too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("registry", "lineage", "expectations", "ingest", "pipelines", "cli", "govreg", "examples")

ORCHESTRATION = ("dagster", "dagster_", "pipelines")
API = ("graphene", "starlette", "uvicorn", "registry.api")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (``from a.b import c``: ``a.b``)
    names: tuple[str, ...]  # the names taken from it (``from a import _x``)
    line: int
    runs: bool  # not under ``if TYPE_CHECKING:`` (which never runs)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> Iterator[Import]:
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    checking: set[int] = set()  # ``if TYPE_CHECKING:`` blocks never run
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checking |= {id(n) for child in node.body for n in ast.walk(child)}
    for node in ast.walk(tree):
        top = id(node) not in checking
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno, top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(name, base, tuple(a.name for a in node.names), node.lineno, top)


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else ():
            if "migrations" in path.parts:
                continue  # alembic's scripts, loaded by alembic
            out[module_name(path, root)] = path
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p if p.endswith("_") else p + ".") for p in prefixes)


def violations(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    found = modules(root, packages)
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        where = path.relative_to(root)
        top = name.split(".")[0]
        for imp in imports(path, root):
            target = imp.target
            if _under(target, ("dagster", "dagster_")) and top not in ("pipelines", "cli"):
                problems.append(f"{where}:{imp.line}: imports Dagster ({target}) outside pipelines/ and cli/")
            if _under(target, ("graphene", "starlette", "uvicorn")) and not (
                name.startswith("registry.api") or top == "cli"
            ):
                problems.append(f"{where}:{imp.line}: imports {target} outside registry/api/ and cli/")
            if top == "registry" and _under(target, ("pipelines", "cli")):
                problems.append(f"{where}:{imp.line}: registry/ imports {target}")
            if top in ("lineage", "expectations", "ingest") and (
                _under(target, ORCHESTRATION) or _under(target, API)
            ):
                problems.append(f"{where}:{imp.line}: {top}/ imports {target}")
            for taken in imp.names:
                if taken.startswith("_") and not taken.startswith("__") and target != name:
                    problems.append(f"{where}:{imp.line}: imports the private {target}.{taken}")
            if imp.runs:  # function-level imports too: deferring an import hides a cycle, not breaks it
                # ``from pkg import module`` depends on that module; ``from pkg import name`` on pkg
                submodules = [f"{target}.{n}" for n in imp.names if f"{target}.{n}" in found]
                for candidate in submodules or [target]:
                    if candidate in found and candidate != name:
                        graph[name].add(candidate)
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append([*sorted(component), sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_layers_hold() -> None:
    problems = violations(ROOT)
    assert not problems, "\n".join(problems)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_each_kind_of_violation_is_seen(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "registry/__init__.py": "",
            "registry/a.py": "from registry import b\n",
            "registry/b.py": "from registry.a import thing\n",  # a cycle
            "registry/c.py": "def f():\n    from pipelines import x\n",  # registry reaching up
            "registry/d.py": "import dagster\n",  # Dagster outside pipelines
            "registry/e.py": "from registry.a import _helper\n",  # a private name
            "lineage/__init__.py": "",
            "lineage/f.py": "import graphene\n",  # API code in lineage
            "ingest/__init__.py": "",
            "ingest/g.py": "from pipelines.x import run\n",  # the data path reaching up to orchestration
            "pipelines/__init__.py": "",
            "pipelines/x.py": "import dagster\nfrom typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import cli\n",
            "cli/__init__.py": "import dagster, graphene\nfrom registry import a\n",  # allowed
        },
    )
    found = violations(tmp_path, ("registry", "lineage", "ingest", "pipelines", "cli"))
    text = "\n".join(found)
    assert "import cycle: registry.a -> registry.b -> registry.a" in text
    assert "registry/c.py:2: registry/ imports pipelines" in text
    assert "registry/d.py:1: imports Dagster" in text
    assert "registry/e.py:1: imports the private registry.a._helper" in text
    assert "lineage/f.py:1: imports graphene outside registry/api/ and cli/" in text
    assert "lineage/f.py:1: lineage/ imports graphene" in text
    assert "ingest/g.py:1: ingest/ imports pipelines.x" in text
    assert not any(line.startswith(("pipelines/", "cli/")) for line in found), found
    assert len(found) == 7, found


def test_tests_mirror_the_packages_and_import_no_other_test_module() -> None:
    """Test modules live under the package they test (``tests/registry/``, ``tests/lineage/``, ...,
    plus ``tests/attacks/`` by promise) and share helpers through ``tests/support`` and fixtures
    through the ``conftest.py`` of their level, never by importing another test module."""
    tests = ROOT / "tests"
    offenders = []
    for path in tests.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith(("test_", "conftest")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}")
    assert not offenders, "\n".join(offenders)
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert loose == ["test_docs.py", "test_layers.py"], loose  # repository-wide checks only
    for package in ("registry", "lineage", "ingest", "expectations", "pipelines", "cli", "examples", "bench"):
        folder = tests / package
        assert (folder / "conftest.py").is_file() and any(folder.glob("test_*.py")), package
