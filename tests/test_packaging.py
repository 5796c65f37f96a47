"""Cheap checks of the packaging, without building: build.spec, resources/ and the service units.

build.spec is run with stand-ins for PyInstaller's classes, so these tests see exactly what the
spec asks PyInstaller for (script, hidden imports, data, excludes) on this platform. The frozen
program itself is checked by ``tools/build_check.py``, which builds and runs it.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from upqueue.core.models import Status

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build.spec"
RESOURCES = ROOT / "resources"
SOURCE_DIRS = ("core", "worker", "gui")
ICON_LOADER = Path("gui/icons.py")  # builds paths from names; its callers are checked instead


class _Recorder:
    """Stands in for Analysis/PYZ/EXE/COLLECT and keeps the arguments it was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.datas: list[tuple[str, str, str]] = []
        self.pure = self.scripts = self.binaries = ()


def _run_spec() -> dict[str, Any]:
    recorded: dict[str, Any] = {"metadata": []}

    def record(kind: str) -> type[_Recorder]:
        return type(
            kind,
            (_Recorder,),
            {
                "__init__": lambda self, *a, **k: (
                    _Recorder.__init__(self, *a, **k),
                    recorded.__setitem__(kind, self),
                )[0]
            },
        )

    def copy_metadata(name: str) -> list[tuple[str, str]]:
        recorded["metadata"].append(name)
        return []

    def collect_data_files(package: str) -> list[tuple[str, str]]:
        recorded.setdefault("package_data", []).append(package)
        return []

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.copy_metadata = copy_metadata  # type: ignore[attr-defined]
    hooks.collect_data_files = collect_data_files  # type: ignore[attr-defined]
    fakes = {
        "PyInstaller": types.ModuleType("PyInstaller"),
        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
        "PyInstaller.utils.hooks": hooks,
    }
    namespace = {
        "__name__": "__main__",
        "__file__": str(SPEC),
        "SPECPATH": str(ROOT),
        **{kind: record(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT")},
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, module in fakes.items():
            patch.setitem(sys.modules, name, module)
        code = compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")
        exec(code, namespace)  # noqa: S102 - running the spec is what PyInstaller does too
    recorded["namespace"] = namespace
    return recorded


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return _run_spec()


def _sources() -> list[Path]:
    files = [ROOT / "main.py"]
    for package in SOURCE_DIRS:
        files += sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else None
    )


# -- build.spec ---------------------------------------------------------------------------------
def test_spec_is_python_that_builds_main_py_into_one_folder(spec: dict[str, Any]) -> None:
    ast.parse(SPEC.read_text(encoding="utf-8"))
    scripts = spec["Analysis"].args[0]
    assert [Path(s).resolve() for s in scripts] == [(ROOT / "main.py").resolve()]
    # One folder: the executable leaves the libraries to COLLECT, which names the folder.
    assert spec["EXE"].kwargs["exclude_binaries"] is True
    assert spec["EXE"].kwargs["name"] == "upqueue"
    assert spec["COLLECT"].kwargs["name"] == "upqueue"
    assert spec["EXE"].kwargs["console"] is True, "the CLI needs a console to print to"


def test_every_hidden_import_is_importable(spec: dict[str, Any]) -> None:
    hidden = spec["Analysis"].kwargs["hiddenimports"]
    assert hidden
    failures = []
    for name in hidden:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure means the build would lack it
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    assert not failures, "hidden imports that do not import here:\n" + "\n".join(failures)


def test_every_first_party_module_and_the_worker_tasks_are_hidden_imports(
    spec: dict[str, Any],
) -> None:
    hidden = set(spec["Analysis"].kwargs["hiddenimports"])
    # Huey finds tasks by import; uvicorn serves the API from worker.api.
    assert {"upqueue.worker.tasks", "upqueue.worker.runtime", "upqueue.worker.api"} <= hidden
    for path in _sources()[1:]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(("upqueue", *(parts[:-1] if parts[-1] == "__init__" else parts)))
        assert module in hidden, f"{module} ({path.relative_to(ROOT)}) is missing from the build"


def test_modules_imported_by_name_are_hidden_imports(spec: dict[str, Any]) -> None:
    """importlib.import_module("x") and uvicorn's "module:attr" strings escape PyInstaller."""
    hidden = set(spec["Analysis"].kwargs["hiddenimports"])
    by_name = set()
    for path in _sources():
        for node in ast.walk(_parse(path)):
            if (
                isinstance(node, ast.Call)
                and _call_name(node) in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                by_name.add(node.args[0].value)
    missing = {m for m in by_name if importlib.util.find_spec(m) is not None} - hidden
    assert not missing, f"imported by name but not hidden imports: {sorted(missing)}"

    # The uvicorn classes worker/api.py's Config will load, from its literal keyword arguments.
    import uvicorn.config as uc

    options = {"loop": "auto", "http": "auto", "lifespan": "auto"}
    for node in ast.walk(_parse(ROOT / "worker" / "api.py")):
        if isinstance(node, ast.Call) and _call_name(node) == "Config":
            options.update(
                {
                    k.arg: k.value.value
                    for k in node.keywords
                    if k.arg in options and isinstance(k.value, ast.Constant)
                }
            )
    targets = [
        uc.LOOP_FACTORIES[options["loop"]],
        uc.HTTP_PROTOCOLS[options["http"]],
        uc.LIFESPAN[options["lifespan"]],
    ]
    modules = {t.split(":")[0] for t in targets if t}
    assert modules <= hidden, f"uvicorn loads these by name: {sorted(modules - hidden)}"


def test_keyring_backends_travel_with_the_build(spec: dict[str, Any]) -> None:
    hidden = set(spec["Analysis"].kwargs["hiddenimports"])
    # The file backend the tests and headless users name in PYTHON_KEYRING_BACKEND.
    assert "keyrings.alt.file" in hidden
    # keyring discovers backends by entry points, which live in the distributions' metadata.
    assert {"keyring", "keyrings.alt"} <= set(spec["metadata"])
    for name in spec["metadata"]:
        importlib.metadata.distribution(name)  # raises PackageNotFoundError when not installed


def test_resources_are_bundled_where_resource_path_looks(spec: dict[str, Any]) -> None:
    datas = spec["Analysis"].kwargs["datas"]
    assert (str(RESOURCES), "resources") in datas
    from upqueue.core.paths import resource_path

    # From a bundle, resource_path looks under sys._MEIPASS/resources.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "_MEIPASS", "/bundle", raising=False)
        assert resource_path("icons", "x.svg") == Path("/bundle/resources/icons/x.svg")


def test_excluded_modules_are_not_imported_by_upqueue(spec: dict[str, Any]) -> None:
    excludes = spec["Analysis"].kwargs["excludes"]
    hidden = spec["Analysis"].kwargs["hiddenimports"]

    def excluded(module: str) -> bool:
        return any(module == e or module.startswith(e + ".") for e in excludes)

    assert not [m for m in hidden if excluded(m)], "a module is both hidden and excluded"
    offenders = []
    for path in _sources():
        for node in ast.walk(_parse(path)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if excluded(n)
            ]
    assert not offenders, "build.spec excludes modules upqueue uses:\n" + "\n".join(offenders)
    if any("translations" in prefix for prefix in spec["namespace"]["DROP_DATA_UNDER"]):
        users = [p for p in _sources() if "QTranslator" in p.read_text(encoding="utf-8")]
        assert not users, f"Qt's translations are dropped from the build but {users} load them"


def test_the_frozen_executable_runs_the_worker_with_its_worker_argument() -> None:
    from upqueue.core.api_client import worker_command
    from upqueue.core.cli import build_parser, cmd_worker

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "frozen", True, raising=False)
        assert worker_command() == [sys.executable, "worker"]
    assert build_parser().parse_args(["worker"]).func is cmd_worker


# -- resources the code refers to ---------------------------------------------------------------
def _constants(tree: ast.Module) -> dict[str, Any]:
    values = {}
    for node in tree.body:
        target = (
            node.targets[0]
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            else (node.target if isinstance(node, ast.AnnAssign) else None)
        )
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            try:
                values[target.id] = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except ValueError:
                pass
    return values


def _literals(node: ast.expr) -> Any:
    """A literal's value; in a tuple, the literal elements (others become None: callbacks...)."""
    if isinstance(node, ast.Tuple):
        return tuple(e.value if isinstance(e, ast.Constant) else None for e in node.elts)
    return node.value if isinstance(node, ast.Constant) else None


def _bindings(
    var: str,
    call: ast.Call,
    tree: ast.Module,
    parents: dict[ast.AST, ast.AST],
    constants: dict[str, Any],
) -> list[dict[str, Any]] | None:
    """The values ``var`` takes at ``call``, as rows of the names bound together with it."""
    scope: ast.AST = call
    while scope in parents and not isinstance(scope, ast.FunctionDef):
        scope = parents[scope]
    for node in ast.walk(scope):
        target = (
            getattr(node, "target", None)
            if isinstance(node, ast.For)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        names = (
            [t.id for t in target.elts if isinstance(t, ast.Name)]
            if isinstance(target, ast.Tuple)
            else [target.id]
            if isinstance(target, ast.Name)
            else []
        )
        if var not in names:
            continue
        source = node.iter if isinstance(node, ast.For) else node.value  # type: ignore[union-attr]
        if isinstance(node, ast.Assign) and isinstance(source, ast.Subscript):
            table = constants.get(getattr(source.value, "id", ""))
            rows = list(table.values()) if isinstance(table, dict) else None
        elif isinstance(node, ast.For) and isinstance(source, (ast.Tuple, ast.List)):
            rows = [_literals(e) for e in source.elts]  # a table written in the loop itself
        else:
            table = constants.get(getattr(source, "id", ""))
            rows = (
                list(table)
                if isinstance(node, ast.For) and isinstance(table, (list, tuple))
                else None
            )
        if rows is not None:
            return [dict(zip(names, row)) if len(names) > 1 else {var: row} for row in rows]
    if isinstance(scope, ast.FunctionDef):  # a parameter: take the literals its callers pass
        params = [a.arg for a in scope.args.args]
        if var in params:
            rows = []
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _call_name(node) == scope.name:
                    offset = (
                        1 if params[0] == "self" and isinstance(node.func, ast.Attribute) else 0
                    )
                    args = {params[i + offset]: a for i, a in enumerate(node.args)}
                    args.update({k.arg: k.value for k in node.keywords if k.arg})
                    if not isinstance(args.get(var), ast.Constant):
                        return None
                    rows.append({var: args[var].value})  # type: ignore[union-attr]
            return rows or None
    return None


def _guarded(
    rows: list[dict[str, Any]], call: ast.Call, parents: dict[ast.AST, ast.AST]
) -> list[dict[str, Any]]:
    """Keep the rows an ``a if kind == "x" else b`` around the call lets through."""
    child, node = call, parents.get(call)
    while node is not None and not isinstance(node, ast.stmt):
        test = getattr(node, "test", None)
        if (
            isinstance(node, ast.IfExp)
            and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and isinstance(test.ops[0], (ast.Eq, ast.NotEq))
            and isinstance(test.comparators[0], ast.Constant)
        ):
            want = (child is node.body) == isinstance(test.ops[0], ast.Eq)
            key, value = test.left.id, test.comparators[0].value
            rows = [r for r in rows if key not in r or (r[key] == value) == want]
        child, node = node, parents.get(node)
    return rows


def _referenced_resources() -> tuple[set[Path], list[str]]:
    """Files under resources/ that gui and core ask for, and the calls that could not be read."""
    wanted: set[Path] = {RESOURCES / "upqueue.svg"}  # the desktop entry's Icon=upqueue
    unresolved: list[str] = []
    for path in _sources():
        tree = _parse(path)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        constants = _constants(tree)
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name, where = _call_name(call), f"{path.relative_to(ROOT)}:{call.lineno}"
            if name == "resource_path":
                if all(isinstance(a, ast.Constant) for a in call.args):
                    wanted.add(RESOURCES.joinpath(*(a.value for a in call.args)))  # type: ignore[attr-defined]
                elif path.relative_to(ROOT) != ICON_LOADER:
                    unresolved.append(where)
            elif name in ("icon", "status_icon") and call.args:
                pattern = "icons/{}.svg" if name == "icon" else "icons/status-{}.svg"
                arg = call.args[0]
                rows = (
                    _bindings(arg.id, call, tree, parents, constants)
                    if isinstance(arg, ast.Name)
                    else None
                )
                if isinstance(arg, ast.Constant):
                    values = {arg.value}
                elif rows is not None:
                    values = {r[arg.id] for r in _guarded(rows, call, parents)}
                elif name == "status_icon":
                    values = {s.value for s in Status}  # e.g. row.status: any status
                else:
                    unresolved.append(where)
                    continue
                wanted |= {RESOURCES / pattern.format(v) for v in values}
    return wanted, unresolved


def test_every_resource_the_code_refers_to_exists() -> None:
    wanted, unresolved = _referenced_resources()
    assert not unresolved, (
        "icon()/status_icon()/resource_path() calls whose file names these checks cannot read "
        "(use a literal, or a name from a module-level table or a literal parameter):\n"
        + "\n".join(unresolved)
    )
    # Sanity: the scan found the window's icons, not just the app icon.
    assert RESOURCES / "icons" / "pause.svg" in wanted
    assert {RESOURCES / f"icons/status-{s.value}.svg" for s in Status} <= wanted
    missing = sorted(str(p.relative_to(ROOT)) for p in wanted if not p.is_file())
    assert not missing, f"referenced but missing: {missing}"


# -- service units ------------------------------------------------------------------------------
def _ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(
        strict=True, delimiters=("=",), comment_prefixes=("#", ";")
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def test_systemd_user_unit_runs_the_worker() -> None:
    unit = _ini(RESOURCES / "upqueue.service")
    executable, *args = unit["Service"]["ExecStart"].split()
    assert (Path(executable).name, args) == ("upqueue", ["worker"])
    assert unit["Service"]["KillSignal"] == "SIGINT"  # the worker's graceful stop
    assert unit["Service"]["Restart"] == "on-failure"  # `upqueue stop` exits 0 and stays stopped
    assert unit["Install"]["WantedBy"] == "default.target"  # a user unit, not multi-user


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's keys were not verified")
    stub = tmp_path / "upqueue"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    text = (RESOURCES / "upqueue.service").read_text(encoding="utf-8")
    unit = tmp_path / "upqueue.service"
    unit.write_text(text.replace("%h/.local/bin/upqueue", str(stub)))  # verify wants it to exist
    result = subprocess.run(
        [analyze, "verify", str(unit)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr


SUPERVISOR_PROGRAM_KEYS = {
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
}


def test_supervisord_program_runs_the_worker() -> None:
    conf = _ini(RESOURCES / "upqueue-worker.supervisord.conf")
    assert conf.sections() == ["program:upqueue-worker"]
    program = conf["program:upqueue-worker"]
    assert set(program) <= SUPERVISOR_PROGRAM_KEYS, set(program) - SUPERVISOR_PROGRAM_KEYS
    executable, *args = program["command"].split()
    assert (Path(executable).name, args) == ("upqueue", ["worker"])
    assert program["stopsignal"] == "INT"
    assert (program["autorestart"], program["exitcodes"]) == ("unexpected", "0")
    assert program["numprocs"] == "1"  # one worker per data directory


def test_the_api_docs_assets_travel_with_the_build(spec: dict[str, Any]) -> None:
    """/docs serves Swagger UI from fastapi-offline's files (no CDN): the bundle needs them."""
    assert "fastapi_offline" in spec["package_data"]
    assert "fastapi_offline" in spec["Analysis"].kwargs["hiddenimports"]


# -- the installed package ----------------------------------------------------------------------
def test_pyproject_lists_every_first_party_package() -> None:
    """pyproject names upqueue's packages one by one (the checkout's root is the package), so a
    new folder of modules must be added there, or an installed upqueue would lack it."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"upqueue"} | {
        ".".join(("upqueue", *init.parent.relative_to(ROOT).parts))
        for package in SOURCE_DIRS
        for init in (ROOT / package).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert listed == found


@pytest.mark.slow
def test_pip_install_puts_only_upqueue_into_site_packages(tmp_path: Path) -> None:
    """A plain ``pip install .`` into a fresh venv: one top-level name, ``upqueue``, and both
    ``upqueue --help`` and ``python -m upqueue --help`` work from it."""
    import venv

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    site = next((env_dir / "lib").glob("python*/site-packages"))
    top_level = sorted(next(site.glob("upqueue-*.dist-info")).joinpath("top_level.txt").read_text().split())
    assert top_level == ["upqueue"]
    assert not {"core", "worker", "gui", "main.py"} & {p.name for p in site.iterdir()}
    assert (site / "upqueue" / "resources" / "icons" / "pause.svg").is_file()
    # The dependencies come from this checkout's environment: the test is about the layout.
    deps = Path(sys.prefix).joinpath("lib").glob("python*/site-packages")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(d) for d in deps))
    for command in ([str(env_dir / "bin" / "upqueue"), "--help"], [str(py), "-m", "upqueue", "--help"]):
        run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                             env=env, cwd=tmp_path)
        assert run.returncode == 0, (command, run.stderr[-2000:])
        assert "target" in run.stdout and "worker" in run.stdout
