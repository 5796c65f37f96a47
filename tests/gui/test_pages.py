"""The window's other pages and parts: watched folders and batches, history and export, tray."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest
from upqueue.core.records import EXPORT_HEADER
from upqueue.gui.models.queue_columns import Role
from upqueue.gui.status_panel import counts_text
from upqueue.gui.tray import NotificationPolicy, tooltip_text

from tests.fixtures.gui import FakeApi

# The window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.

pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


def batch(batch_id: int, **fields: Any) -> dict[str, Any]:
    row = {
        "id": batch_id,
        "watch_id": 1,
        "watch_path": "/drop/survey",
        "state": "open",
        "total": 4,
        "done": 1,
        "failed": 1,
        "collecting": False,
        "created_at": "2026-11-23T10:00:00.000Z",
        "finished_at": None,
    }
    row.update(fields)
    return row


def test_watched_folders_add_pause_resume_and_show_a_batch(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    for n in range(1, 5):
        fake_api.put(name=f"part{n}.shp", batch_id=7 if n % 2 else None)
    fake_api.batch_rows = [batch(7)]
    window = make_window(fake_api)
    window.sidebar.select_page("watches")
    page = window.pages.currentWidget()
    assert page.objectName() == "watches"
    qtbot.waitUntil(lambda: page.batches.rowCount() == 1, timeout=5000)
    assert "No watched folders yet" in page.message.text()

    dialog = page.add()
    folder = tmp_path / "incoming"
    folder.mkdir()
    dialog.path.setText(str(folder))
    dialog.recursive.setChecked(True)
    dialog.include.setText("*.shp, *.dbf")
    dialog.save()
    qtbot.waitUntil(lambda: page.watches.rowCount() == 1, timeout=5000)
    added = next(fields for name, fields in fake_api.calls if name == "add_watch")
    assert added["path"] == str(folder) and added["recursive"] is True
    assert added["include"] == ["*.shp", "*.dbf"] and added["target"] == 1
    assert page.watches.index(0, 2).data() == "Watching"

    page.watch_table.selectRow(0)
    assert page.buttons["pause"].isEnabled() and not page.buttons["resume"].isEnabled()
    page.buttons["pause"].click()
    qtbot.waitUntil(lambda: page.watches.index(0, 2).data() == "Paused", timeout=5000)
    qtbot.waitUntil(lambda: page.buttons["resume"].isEnabled(), timeout=5000)
    page.buttons["resume"].click()
    qtbot.waitUntil(lambda: page.watches.index(0, 2).data() == "Watching", timeout=5000)

    # A batch's uploads in the queue.
    page.batch_table.selectRow(0)
    page.buttons["show_batch"].click()
    assert window.pages.currentWidget() is not page
    shown = [window.proxy.index(r, 0).data(Role.UPLOAD_ID) for r in range(window.proxy.rowCount())]
    assert shown == [1, 3]
    assert window.batch_bar.isVisible() and "batch 7" in window.batch_bar.label.text()
    window.batch_bar.findChild(type(page.buttons["add"]), "batch-clear").click()
    assert window.proxy.rowCount() == 4 and not window.batch_bar.isVisible()

    page.confirm = lambda title, text: True
    page.watch_table.selectRow(0)
    page.buttons["remove"].click()
    qtbot.waitUntil(lambda: page.watches.rowCount() == 0, timeout=5000)


def test_watch_dialog_shows_the_workers_refusal(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    from upqueue.core.api_client import ApiError

    def refuse(**fields: Any) -> dict[str, Any]:
        raise ApiError("Folder not found", f"{fields['path']} does not exist.", 400)

    fake_api.add_watch = refuse  # type: ignore[method-assign]
    window = make_window(fake_api)
    window.sidebar.select_page("watches")
    page = window.pages.currentWidget()
    dialog = page.add()
    dialog.path.setText("/nope")
    dialog.save()
    qtbot.waitUntil(lambda: "Folder not found" in dialog.message.text(), timeout=5000)
    assert dialog.isVisible()
    dialog.reject()


def test_history_lists_finished_uploads_in_range_and_exports_csv(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    from PySide6.QtCore import QDate

    fake_api.put(name="old.bin", status="done", created_at="2020-01-05T10:00:00.000Z")
    fake_api.put(
        name="recent.bin",
        status="failed",
        error_title="File changed",
        created_at="2026-11-20T10:00:00.000Z",
    )
    fake_api.put(name="running.bin", status="uploading", created_at="2026-11-20T11:00:00.000Z")
    window = make_window(fake_api)
    window.sidebar.select_page("history")
    page = window.pages.currentWidget()
    page.from_date.setDate(QDate(2026, 11, 1))
    page.to_date.setDate(QDate(2026, 11, 30))
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=5000)
    assert page.model.index(0, 0).data() == "recent.bin"
    assert "File changed" in page.model.index(0, 7).data()

    target = tmp_path / "export.csv"
    page.choose_save_path = lambda suggested: str(target)
    page.export_button.click()
    qtbot.waitUntil(target.exists, timeout=5000)
    lines = target.read_text().splitlines()
    assert lines[0] == ",".join(EXPORT_HEADER)  # the worker's header (core.records)
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["2", "recent.bin"],
        ["3", "running.bin"],
    ]
    qtbot.waitUntil(lambda: "Exported 2" in page.message.text(), timeout=5000)


def test_tray_tooltip_says_how_far_and_how_long() -> None:
    text = tooltip_text(
        {"uploading": 2, "queued": 3, "failed": 1}, 10_000_000.0, 400_000_000, 1_000_000_000
    )
    assert text.splitlines() == [
        "upqueue — 40% of 1.0 GB",
        "2 uploading · 3 waiting · 1 failed",
        "↑ 10.0 MB/s · 1 min left",
    ]
    assert tooltip_text({"done": 5}, 0.0, 0, 0) == "upqueue — nothing to upload"
    assert tooltip_text({"processing": 2}, 0.0, 5, 5).splitlines()[1] == "2 processing"
    assert counts_text({"uploading": 1, "processing": 2, "failed": 1}) == (
        "1 uploading · 2 processing · 1 failed"
    )


def test_notifications_one_per_failure_and_one_when_all_finish() -> None:
    policy = NotificationPolicy()
    assert policy.on_stats({"active": 2}) == []
    uploads = {
        1: {"name": "a.tif", "error_title": "Server refused the file", "error_message": "413"},
        2: {"name": "b.tif"},
    }
    notes = policy.on_transitions([(1, "uploading", "failed"), (2, "uploading", "done")], uploads)
    assert notes == [("Upload failed: a.tif", "Server refused the file. 413", True)]
    assert policy.on_stats({"active": 1}) == []
    assert policy.on_stats({"active": 0}) == [
        ("All uploads finished", "1 uploaded, 1 failed.", True)
    ]
    assert policy.on_stats({"active": 0}) == []  # said once
    many = [(n, "uploading", "failed") for n in range(10, 20)]
    notes = policy.on_transitions(many, {10: {"name": "x", "error_title": "Server error"}})
    assert len(notes) == 1 and notes[0][0] == "10 uploads failed"
    # New uploads appearing are not news; one that failed before the window saw it queued is.
    assert policy.on_transitions([(30, None, "queued")], {}) == []
    refused = {31: {"name": "c.tif", "error_title": "Server refused the file"}}
    assert policy.on_transitions([(31, None, "failed")], refused) == [
        ("Upload failed: c.tif", "Server refused the file.", True)
    ]
