"""The command line starts fast (issue 12 point 2): it imports nothing heavy before its first
request. Checked by what the real process imports (``python -X importtime``), not by timing,
which a busy machine would make flaky; bench/cli_startup.py measures the milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent / "main.py"

# Libraries the window or the worker need, never a command before it has asked the worker.
HEAVY = (
    "requests",
    "urllib3",
    "http.client",
    "ssl",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "PySide6",
    "huey",
    "sqlite_utils",
    "sqlite3",
    "watchdog",
    "keyring",
    "multiprocessing",
    # the transports themselves (the CLI reads only the protocols' names)
    "upqueue.core.transports.base",
    "upqueue.core.filereader",
    # ~15 ms together: logged only on a failure or a worker start, a data directory found
    # without platformdirs on Linux, records and settings (dataclasses) read after the request
    "logging",
    "platformdirs",
    "dataclasses",
)


def imported(*args: str, home: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``main.py ARGS`` imported, read from -X importtime's report."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(MAIN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, UPQUEUE_HOME=str(home)),
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return modules, result


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_help_and_a_command_against_the_worker_import_nothing_heavy(worker, tus_server, tmp_path):
    api = worker.api
    api.add_target(name="srv", url=tus_server.url)
    for args in (["--help"], ["add", "--help"], ["ls"], ["status"], ["target", "ls"]):
        modules, result = imported(*args, home=worker.home)
        assert result.returncode == 0, (args, result.stdout, result.stderr[-2000:])
        assert "upqueue.core.api_client" in modules or "--help" in args
        assert heavy_in(modules) == [], args


def test_the_data_directory_is_platformdirs_one_without_importing_it(tmp_path, monkeypatch):
    """core.paths writes out platformdirs' Linux rule (XDG_DATA_HOME, else ~/.local/share)."""
    import platformdirs
    from upqueue.core import paths

    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in (str(tmp_path / "xdg"), "", "   "):
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
        expected = Path(platformdirs.user_data_dir(paths.APP_NAME))
        assert paths.data_dir() == expected, xdg
        assert expected.is_dir()
    monkeypatch.delenv("XDG_DATA_HOME")
    assert paths.data_dir() == Path(platformdirs.user_data_dir(paths.APP_NAME))


def test_each_command_is_parsed_with_its_own_module_alone(tmp_path):
    """A command's parser holds its module's commands only (the others are not imported), and
    every command of the full parser is found that way; `upqueue --help` still lists them all."""
    import argparse

    from upqueue.core import cli

    def choices(parser: argparse.ArgumentParser) -> set[str]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(action.choices)

    everything = choices(cli.build_parser())
    assert everything == set(cli.COMMAND_MODULES) | set(cli.BUILT_IN)
    for command in everything:
        assert command in choices(cli.build_parser(command)), command
    assert cli.command_of(["--debug", "add", "x"]) == "add"
    assert cli.command_of(["--help"]) is None and cli.command_of([]) is None
    modules, result = imported("ls", home=tmp_path)
    assert "upqueue.core.cli_uploads" in modules
    assert "upqueue.core.cli_targets" not in modules and "upqueue.core.cli_watch" not in modules
    modules, result = imported("--help", home=tmp_path)
    assert result.returncode == 0 and "watch" in result.stdout and "target" in result.stdout
