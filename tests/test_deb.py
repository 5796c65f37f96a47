"""The .deb a person installs (issue 12 point 6): built as ./scripts/build builds it (PyInstaller
one-folder app, then nfpm), unpacked with ``dpkg-deb -x``, and run from the unpacked tree:
``upqueue --help``, the worker, one real upload to @tus/server, ``upqueue stop``.

Slow (a PyInstaller build, ~2-4 minutes on two cores): built once per session, in a temporary
folder. ``UPQUEUE_DEB=path/to/upqueue_X_amd64.deb`` tests an existing package instead (e.g.
the one ./scripts/build left in dist/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.tus import make_file, same_content
from tests.fixtures.worker import wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def deb_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("UPQUEUE_DEB")
    if given:
        return Path(given)
    if shutil.which("dpkg-deb") is None:
        pytest.fail("dpkg-deb is needed to test the package (apt-get install dpkg)")
    tools = Path(sys.executable).parent
    pyinstaller = shutil.which("pyinstaller", path=str(tools))
    assert pyinstaller, "PyInstaller is part of the test extra: pip install -e '.[test]'"
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(
        [pyinstaller, "--noconfirm", "--log-level", "WARN", "--distpath", str(out / "dist"),
         "--workpath", str(out / "work"), str(ROOT / "build.spec")],
        cwd=ROOT, check=True, capture_output=True, timeout=1800,
    )
    made = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_deb.py"), "--bundle",
         str(out / "dist" / "upqueue"), "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    )
    shutil.rmtree(out / "work", ignore_errors=True)
    return Path(made.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def unpacked(deb_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["dpkg-deb", "-x", str(deb_package), str(root)], check=True, timeout=300)
    return root


@pytest.fixture
def user_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A person's environment: no keyring backend chosen for them, their own home."""
    home = tmp_path / "person"
    (home / ".local" / "share").mkdir(parents=True)
    env = dict(os.environ)
    # keyring then looks for its backends itself (entry points), as on a person's machine.
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.pop("UPQUEUE_SECRET_STORE", None)
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"),
               UPQUEUE_HOME=str(tmp_path / "data"))
    yield env


def test_the_package_declares_what_a_desktop_needs(deb_package: Path) -> None:
    info = subprocess.run(
        ["dpkg-deb", "-I", str(deb_package)], check=True, capture_output=True, text=True
    ).stdout
    depends = next(line for line in info.splitlines() if line.strip().startswith("Depends:"))
    for library in ("libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libfontconfig1",
                    "libdbus-1-3", "libxcb-icccm4"):
        assert library in depends
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb_package)], check=True, capture_output=True, text=True
    ).stdout
    assert "./usr/bin/upqueue -> ../lib/upqueue/upqueue" in listing
    for path in ("./usr/share/applications/upqueue.desktop",
                 "./usr/share/icons/hicolor/scalable/apps/upqueue.svg",
                 "./usr/lib/systemd/user/upqueue.service", "./usr/lib/upqueue/upqueue"):
        assert path in listing


def test_the_unpacked_program_runs_the_cli_the_worker_and_an_upload(
    unpacked: Path, user_env: dict[str, str], tus_server, tmp_path: Path
) -> None:
    upqueue = unpacked / "usr" / "bin" / "upqueue"
    unit = (unpacked / "usr/lib/systemd/user/upqueue.service").read_text()
    assert "ExecStart=/usr/bin/upqueue worker" in unit
    desktop = (unpacked / "usr/share/applications/upqueue.desktop").read_text()
    assert "Exec=upqueue" in desktop and "Icon=upqueue" in desktop

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(upqueue), *args], env=user_env, capture_output=True,
                                text=True, timeout=timeout, check=False)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    assert "worker" in run("--help").stdout

    data = Path(user_env["UPQUEUE_HOME"])
    data.mkdir()
    worker = subprocess.Popen([str(upqueue), "worker"], env=user_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        def started() -> bool:
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited {worker.returncode}")
            try:
                return json.loads((data / "worker.json").read_text())["pid"] == worker.pid
            except (OSError, ValueError, KeyError):
                return False

        wait_for(started, 60, "the packaged worker's worker.json")
        run("target", "add", "srv", "--url", tus_server.url)
        source = make_file(tmp_path / "from-the-package.bin", 3 * 1024 * 1024 + 7)
        upload_id = run("add", str(source), "--target", "srv", "--wait").stdout.split()[0]
        shown = json.loads(run("ls", "--json").stdout)
        (upload,) = [u for u in shown if str(u["id"]) == upload_id]
        assert upload["status"] == "done"
        assert same_content(tus_server.stored_path(upload["result_url"]), source)
        run("stop")
        _out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0
    # The frozen worker starts without tracebacks (it printed five ModuleNotFoundErrors for
    # keyrings.alt's backends at every start before they were bundled).
    assert "Traceback" not in err and "ModuleNotFoundError" not in err, err[-3000:]
    log = (data / "upqueue.log").read_text(errors="replace")
    assert "ModuleNotFoundError" not in log, log[-3000:]
