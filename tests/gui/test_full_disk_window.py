"""The window on a worker whose data disk is full (issue 13.3): it says so in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.fixtures.gui import drop
from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from tests.test_full_disk import fill, ns_worker  # noqa: F401
from tests.test_full_disk import pytestmark as needs_mount

pytestmark = [needs_mount, pytest.mark.qt_log_ignore("^This plugin does not support")]


def test_window_says_the_disk_is_full_when_a_file_is_dropped(
    qtbot: Any, ns_worker: Any, tus_server: Any, make_window: Any, tmp_path: Path  # noqa: F811
) -> None:
    api = ns_worker.start()
    api.add_target(name="tus", url=tus_server.url)
    fill(ns_worker.view / "filler")
    wait_for(lambda: api.health()["disk_full"], 10, "the worker to notice the full disk")
    window = make_window(api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    drop(window.view.viewport(), [make_file(tmp_path / "a.bin", 1000)])
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=10_000)
    title, message = window.last_error
    assert title == "Disk full"
    assert f"The disk holding upqueue's data ({ns_worker.home}) is full: free some space" in message
    box = window.findChild(QMessageBox, "error-box")
    assert box is not None and box.windowTitle() == "Disk full" and "free some space" in box.text()
    (ns_worker.view / "filler").unlink()
    assert ns_worker.stop() == "ok"
