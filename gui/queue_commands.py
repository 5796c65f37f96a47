"""What the window does with uploads: adding files and folders, and acting on a selection.

A mixin of :class:`gui.main_window.MainWindow` (kept apart so that each file stays readable);
it uses the window's ``call``, ``view``, ``poller``, ``commands`` and its test seams
(``confirm``, ``choose_files``, ``choose_folder``, ``open_url``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu

from core.errors import UpqueueError
from gui.file_expand import common_label, expand_paths
from gui.queue_view import local_paths
from gui.upload_actions import toggle_action, would_cancel

if TYPE_CHECKING:
    from gui.main_window import MainWindow

    _Base = MainWindow
else:
    _Base = object


class QueueCommands(_Base):
    """Adding uploads and acting on them; mixed into the main window."""

    # -- adding ---------------------------------------------------------------------------

    def current_target(self) -> dict[str, Any] | None:
        target_id = self.target_combo.currentData()
        return next((t for t in self.targets if t["id"] == target_id), None)

    def add_paths(self, dropped: list[str]) -> None:
        """Queue files and folders (folders expand here, skipping hidden and temp files)."""
        if not dropped:
            return
        target = self.current_target()
        if target is None and not self.targets_loaded:
            # Dropped while the window is still starting: add them once the targets are known.
            self._waiting_paths.extend(dropped)
            return
        if target is None:
            self.show_error(
                UpqueueError(
                    "No target yet",
                    "Add a target (the server to upload to) first; then drop the files again.",
                )
            )
            self.show_targets()
            return

        def work(api: Any) -> dict[str, Any]:
            files, missing = expand_paths(dropped)
            if not files:
                raise UpqueueError(
                    "Nothing to upload",
                    "The folders hold no files to upload (hidden and temporary files are skipped).",
                )
            result = api.add_uploads(files, target["id"])
            result["files"] = files
            result["missing"] = missing
            return result

        self.statusBar().showMessage(f"Adding {common_label(dropped)}…")
        self.call(work, lambda result: self._added(result, target))

    def _added(self, result: dict[str, Any], target: dict[str, Any]) -> None:
        ids, rejected = result.get("ids") or [], result.get("rejected") or []
        self.statusBar().showMessage(
            f"Queued {common_label(result['files'])} for {target['name']}"
            if len(ids) == len(result["files"])
            else f"Queued {len(ids):,} of {len(result['files']):,} files for {target['name']}",
            10000,
        )
        if rejected:
            lines = [f"{os.path.basename(r['path'])}: {r['message']}" for r in rejected[:10]]
            more = f"\n… and {len(rejected) - 10} more" if len(rejected) > 10 else ""
            self.show_error(
                UpqueueError(f"{len(rejected)} file(s) were not added", "\n".join(lines) + more)
            )
        self.poller.poll_now()

    def _add_folder(self) -> None:
        folder = self.choose_folder()
        if folder:
            self.add_paths([folder])

    def _choose_files(self) -> list[str]:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files to upload")
        return files

    def _choose_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Add a folder to upload")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths_ = local_paths(event)
        if paths_:
            event.acceptProposedAction()
            self.add_paths(paths_)

    # -- acting on uploads ----------------------------------------------------------------

    def _update_actions(self, *_: Any) -> None:
        self.commands.update(self.view.selected_uploads())

    def act_on_selection(self, action: str, ids: list[int] | None = None) -> None:
        """Pause, resume, cancel, retry or remove the selected uploads."""
        ids = ids if ids is not None else self.view.selected_ids()
        if ids:
            self.call(lambda api: api.bulk(action, ids), lambda result: self._acted(action, result))

    def _acted(self, action: str, result: dict[str, Any]) -> None:
        done, skipped = result.get("done") or [], result.get("skipped") or []
        if skipped:
            first = skipped[0]
            extra = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            self.statusBar().showMessage(f"{first['title']}: {first['message']}{extra}", 10000)
        else:
            self.statusBar().showMessage(f"{action.title()}: {len(done):,} upload(s)", 5000)
        self.poller.poll_now()

    def toggle_selection(self) -> None:
        action = toggle_action(self.view.selected_uploads())
        if action:
            self.act_on_selection(action)

    def remove_selection(self) -> None:
        uploads = self.view.selected_uploads()
        if not uploads:
            return
        running = would_cancel(uploads)
        if running:
            question = (
                f"Remove {len(uploads):,} upload(s) from the list?\n\n"
                f"{running:,} of them {'is' if running == 1 else 'are'} not finished and will be "
                "cancelled (the partial upload on the server is deleted where it allows)."
            )
            if not self.confirm("Remove unfinished uploads?", question):
                return
        self.act_on_selection("remove", [u["id"] for u in uploads])

    def all_uploads(self, which: str) -> None:
        def done(result: dict[str, Any]) -> None:
            verb = "Paused" if which == "pause_all" else "Resumed"
            self.statusBar().showMessage(f"{verb} {int(result.get('count', 0)):,} upload(s)", 5000)
            self.poller.poll_now()

        self.call(lambda api: getattr(api, which)(), done)

    def open_folders(self) -> None:
        folders = sorted({os.path.dirname(u["path"]) for u in self.view.selected_uploads()})
        for folder in folders[:5]:  # a selection of 1,000 files must not open 1,000 windows
            self.open_url(QUrl.fromLocalFile(folder))

    def copy_urls(self) -> None:
        urls = [u["result_url"] for u in self.view.selected_uploads() if u.get("result_url")]
        if urls:
            QGuiApplication.clipboard().setText("\n".join(urls))
            self.statusBar().showMessage(f"Copied {len(urls)} address(es)", 4000)

    def _context_menu(self, position: Any) -> None:
        menu = QMenu(self)
        menu.setObjectName("queue-menu")
        for key in (
            "pause",
            "resume",
            "cancel",
            "retry",
            None,
            "remove",
            None,
            "open_folder",
            "copy_url",
            None,
            "details",
        ):
            if key is None:
                menu.addSeparator()
            else:
                menu.addAction(self.commands[key])
        self.context_menu = menu
        menu.popup(self.view.viewport().mapToGlobal(position))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()
