"""What the window does with uploads: adding files and folders, and acting on a selection.

:class:`QueueController` gets everything it uses in its constructor (the background ``call``,
the view, the poller, the actions, and the window's prompts) so that it neither knows nor
imports the main window.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget
from upqueue.core.errors import UpqueueError
from upqueue.core.records import AddResult, Rejected
from upqueue.gui.file_expand import common_label, expand_paths
from upqueue.gui.poller import Poller
from upqueue.gui.queue_view import QueueView
from upqueue.gui.upload_actions import UploadActions, toggle_action, would_cancel

Call = Callable[..., None]


@dataclass
class Prompts:
    """The window's ways of asking and telling (test seams: tests replace them)."""

    confirm: Callable[[str, str], bool]
    choose_files: Callable[[], list[str]]
    choose_folder: Callable[[], str]
    open_url: Callable[[QUrl], Any]
    say: Callable[[str, int], None]  # a status bar message for so many milliseconds
    show_error: Callable[[BaseException], None]
    show_targets: Callable[[], None]
    remember_target: Callable[[Any], None]  # the target used last is the default next time


def file_dialogs(parent: QWidget) -> tuple[Callable[[], list[str]], Callable[[], str]]:
    """The native file and folder choosers; they start in the home folder, not the program's."""
    home = os.path.expanduser("~")

    def choose_files() -> list[str]:
        files, _ = QFileDialog.getOpenFileNames(parent, "Add files to upload", home)
        return files

    def choose_folder() -> str:
        return QFileDialog.getExistingDirectory(parent, "Add a folder to upload", home)

    return choose_files, choose_folder


