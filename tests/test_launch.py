"""The first launch on a desktop (issue 11, point 1) and a second launch (point 12).

The launch check runs the real ``main.py`` on a real X server (Xvfb, through Qt's xcb plugin),
as a person starting upqueue on a Linux desktop does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from upqueue.core.api_client import ApiClient
from upqueue.core.errors import UpqueueError
from tests.fixtures.worker import wait_for

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "main.py"


def _qt_libs():
    spec = importlib.util.spec_from_file_location("qt_libs", ROOT / "scripts" / "qt_libs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_libraries_come_from_ldd_and_map_to_debian_packages():
    qt_libs = _qt_libs()
    ldd = (
        "\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x1)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxkbcommon.so.0 => /lib/libxkbcommon.so.0 (0x2)\n"
    )
    missing = qt_libs.missing_sonames(ldd)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert [qt_libs.debian_package(s) for s in missing] == [
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
    ]
    assert qt_libs.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert qt_libs.debian_package("libdbus-1.so.3") == "libdbus-1-3"
    assert qt_libs.debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert qt_libs.debian_package("libglib-2.0.so.0") == "libglib2.0-0"


def test_the_set_up_left_nothing_missing_for_qt():
    """After scripts/test (which sources scripts/setup.sh), ldd finds every library Qt's xcb
    plugin needs: it came from the plugin's own list, not from a hand-kept one."""
    found = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "qt_libs.py")],
        capture_output=True, text=True, check=True,
    )
    assert found.stdout.strip() == "", f"missing for Qt: {found.stdout}"


def test_no_grep_q_in_a_pipe_under_pipefail():
    """`cmd | grep -q x` under pipefail fails when grep exits early and cmd gets SIGPIPE."""
    for script in sorted((ROOT / "scripts").iterdir()):
        text = script.read_text(encoding="utf-8")
        if "pipefail" in text:
            assert "| grep -q" not in text, script.name


def test_one_install_serves_scripts_run_and_scripts_test():
    """scripts/run after scripts/test (which made this .venv) installs nothing again."""
    if not (ROOT / ".venv" / ".installed-all").exists():
        pytest.skip("the suite did not run through scripts/test (no .venv/.installed-all)")
    ran = subprocess.run(
        [str(ROOT / "scripts" / "run"), "--help"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "installing" not in ran.stdout + ran.stderr
    assert "usage:" in ran.stdout


def _launch(display: str, home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", UPQUEUE_HOME=str(home))
    return subprocess.Popen(
        [sys.executable, str(MAIN)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def test_first_launch_on_a_real_x_display_and_a_second_launch_raises_the_first(
    x_display, upqueue_home
):
    first = _launch(x_display, upqueue_home)
    try:
        def answering():
            if first.poll() is not None:
                _out, err = first.communicate()
                raise AssertionError(f"the window exited with {first.returncode}: {err[-2000:]}")
            client = ApiClient.from_files(upqueue_home)
            return client if client is not None and client.health() else None

        wait_for(answering, 60, "the worker the window starts (after the window is built)")
        assert first.poll() is None, "the window exited"
        second = _launch(x_display, upqueue_home)
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert "open already" in err
        assert first.poll() is None, "the first window went away"
        log = (upqueue_home / "window.log").read_text(encoding="utf-8", errors="replace")
        assert "another launch asked this window to come forward" in log
    finally:
        if first.poll() is None:
            first.terminate()
            first.wait(timeout=20)
        client = ApiClient.from_files(upqueue_home)
        if client is not None:
            with contextlib.suppress(UpqueueError):  # it may be gone already
                client.shutdown()
    _out, err = first.communicate()
    assert "could not load the qt platform plugin" not in err.lower()
