"""End to end: the window, the real worker process and the real @tus/server.

Nothing is faked here: files are dropped onto the window, the worker uploads them to
@tus/server through the control API, and the window shows what happens.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from upqueue.gui.models.queue_columns import Col, Role

from tests.fixtures.gui import drop, focus_table
from tests.fixtures.tus import make_file, same_content

# The window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.

pytestmark = [pytest.mark.slow, pytest.mark.qt_log_ignore("^This plugin does not support")]
UPLOAD_TIMEOUT_MS = 60_000


def row_value(
    window: Any, upload_id: int, role: Any = Qt.ItemDataRole.DisplayRole, column: int = Col.STATUS
) -> Any:
    row = window.model.row_of(upload_id)
    return None if row is None else window.model.index(row, column).data(role)


def only_upload(window: Any) -> int:
    assert window.model.rowCount() == 1
    return int(window.model.index(0, 0).data(Role.UPLOAD_ID))


def test_drop_a_file_and_see_it_done_with_the_same_bytes_on_the_server(
    qtbot: Any, worker: Any, tus_server: Any, make_window: Any, tmp_path: Path
) -> None:
    worker.api.add_target(name="tus", url=tus_server.url)
    source = make_file(tmp_path / "survey.bin", 3 * 1024 * 1024 + 17, seed=3)
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    drop(window.view.viewport(), [source])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    upload_id = only_upload(window)
    qtbot.waitUntil(lambda: row_value(window, upload_id) == "Done", timeout=UPLOAD_TIMEOUT_MS)
    assert row_value(window, upload_id, Role.PERCENT) == 100.0
    remote = row_value(window, upload_id, Role.UPLOAD)["result_url"]
    assert remote and same_content(tus_server.stored_path(remote), source)
    # The sidebar and the status bar agree with the worker.
    qtbot.waitUntil(lambda: window.sidebar.group_count("done") == 1, timeout=10_000)


def test_pause_and_resume_from_the_window_mid_upload(
    qtbot: Any, worker: Any, tus_server: Any, make_window: Any, tmp_path: Path
) -> None:
    worker.api.add_target(name="tus", url=tus_server.url)
    source = make_file(tmp_path / "scan.tif", 4 * 1024 * 1024, seed=5)
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)

    # The bandwidth limit goes through the Settings dialog and applies live: slow enough that
    # the upload is still running when we pause it.
    window.commands["settings"].trigger()
    settings = window.dialog_host.dialogs["settings"]
    qtbot.waitUntil(settings.isEnabled, timeout=10_000)
    settings.bandwidth.setValue(0.5)  # MB/s
    qtbot.waitUntil(
        lambda: worker.api.settings()["settings"]["bandwidth_limit"] == 500_000, timeout=10_000
    )
    settings.close()

    drop(window.view.viewport(), [source])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    upload_id = only_upload(window)
    qtbot.waitUntil(lambda: (row_value(window, upload_id, Role.OFFSET) or 0) > 0, timeout=30_000)
    assert row_value(window, upload_id) == "Uploading"
    qtbot.waitUntil(
        lambda: row_value(window, upload_id, column=Col.SPEED).endswith("kB/s"), timeout=10_000
    )
    assert row_value(window, upload_id, column=Col.ETA).endswith("left")

    window.view.select_ids([upload_id])
    window.view.customContextMenuRequested.emit(QPoint(5, 5))
    pause = next(
        a for a in window.controller.context_menu.actions() if a.text().replace("&", "") == "Pause"
    )
    pause.trigger()
    window.controller.context_menu.close()
    qtbot.waitUntil(lambda: row_value(window, upload_id) == "Paused", timeout=10_000)
    paused_at = row_value(window, upload_id, Role.OFFSET)
    assert 0 < paused_at < source.stat().st_size
    assert worker.api.upload(upload_id)["upload"]["status"] == "paused"

    worker.api.update_settings(bandwidth_limit=0)
    window.view.select_ids([upload_id])
    qtbot.waitUntil(lambda: window.commands["resume"].isEnabled(), timeout=5_000)
    focus_table(qtbot, window)  # keys reach the active window: the dialog and the menu had it
    qtbot.keyClick(window.view, Qt.Key.Key_Space)  # Space resumes a paused selection
    qtbot.waitUntil(lambda: row_value(window, upload_id) == "Done", timeout=UPLOAD_TIMEOUT_MS)
    remote = row_value(window, upload_id, Role.UPLOAD)["result_url"]
    assert same_content(tus_server.stored_path(remote), source)
    events = [e["kind"] for e in worker.api.upload(upload_id)["events"]]
    assert "paused" in events and "resumed" in events


def test_a_failing_upload_shows_its_reason(
    qtbot: Any, worker: Any, make_tus_server: Any, make_window: Any, tmp_path: Path
) -> None:
    server = make_tus_server(max_size=1000)
    worker.api.add_target(name="small", url=server.url)
    source = make_file(tmp_path / "too-big.bin", 50_000)
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    drop(window.view.viewport(), [source])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    upload_id = only_upload(window)
    qtbot.waitUntil(
        lambda: (row_value(window, upload_id) or "").startswith("Failed"), timeout=UPLOAD_TIMEOUT_MS
    )
    upload = worker.api.upload(upload_id)["upload"]
    assert row_value(window, upload_id) == f"Failed: {upload['error_title']}"
    tooltip = row_value(window, upload_id, Qt.ItemDataRole.ToolTipRole)
    assert upload["error_message"] and upload["error_message"] in tooltip
    assert "413" in tooltip
    window.sidebar.select_group("failed")
    assert window.proxy.rowCount() == 1
    qtbot.waitUntil(
        lambda: any(
            title.startswith("Upload failed") for title, _m, _e in window.tray.notifications
        ),
        timeout=10_000,
    )


def test_targets_dialog_against_the_worker_reports_bad_urls(
    qtbot: Any, worker: Any, make_window: Any
) -> None:
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.first_run, timeout=10_000)
    window.first_run.button.click()
    dialog = window.dialog_host.dialogs["targets"]
    dialog.name.setText("nowhere")
    dialog.url.setText("ftp://example.org/files")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "✖" in dialog.result_label.text(), timeout=10_000)
    refused = dialog.result_text()
    assert "ftp" in refused.lower() or "url" in refused.lower()
    assert worker.api.targets()["targets"] == []
    # Nothing listens on port 9: "Test Connection" says the server cannot be reached.
    dialog.url.setText("http://127.0.0.1:9/files/")
    dialog.test_button.click()
    qtbot.waitUntil(
        lambda: dialog.test_button.isEnabled() and "✖" in dialog.result_label.text(), timeout=20_000
    )
    assert dialog.result_text() != refused
    assert "Cannot reach the server" in dialog.result_text()
    dialog.ask_unsaved = lambda name, answer: answer("discard")  # typed, unsaved: closing asks
    dialog.close()


def test_targets_dialog_saves_a_secret_to_the_keyring_and_tests_a_real_server(
    qtbot: Any, worker: Any, tus_server: Any, make_window: Any, upqueue_home: Path
) -> None:
    window = make_window(worker.api)
    window.commands["targets"].trigger()
    dialog = window.dialog_host.dialogs["targets"]
    dialog.name.setText("lab")
    dialog.url.setText(tus_server.url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("bearer"))
    assert dialog.secret.isVisibleTo(dialog) and not dialog.username.isVisibleTo(dialog)
    dialog.secret.setText("s3cret-token-value")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Connection works" in dialog.result_text(), timeout=20_000)
    assert "creation" in dialog.result_text()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(worker.api.targets()["targets"]), timeout=10_000)
    saved = worker.api.targets()["targets"][0]
    assert saved["auth_kind"] == "bearer" and saved["has_secret"] is True
    assert "s3cret-token-value" not in str(saved)
    assert b"s3cret-token-value" not in (upqueue_home / "state.db").read_bytes()
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    # Saved and unchanged: the test uses the stored secret.
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Connection works" in dialog.result_text(), timeout=20_000)
    dialog.close()


def test_five_thousand_files_into_a_watched_folder_keep_the_window_responsive(
    qtbot: Any, worker: Any, tus_server: Any, make_window: Any, tmp_path: Path
) -> None:
    """Issue 4: a drop of 5,000 files with the window open. Every file reaches the server once,
    the batch's counts are right in the window, and the event loop never stalls for long: a
    heartbeat timer measures the longest gap between its ticks while the lot goes up."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    count = 5000
    worker.api.update_settings(concurrency=6)
    worker.api.add_target(name="tus", url=tus_server.url)
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    staging.mkdir()
    for i in range(count):
        (staging / f"scan-{i:05d}.bin").write_bytes(i.to_bytes(4, "big") * 1024)
    watch = worker.api.add_watch(path=str(inbox), target="tus", settle_seconds=1.0)
    qtbot.waitUntil(lambda: worker.api.watch(watch["id"])["state"] == "watching", timeout=10_000)
    window = make_window(worker.api, fast_ms=250, slow_ms=1000)  # the window's own pace

    clock, gaps = QElapsedTimer(), []
    clock.start()
    last = [clock.elapsed()]

    def beat() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer(window)
    heartbeat.setInterval(20)
    heartbeat.timeout.connect(beat)
    heartbeat.start()

    for entry in os.scandir(staging):  # the drop: every file moved in at once
        os.rename(entry.path, inbox / entry.name)
    qtbot.waitUntil(lambda: window.sidebar.group_count("done") == count, timeout=240_000)
    heartbeat.stop()

    assert window.model.rowCount() == count
    # Every tick of a 20 ms timer arrived; the longest wait between two is the worst freeze.
    # 1 s is far above what the window needs (bench/gui_queue: p99 under 25 ms with 100,000
    # rows) and far below what a frozen window (a reset or a blocking call per tick) shows.
    print(f"event-loop gaps over {len(gaps)} ticks: longest {max(gaps)} ms")
    assert len(gaps) > 100 and max(gaps) < 1000, f"longest event-loop gap {max(gaps)} ms"
    window.sidebar.select_page("watches")
    page = window.pages.currentWidget()
    qtbot.waitUntil(lambda: page.batches.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(
        lambda: page.batches.index(0, 3).data() == "5,000 of 5,000 done", timeout=10_000
    )
    batch = worker.api.batches(watch_id=watch["id"])["batches"][0]
    assert (batch["total"], batch["done"], batch["failed"]) == (count, count, 0)
    stored = list(tus_server.dir.glob("*.json"))
    assert len(stored) == count, f"{len(stored)} uploads on the server for {count} files"