class QueueController(QObject):
    """Adding uploads and acting on them.

    Args:
        call: ``call(fn, on_done, on_error=None)`` runs ``fn(api)`` off the GUI thread.
        view: the queue's table (the selection comes from it).
        poller: asked for the news at once after a change.
        commands: the actions whose enabled state follows the selection.
        prompts: how to ask and tell the person.
        targets: ``targets() -> (list of targets, loaded?)``.
        chosen_target_id: the target id chosen in the toolbar (None: none).
    """

    def __init__(
        self,
        call: Call,
        view: QueueView,
        poller: Poller,
        commands: UploadActions,
        prompts: Prompts,
        targets: Callable[[], tuple[list[dict[str, Any]], bool]],
        chosen_target_id: Callable[[], Any],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.call = call
        self.view = view
        self.poller = poller
        self.commands = commands
        self.prompts = prompts
        self._targets = targets
        self._chosen_target_id = chosen_target_id
        self._parent = parent
        self.waiting_paths: list[str] = []  # dropped before the targets were known
        self.context_menu: QMenu | None = None

    # -- adding ---------------------------------------------------------------------------

    def current_target(self) -> dict[str, Any] | None:
        target_id = self._chosen_target_id()
        targets, _loaded = self._targets()
        return next((t for t in targets if t["id"] == target_id), None)

    def targets_arrived(self) -> None:
        """Add what was dropped while the window was starting."""
        waiting, self.waiting_paths = self.waiting_paths, []
        if waiting:
            self.add_paths(waiting)

    def add_paths(self, dropped: list[str], force: bool = False) -> None:
        """Queue files and folders (folders expand here, skipping hidden and temp files)."""
        if not dropped:
            return
        target = self.current_target()
        _targets, loaded = self._targets()
        if target is None and not loaded:
            # Dropped while the window is still starting: add them once the targets are known.
            self.waiting_paths.extend(dropped)
            return
        if target is None:
            self.prompts.show_error(
                UpqueueError(
                    "No target yet",
                    "Add a target (the server to upload to) first; then drop the files again.",
                )
            )
            self.prompts.show_targets()
            return

        def work(api: Any) -> AddResult:
            files, skipped = expand_paths(dropped)
            left_out = [Rejected(s.path, s.title, s.message) for s in skipped]
            if not files:
                if left_out:
                    return AddResult((), tuple(left_out))
                raise UpqueueError(
                    "Nothing to upload",
                    "The folders hold no files to upload (hidden and temporary files are skipped).",
                )
            answer = AddResult.from_json(api.add_uploads(files, target["id"], force=force))
            # What the walker left out (links leading outside, unreadable folders) and what the
            # worker refused are one list for the person.
            return AddResult(answer.added, (*left_out, *answer.rejected))

        self.prompts.say(f"Adding {common_label(dropped)}…", 0)
        self.prompts.remember_target(target["id"])
        self.call(work, lambda result: self._added(result, target))

    def _added(self, result: AddResult, target: dict[str, Any]) -> None:
        added = result.added
        duplicates = [r for r in result.rejected if r.reason == "duplicate"]
        rejected = [r for r in result.rejected if r.reason != "duplicate"]
        if added:
            self.prompts.say(
                f"Queued {common_label([a.path for a in added])} for {target['name']}"
                if not result.rejected
                else f"Queued {len(added):,} of {len(added) + len(result.rejected):,} files for "
                f"{target['name']}",
                10000,
            )
        elif not duplicates:
            self.prompts.say(f"Nothing was added to {target['name']}", 10000)
        if rejected:
            lines = [f"{os.path.basename(r.path)}: {r.message}" for r in rejected[:10]]
            more = f"\n… and {len(rejected) - 10} more" if len(rejected) > 10 else ""
            title = (
                f"{len(rejected):,} {'file was' if len(rejected) == 1 else 'files were'} not added"
                if added or duplicates
                else "Nothing was added"
            )
            self.prompts.show_error(UpqueueError(title, "\n".join(lines) + more))
        if duplicates:
            self._ask_about_duplicates(duplicates, target)
        self.poller.poll_now()

    def _ask_about_duplicates(self, duplicates: list[Rejected], target: dict[str, Any]) -> None:
        names = ", ".join(os.path.basename(r.path) for r in duplicates[:5])
        more = f" and {len(duplicates) - 5:,} more" if len(duplicates) > 5 else ""
        one = len(duplicates) == 1
        question = (
            f"{names}{more} {'is' if one else 'are'} already queued for or uploaded to "
            f"{target['name']} (same file, size and modification time).\n\n"
            f"Upload {'it' if one else 'them'} again?"
        )
        if self.prompts.confirm("Add the same file again?", question):
            self.add_paths([r.path for r in duplicates], force=True)

    def add_folder(self) -> None:
        folder = self.prompts.choose_folder()
        if folder:
            self.add_paths([folder])

    def add_files(self) -> None:
        self.add_paths(self.prompts.choose_files())

    # -- acting on uploads ----------------------------------------------------------------

    def update_actions(self, *_: Any) -> None:
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
            extra = f" (and {len(skipped) - 1:,} more)" if len(skipped) > 1 else ""
            self.prompts.say(f"{first['title']}: {first['message']}{extra}", 10000)
        else:
            verb = {
                "pause": "Paused",
                "resume": "Resumed",
                "cancel": "Cancelled",
                "retry": "Retrying",
                "remove": "Removed",
            }.get(action, action.title())
            count = len(done)
            self.prompts.say(f"{verb} {count:,} upload{'' if count == 1 else 's'}", 5000)
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
            count = len(uploads)
            question = (
                f"Remove {count:,} upload{'' if count == 1 else 's'} from the list?\n\n"
                f"{running:,} of them {'is' if running == 1 else 'are'} not finished and will be "
                "cancelled (the partial upload on the server is deleted where it allows)."
            )
            if not self.prompts.confirm("Remove unfinished uploads?", question):
                return
        self.act_on_selection("remove", [u["id"] for u in uploads])

    def clear_finished(self) -> None:
        """Remove every finished upload from the list (their files stay on the server)."""

        def done(result: dict[str, Any]) -> None:
            count = int(result.get("count", 0))
            self.prompts.say(
                f"Cleared {count:,} finished upload{'' if count == 1 else 's'} from the list", 5000
            )
            self.poller.poll_now()

        self.call(lambda api: api.clear_finished(), done)

    def all_uploads(self, which: str) -> None:
        def done(result: dict[str, Any]) -> None:
            verb = "Paused" if which == "pause_all" else "Resumed"
            count = int(result.get("count", 0))
            self.prompts.say(f"{verb} {count:,} upload{'' if count == 1 else 's'}", 5000)
            self.poller.poll_now()

        self.call(lambda api: getattr(api, which)(), done)

    def open_folders(self) -> None:
        folders = sorted({os.path.dirname(u["path"]) for u in self.view.selected_uploads()})
        for folder in folders[:5]:  # a selection of 1,000 files must not open 1,000 windows
            self.prompts.open_url(QUrl.fromLocalFile(folder))

    def open_links(self) -> None:
        urls = [u["result_url"] for u in self.view.selected_uploads() if u.get("result_url")]
        for url in urls[:5]:  # as many browser tabs as a person can look at
            self.prompts.open_url(QUrl(url))

    def copy_urls(self) -> None:
        urls = [u["result_url"] for u in self.view.selected_uploads() if u.get("result_url")]
        if urls:
            QGuiApplication.clipboard().setText("\n".join(urls))
            self.prompts.say(f"Copied {len(urls)} address{'' if len(urls) == 1 else 'es'}", 4000)

    def show_context_menu(self, position: Any) -> None:
        menu = QMenu(self._parent)
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
            "open_link",
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
