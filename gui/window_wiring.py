"""Which signal of the window's parts reaches which handler: the actions, the view, the
poller, the supervisor and the tray, wired in one place."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from upqueue.gui import window_chrome


def connect(window: Any) -> None:
    """Connect the window's actions and parts to their handlers (once, at construction).

    ``window`` is the MainWindow (not imported here: the gui package has no import circles).
    The window's own handlers of the worker's news (the poller, the supervisor) it connects
    itself.
    """
    a, c = window.commands, window.controller
    a["add_files"].triggered.connect(c.add_files)
    a["add_folder"].triggered.connect(c.add_folder)
    a["pause"].triggered.connect(lambda: c.act_on_selection("pause"))
    a["resume"].triggered.connect(lambda: c.act_on_selection("resume"))
    a["toggle"].triggered.connect(c.toggle_selection)
    a["cancel"].triggered.connect(lambda: c.act_on_selection("cancel"))
    a["retry"].triggered.connect(lambda: c.act_on_selection("retry"))
    a["remove"].triggered.connect(c.remove_selection)
    a["clear_finished"].triggered.connect(c.clear_finished)
    a["open_folder"].triggered.connect(c.open_folders)
    a["open_link"].triggered.connect(c.open_links)
    a["copy_url"].triggered.connect(c.copy_urls)
    a["details"].triggered.connect(window.show_details)
    a["pause_all"].triggered.connect(lambda: c.all_uploads("pause_all"))
    a["resume_all"].triggered.connect(lambda: c.all_uploads("resume_all"))
    a["select_all"].triggered.connect(window.view.selectAll)
    a["search"].triggered.connect(window.focus_search)
    a["targets"].triggered.connect(window.show_targets)
    a["settings"].triggered.connect(window.show_settings)
    a["quit"].triggered.connect(window.quit_app)
    # Keys that mean something else in a text field act on the table only.
    for key in ("toggle", "remove", "select_all"):
        a[key].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.view.addAction(a[key])
    window.view.customContextMenuRequested.connect(c.show_context_menu)
    window.view.files_dropped.connect(c.add_paths)
    window.view.activated_upload.connect(lambda upload_id: window.show_details(upload_id))
    window.view.selectionModel().selectionChanged.connect(c.update_actions)
    window.proxy.modelReset.connect(c.update_actions)
    window.proxy.rowsRemoved.connect(c.update_actions)
    window.search.textChanged.connect(window.proxy.set_search)
    # The target chosen is remembered at once (not only on a clean quit): after a restart,
    # a drop goes where the last one went.
    window.target_combo.activated.connect(
        lambda _index: window_chrome.remember_target(window.target_combo.currentData())
    )
    window.sidebar.page_selected.connect(window.show_page)
    window.first_run.add_target.connect(window.show_targets)
    window.batch_bar.cleared.connect(lambda: window.show_batch(None))
    window.status_panel.restart_requested.connect(window.supervisor.restart)
    window.poller.failed.connect(window.supervisor.report_failure)
    window.tray.show_requested.connect(window.show_window)
    window.tray.pause_all.connect(lambda: c.all_uploads("pause_all"))
    window.tray.resume_all.connect(lambda: c.all_uploads("resume_all"))
    window.tray.quit_requested.connect(window.quit_app)
