"""Imports point one way: gui -> core, worker -> core. core imports neither Qt nor Huey, the
worker never imports Qt, and the window never imports the worker (it talks to its API)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "core": ("PySide6", "shiboken6", "huey", "gui", "worker", "watchdog", "fastapi", "uvicorn"),
    "worker": ("PySide6", "shiboken6", "gui"),
    "gui": ("worker", "huey", "watchdog", "fastapi", "uvicorn"),
}


PACKAGE = "upqueue."  # the repo's folders install as upqueue.core, upqueue.worker, upqueue.gui


def raw_imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, as written."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def imported_modules(path: Path) -> set[str]:
    """What ``path`` imports, first-party modules named by their folder (``gui.app``)."""
    return {name.removeprefix(PACKAGE) for name in raw_imports(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    offenders = []
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, (
        "import first-party modules as upqueue.* (from upqueue.core.x import y; module names in"
        " strings too, e.g. importlib.import_module('upqueue.worker.api')):\n" + "\n".join(offenders)
    )


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom PySide6.QtCore import QObject\nif True:\n    import huey\n")
    assert {"PySide6.QtCore", "huey", "os"} <= imported_modules(sample)


def _gui_import_graph() -> dict[str, set[str]]:
    """gui module -> the gui modules it imports, counting imports under TYPE_CHECKING too."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "gui").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {m for m in imported_modules(path) if m.split(".")[0] == "gui"}
    return graph


def test_no_import_circle_in_gui():
    """The window's controller and dialog host get what they use in their constructors: no
    module under gui/ but the app that builds the window imports gui.main_window, and no import
    chain comes back to where it began."""
    graph = _gui_import_graph()
    importers = sorted(
        name for name, deps in graph.items() if "gui.main_window" in deps and name != "gui.app"
    )
    assert importers == [], f"{importers} import gui.main_window"
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for dep in graph.get(node, ()):
            if dep in trail:
                cycles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif len(trail) < 12:
                visit(dep, trail + [dep])

    for start in graph:
        visit(start, [start])
    assert not cycles, cycles[0]


def test_first_party_imports_go_through_the_one_package_name():
    """Nothing imports ``core``, ``worker``, ``gui`` or ``main`` as top-level modules: installed,
    they exist only as ``upqueue.*`` (a bare ``core`` would collide with any other package so
    named, and from a checkout it would load a second copy of every module)."""
    files = [ROOT / "main.py", ROOT / "__main__.py", *sorted(ROOT.glob("[cwgtb]*/**/*.py"))]
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        if ".venv" not in path.parts and "node_modules" not in path.parts
        for module in raw_imports(path)
        if module.split(".")[0] in ("core", "worker", "gui", "main")
    ]
    assert not offenders, (
        "import first-party modules as upqueue.* (from upqueue.core.x import y; module names in"
        " strings too, e.g. importlib.import_module('upqueue.worker.api')):\n" + "\n".join(offenders)
    )
