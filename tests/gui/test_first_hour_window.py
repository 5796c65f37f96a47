"""The window in a new user's first hour (issue 11): what was seen, as pytest-qt tests.

Window fixtures (fake_api, make_window) come from tests/fixtures/gui.py via the root conftest.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from upqueue.core.errors import UpqueueError

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytestmark = pytest.mark.qt_log_ignore("^This plugin does not support")


def test_a_killed_worker_is_started_again_and_its_stale_figures_go(qtbot: Any) -> None:
    from upqueue.gui.main_window import MainWindow
    from upqueue.gui.worker_supervisor import default_connect

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
            return (
                window.supervisor.state == "running"
                and client is not None
                and (client.health()["pid"] != first_pid)
            )

        qtbot.waitUntil(restarted, timeout=20_000)
        assert "started again" in window.supervisor.detail
    finally:
        client = window.api
        window._quitting = True
        window._shutdown_gui()
        if client is not None:
            with contextlib.suppress(UpqueueError):  # it may be gone already
                client.shutdown()


def test_a_worker_stopped_on_purpose_is_not_started_again(qtbot: Any, fake_api: Any) -> None:
    from upqueue.core.api_client import WorkerUnavailable
    from upqueue.gui.background import Background
    from upqueue.gui.worker_supervisor import WorkerSupervisor

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


def test_targets_and_settings_changed_with_the_cli_reach_the_open_window(
    qtbot: Any, worker: Any, tus_server: Any, make_window: Any
) -> None:
    from tests.test_cli import ok

    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.first_run, timeout=10_000)
    assert window.target_combo.currentText() == "no target yet"
    ok("target", "add", "lab", "--url", tus_server.url)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    assert window.current_target()["name"] == "lab"
    assert window.pages.currentWidget() is not window.first_run
    ok("settings", "set", "notifications", "false")
    qtbot.waitUntil(lambda: window.worker_settings.get("notifications") is False, timeout=10_000)


def test_after_a_restart_the_default_target_is_the_last_one_used(
    qtbot: Any, fake_api: Any, make_window: Any, tmp_path: Path
) -> None:
    fake_api.add_target_row("zeta")  # after "geo" by name
    first = make_window(fake_api)
    assert first.current_target()["name"] == "geo"
    combo = first.target_combo
    combo.setCurrentIndex(combo.findText("zeta"))
    combo.activated.emit(combo.currentIndex())
    source = tmp_path / "a.txt"
    source.write_text("x")
    first.add_paths([str(source)])
    qtbot.waitUntil(lambda: first.model.rowCount() == 1, timeout=5000)
    # A second window (a restart; the first never saved its layout on a clean quit).
    second = make_window(fake_api)
    assert second.current_target()["name"] == "zeta"


@pytest.mark.parametrize("answer", [False, True])
def test_the_window_asks_before_adding_the_same_file_again(
    qtbot: Any, fake_api: Any, make_window: Any, tmp_path: Path, answer: bool
) -> None:
    window = make_window(fake_api)
    questions: list[str] = []
    window.prompts.confirm = lambda title, text: questions.append(text) or answer
    source = tmp_path / "big_copy.bin"
    source.write_bytes(b"x" * 100)
    window.add_paths([str(source)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert questions == []
    window.add_paths([str(source)])
    qtbot.waitUntil(lambda: len(questions) == 1, timeout=5000)
    assert "big_copy.bin is already queued for or uploaded to geo" in questions[0]
    if answer:
        qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    else:
        qtbot.wait(300)  # nothing to wait for: a second row must not come
        assert window.model.rowCount() == 1


def test_words_in_the_window(qtbot: Any, fake_api: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(fake_api)
    source = tmp_path / "a.txt"
    source.write_text("x")
    window.add_paths([str(source)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    from upqueue.gui.models.queue_columns import Role

    upload_id = int(window.model.index(0, 0).data(Role.UPLOAD_ID))
    window.controller.act_on_selection("pause", [upload_id])
    qtbot.waitUntil(lambda: "Paused" in window.statusBar().currentMessage(), timeout=5000)
    assert window.statusBar().currentMessage() == "Paused 1 upload"
    # Qt adds " — upqueue" to a window title itself: the title must not say it again.
    window._stats({"counts": {"uploading": 1}, "speed": 192.5e6, "active": 1, "seq": 0})
    assert window.windowTitle() == "↑ 192.5 MB/s · 1 uploading"
    window._stats({"counts": {}, "speed": 0.0, "active": 0, "seq": 0})
    assert window.windowTitle() == "upqueue"


def test_the_targets_dialog_asks_before_losing_or_removing_and_forgets_on_close(
    qtbot: Any, fake_api: Any, make_window: Any
) -> None:
    window = make_window(fake_api)
    window.commands["targets"].trigger()
    dialog = window.dialog_host.dialogs["targets"]
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=5000)
    asked: list[str] = []
    answers = iter(["cancel", "discard"])
    dialog.ask_unsaved = lambda name, answer: (asked.append(name), answer(next(answers)))

    dialog.findChild(type(dialog.save_button), "target-add").click()
    dialog.name.setText("typed")
    dialog.url.setText("http://127.0.0.1:9/files/")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Server unreachable" in dialog.result_text(), timeout=5000)
    dialog.reject()  # Close: asked; "cancel" keeps the dialog and the form
    assert asked == ["typed"] and dialog.isVisible() and dialog.name.text() == "typed"
    dialog.reject()  # asked again; "discard" closes and forgets
    assert asked == ["typed", "typed"] and not dialog.isVisible()

    window.commands["targets"].trigger()  # reopened: no old form, no old test result
    assert dialog.isVisible() and dialog.name.text() == "" and dialog.result_text() == ""

    dialog.list.setCurrentRow(0)
    choices: list[str] = []
    dialog.ask_remove = lambda name, answer: (choices.append(name), answer("cancel"))
    dialog.remove_button.click()
    assert choices == ["geo"] and [t["name"] for t in fake_api.targets()["targets"]] == ["geo"]
    dialog.ask_remove = lambda name, answer: answer("keep")
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: fake_api.targets()["targets"] == [], timeout=5000)
    assert ("remove_target", (1, "keep")) in fake_api.calls


def test_an_800_by_500_window_shows_the_status_and_every_toolbar_button(
    qtbot: Any, fake_api: Any, make_window: Any, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QToolButton
    from upqueue.gui.models.queue_columns import Col

    window = make_window(fake_api)
    window.resize(800, 500)
    source = tmp_path / "a.txt"
    source.write_text("x")
    window.add_paths([str(source)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    view = window.view

    def status_on_screen() -> bool:
        left = view.columnViewportPosition(Col.STATUS)
        return 0 <= left and left + view.columnWidth(Col.STATUS) <= view.viewport().width()

    qtbot.waitUntil(lambda: window.width() == 800, timeout=5000)
    qtbot.waitUntil(status_on_screen, timeout=2000)
    extension = window.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert extension is None or not extension.isVisible(), "the toolbar collapsed into »"


def test_columns_can_be_chosen_and_are_kept(qtbot: Any, fake_api: Any, make_window: Any) -> None:
    from upqueue.gui import window_chrome
    from upqueue.gui.models.queue_columns import Col

    window = make_window(fake_api)
    menu = window.view.columns_menu()
    target = next(a for a in menu.actions() if a.objectName() == "column-target")
    assert target.isChecked()
    target.toggle()
    assert window.view.isColumnHidden(Col.TARGET)
    window_chrome.save_layout(window, window.view.horizontalHeader(), window.splitter)
    again = make_window(fake_api)
    assert again.view.isColumnHidden(Col.TARGET)
    assert "Name" not in [a.text() for a in again.view.columns_menu().actions()]


def test_clear_finished_and_the_file_dialog_starts_at_home(
    qtbot: Any, fake_api: Any, make_window: Any, monkeypatch: Any
) -> None:
    from PySide6.QtWidgets import QFileDialog

    fake_api.put(id=1, name="done.bin", status="done")
    fake_api.put(id=2, name="queued.bin", status="queued")
    window = make_window(fake_api)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    window.commands["clear_finished"].trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert "Cleared 1 finished upload" in window.statusBar().currentMessage()

    opened_in: list[str] = []
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileNames",
        lambda parent, title, folder: opened_in.append(folder) or ([], ""),
    )
    from upqueue.gui.queue_controller import file_dialogs

    choose_files, _choose_folder = file_dialogs(window)
    choose_files()
    assert opened_in == [os.path.expanduser("~")]
