"""The window in a new user's first hour (issue 11): what was seen, as pytest-qt tests.

Window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


def test_a_killed_worker_is_started_again_and_its_stale_figures_go(qtbot: Any) -> None:
    from gui.main_window import MainWindow
    from gui.worker_supervisor import default_connect

    window = MainWindow(connect=default_connect, start=False)  # the window starts the worker
    window.ask_quit = lambda: "keep"
    qtbot.addWidget(window)
    window.show()
    try:
        window.supervisor.start()
        qtbot.waitUntil(lambda: window.loaded and window.api is not None, timeout=30_000)
        first_pid = window.api.health()["pid"]
        # What the status bar and the title said while an upload ran.
        window._stats({"counts": {"uploading": 1}, "speed": 11.6e6, "active": 1, "seq": 0})
        assert "11.6 MB/s" in window.windowTitle()
        assert "1 uploading" in window.status_panel.counts_label.text()

        os.kill(first_pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: window.supervisor.state != "running", timeout=10_000)
        assert window.windowTitle() == "upqueue"
        assert "MB/s" not in window.status_panel.speed_label.text()
        assert "uploading" not in window.status_panel.counts_label.text()

        def restarted() -> bool:
            client = window.api
            return window.supervisor.state == "running" and client is not None and (
                client.health()["pid"] != first_pid
            )

        qtbot.waitUntil(restarted, timeout=20_000)
        assert "started again" in window.supervisor.detail
    finally:
        client = window.api
        window._quitting = True
        window._shutdown_gui()
        if client is not None:
            try:
                client.shutdown()
            except Exception:
                pass


def test_a_worker_stopped_on_purpose_is_not_started_again(qtbot: Any, fake_api: Any) -> None:
    from core.api_client import WorkerUnavailable
    from gui.background import Background
    from gui.worker_supervisor import WorkerSupervisor

    connects: list[bool] = []

    def connect(start: bool) -> Any:
        connects.append(start)
        return fake_api

    background = Background()
    supervisor = WorkerSupervisor(background, connect, died=lambda: False)
    supervisor.start()
    qtbot.waitUntil(lambda: supervisor.state == "running", timeout=5000)
    supervisor.report_failure(WorkerUnavailable("The upqueue worker is not running", "stopped"))
    assert supervisor.state == "unreachable"
    assert not supervisor._restart_timer.isActive()
    assert connects == [True]
    supervisor.stop()
    background.close()
