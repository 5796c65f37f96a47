"""The window driven through qtbot against an in-memory API: drops, menus, keys, filters, dialogs."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox
from upqueue.core.api_client import ApiError, WorkerUnavailable
from upqueue.gui.models.queue_columns import Col, Role

from tests.fixtures.gui import FakeApi, drop, focus_table

# The offscreen platform cannot size, raise or grab native windows and says so ("This plugin
# does not support raise()"): a limit of the test platform, not of the window.
# The window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.

pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


def shown_ids(window: Any) -> list[int]:
    proxy = window.proxy
    return [proxy.index(r, 0).data(Role.UPLOAD_ID) for r in range(proxy.rowCount())]


def select(window: Any, upload_id: int) -> None:
    window.view.select_ids([upload_id])
    assert window.view.selected_ids() == [upload_id]


def test_drop_a_folder_queues_its_files_skipping_hidden_and_temp(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "survey"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden-dir").mkdir()
    for name in (
        "a.shp",
        "a.dbf",
        "sub/b.tif",
        ".secret",
        "x.part",
        "y.tmp",
        "z.crdownload",
        "~$report.docx",
        ".hidden-dir/c.bin",
    ):
        (folder / name).write_bytes(b"data" * 10)
    single = tmp_path / "notes.txt"
    single.write_text("hello")
    window = make_window(fake_api)
    drop(window.view.viewport(), [folder, single])
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=5000)
    added = next(args for name, args in fake_api.calls if name == "add_uploads")
    assert sorted(os.path.relpath(p, tmp_path) for p in added[0]) == [
        "notes.txt",
        "survey/a.dbf",
        "survey/a.shp",
        "survey/sub/b.tif",
    ]
    assert added[1] == 1  # the current target's id
    names = {window.model.index(r, Col.NAME).data() for r in range(4)}
    assert names == {"a.shp", "a.dbf", "b.tif", "notes.txt"}
    assert "Queued" in window.statusBar().currentMessage()


def test_drop_onto_the_sidebar_also_queues(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    path = tmp_path / "one.bin"
    path.write_bytes(b"1")
    window = make_window(fake_api)
    drop(window, [path])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)


def test_pause_and_resume_from_the_context_menu(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    row = fake_api.put(status="uploading", offset=300_000, speed=1e6)
    window = make_window(fake_api)
    select(window, row["id"])
    window.view.customContextMenuRequested.emit(QPoint(10, 10))
    menu = window.controller.context_menu
    labels = {a.text().replace("&", ""): a for a in menu.actions() if a.text()}
    assert labels["Pause"].isEnabled() and not labels["Resume"].isEnabled()
    assert not labels["Retry"].isEnabled()
    labels["Pause"].trigger()
    menu.close()
    status_cell = lambda: window.model.index(window.model.row_of(row["id"]), Col.STATUS).data()
    qtbot.waitUntil(lambda: status_cell() == "Paused", timeout=5000)
    assert ("bulk", ("pause", [row["id"]])) in fake_api.calls
    qtbot.waitUntil(lambda: window.commands["resume"].isEnabled(), timeout=5000)
    window.view.customContextMenuRequested.emit(QPoint(10, 10))
    resume = next(
        a for a in window.controller.context_menu.actions() if a.text().replace("&", "") == "Resume"
    )
    assert resume.isEnabled()
    resume.trigger()
    window.controller.context_menu.close()
    qtbot.waitUntil(lambda: status_cell() == "Queued", timeout=5000)


def test_space_toggles_pause_and_delete_asks_before_cancelling(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    row = fake_api.put(status="queued")
    done = fake_api.put(status="done", offset=1_000_000)
    window = make_window(fake_api)
    focus_table(qtbot, window)
    select(window, row["id"])
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: fake_api.rows[row["id"]]["status"] == "paused", timeout=5000)
    qtbot.waitUntil(lambda: window.commands["resume"].isEnabled(), timeout=5000)
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: fake_api.rows[row["id"]]["status"] == "queued", timeout=5000)
    qtbot.waitUntil(lambda: window.commands["pause"].isEnabled(), timeout=5000)

    questions: list[str] = []
    window.prompts.confirm = lambda title, text: questions.append(text) or False
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert questions and "will be cancelled" in questions[0]
    assert row["id"] in fake_api.rows  # refused: nothing removed

    # A finished upload goes without a question.
    select(window, done["id"])
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: window.model.row_of(done["id"]) is None, timeout=5000)
    assert len(questions) == 1


def test_filters_search_and_ctrl_f(qtbot: Any, fake_api: FakeApi, make_window: Any) -> None:
    ids = {
        status: fake_api.put(status=status, name=f"{status}-file.bin")["id"]
        for status in ("queued", "uploading", "paused", "failed", "done", "cancelled")
    }
    window = make_window(fake_api)
    qtbot.waitUntil(lambda: window.sidebar.group_count("failed") == 2, timeout=5000)
    window.sidebar.select_group("failed")
    assert sorted(shown_ids(window)) == sorted([ids["failed"], ids["cancelled"]])
    window.sidebar.select_group("active")
    assert shown_ids(window) == [ids["uploading"]]
    window.sidebar.select_group("all")
    focus_table(qtbot, window)
    qtbot.keyClick(window.view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.search, timeout=2000)
    qtbot.keyClicks(window.search, "PAUSED-")
    assert shown_ids(window) == [ids["paused"]]
    window.search.clear()
    assert len(shown_ids(window)) == 6


def test_ctrl_o_adds_the_chosen_files(
    qtbot: Any, fake_api: FakeApi, make_window: Any, tmp_path: Path
) -> None:
    chosen = tmp_path / "report.pdf"
    chosen.write_bytes(b"%PDF")
    window = make_window(fake_api)
    window.prompts.choose_files = lambda: [str(chosen)]
    focus_table(qtbot, window)
    qtbot.keyClick(window.view, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert window.model.index(0, Col.NAME).data() == "report.pdf"


def test_sorting_by_a_column_header(qtbot: Any, fake_api: FakeApi, make_window: Any) -> None:
    for size in (30, 10, 20):
        fake_api.put(size=size)
    window = make_window(fake_api)
    window.view.horizontalHeader().setSortIndicator(Col.SIZE, Qt.SortOrder.AscendingOrder)
    sizes = [window.proxy.index(r, 0).data(Role.SIZE) for r in range(3)]
    assert sizes == [10, 20, 30]
    window.view.horizontalHeader().setSortIndicator(Col.SIZE, Qt.SortOrder.DescendingOrder)
    assert [window.proxy.index(r, 0).data(Role.SIZE) for r in range(3)] == [30, 20, 10]


def test_failed_upload_shows_its_reason_and_notifies(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    row = fake_api.put(status="uploading", offset=10, speed=10.0)
    window = make_window(fake_api)
    fake_api.put(
        id=row["id"],
        status="failed",
        error_title="Server refused the file",
        error_message="413 Request Entity Too Large — the server accepts at most 1 MB",
    )
    index = lambda: window.model.index(window.model.row_of(row["id"]), Col.STATUS)
    qtbot.waitUntil(lambda: index().data() == "Failed: Server refused the file", timeout=5000)
    assert "at most 1 MB" in index().data(Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(
        lambda: any("Upload failed" in t for t, _m, _e in window.tray.notifications), timeout=5000
    )
    qtbot.waitUntil(
        lambda: any(t == "All uploads finished" for t, _m, _e in window.tray.notifications),
        timeout=5000,
    )


def test_api_errors_show_title_and_message_never_a_traceback(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    row = fake_api.put(status="queued")
    window = make_window(fake_api)
    fake_api.bulk = lambda action, ids: (_ for _ in ()).throw(  # type: ignore[method-assign]
        ApiError("Cannot pause", "The upload already finished.", 409)
    )
    select(window, row["id"])
    window.commands["pause"].trigger()
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=5000)
    assert window.last_error == ("Cannot pause", "The upload already finished.")
    box = window.findChild(QMessageBox, "error-box")
    assert box is not None and box.text() == "The upload already finished."
    assert "Traceback" not in box.text()
    box.close()


def test_worker_unreachable_shows_in_the_status_bar_and_recovers(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    window = make_window(fake_api)
    qtbot.waitUntil(lambda: "running" in window.status_panel.state_label.text(), timeout=5000)
    fake_api.fail_with = WorkerUnavailable("Cannot reach the upqueue worker", "Connection refused.")
    qtbot.waitUntil(lambda: "unreachable" in window.status_panel.state_label.text(), timeout=5000)
    assert window.status_panel.restart_button.isVisibleTo(window.status_panel)
    fake_api.fail_with = None
    window.status_panel.restart_button.click()
    qtbot.waitUntil(lambda: "running" in window.status_panel.state_label.text(), timeout=5000)


def test_first_run_offers_to_add_a_target(qtbot: Any, make_window: Any) -> None:
    api = FakeApi()  # no target at all
    window = make_window(api)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.first_run, timeout=5000)
    window.first_run.button.click()
    dialog = window.dialog_host.dialogs["targets"]
    assert dialog.isVisible()
    dialog.name.setText("geo")
    dialog.url.setText("https://uploads.example.org/files/")
    dialog.save_button.click()
    qtbot.waitUntil(
        lambda: bool(window.targets) and window.current_target() is not None, timeout=5000
    )
    qtbot.waitUntil(lambda: window.pages.currentWidget() is not window.first_run, timeout=5000)
    dialog.close()


def test_targets_dialog_shows_the_error_for_a_bad_url(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    window = make_window(fake_api)
    window.commands["targets"].trigger()
    dialog = window.dialog_host.dialogs["targets"]
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=5000)
    dialog.findChild(type(dialog.save_button), "target-add").click()
    dialog.name.setText("broken")
    dialog.url.setText("not a url")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "Invalid URL" in dialog.result_text(), timeout=5000)
    assert "not an http(s) URL" in dialog.result_text()
    dialog.url.setText("http://127.0.0.1:9/files/")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "unreachable" in dialog.result_text(), timeout=5000)
    dialog.close()


def test_settings_apply_live(qtbot: Any, fake_api: FakeApi, make_window: Any) -> None:
    window = make_window(fake_api)
    window.commands["settings"].trigger()
    dialog = window.dialog_host.dialogs["settings"]
    qtbot.waitUntil(dialog.isEnabled, timeout=5000)
    assert dialog.concurrency.value() == 3
    dialog.bandwidth.setValue(2.5)
    dialog.concurrency.setValue(5)
    qtbot.waitUntil(lambda: fake_api.settings_values["bandwidth_limit"] == 2_500_000, timeout=5000)
    assert fake_api.settings_values["concurrency"] == 5
    qtbot.waitUntil(lambda: "Applied" in dialog.message.text(), timeout=5000)
    dialog.keep_uploading.setChecked(False)
    dialog.close()  # a change still waiting is sent on close
    qtbot.waitUntil(
        lambda: fake_api.settings_values["keep_uploading_on_close"] is False, timeout=5000
    )
    qtbot.waitUntil(
        lambda: window.worker_settings.get("keep_uploading_on_close") is False, timeout=5000
    )


def test_copy_result_url_and_details(qtbot: Any, fake_api: FakeApi, make_window: Any) -> None:
    row = fake_api.put(
        status="failed",
        result_url="http://server/files/abc",
        error_title="File changed",
        error_message="The file changed while uploading.",
    )
    window = make_window(fake_api)
    select(window, row["id"])
    window.commands["copy_url"].trigger()
    assert QGuiApplication.clipboard().text() == "http://server/files/abc"
    opened: list[str] = []
    window.prompts.open_url = lambda url: opened.append(url.toLocalFile())
    window.commands["open_folder"].trigger()
    assert opened == ["/data"]
    window.commands["details"].trigger()
    dialog = window.dialog_host.dialogs[f"details-{row['id']}"]
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=5000)
    assert "The file changed while uploading." in dialog.fields["error"].text()
    assert dialog.table.item(1, 3).text().startswith("File changed")
    dialog.close()


def test_quit_with_running_uploads_asks_and_can_stop_the_worker(
    qtbot: Any, fake_api: FakeApi, make_window: Any, monkeypatch: Any
) -> None:
    fake_api.put(status="uploading", speed=10.0)
    window = make_window(fake_api)
    qtbot.waitUntil(lambda: window.stats.get("active") == 1, timeout=5000)
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: None))
    asked: list[bool] = []
    window.ask_quit = lambda: asked.append(True) or "cancel"
    window.quit_app()
    assert asked and window.isVisible()
    window.ask_quit = lambda: "stop"
    window.quit_app()
    assert fake_api.shutdown_called
    assert not window.isVisible()


def test_icons_follow_a_switch_to_a_dark_palette(
    qtbot: Any, fake_api: FakeApi, make_window: Any
) -> None:
    from PySide6.QtGui import QColor, QPalette

    window = make_window(fake_api)
    app = QApplication.instance()
    original = app.palette()

    def ink() -> QColor:
        image = window.commands["pause_all"].icon().pixmap(24, 24).toImage()
        return max(
            (image.pixelColor(x, y) for x in range(24) for y in range(24)), key=lambda c: c.alpha()
        )

    assert ink().lightness() < 128  # dark strokes on the light test palette
    dark = QPalette(original)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: ink().lightness() > 128, timeout=5000)
    finally:
        app.setPalette(original)
