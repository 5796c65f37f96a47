"""How the window follows the queue: the poller's full load, the rest of a long queue, the
changes since the last poll and the stats, turned into rows, notifications, the title and the
status panel."""

from __future__ import annotations

import gc
from typing import Any

from upqueue.core import humanize
from upqueue.gui.models.queue_model import QueueModel
from upqueue.gui.tray import tooltip_text
from upqueue.gui.window_part import WindowPart


def window_title(counts: dict[str, Any], speed: float) -> str:
    """ "↑ 11.6 MB/s · 1 uploading" while uploads move, else "upqueue". Qt adds the application's
    name itself ("… — upqueue"), so it is not in the moving title."""
    if speed <= 0:
        return "upqueue"
    uploading = int(counts.get("uploading", 0))
    return f"↑ {humanize.speed(speed)}" + (f" · {uploading:,} uploading" if uploading else "")


def prepare_full(result: dict[str, Any]) -> dict[str, Any]:
    """On the pool thread: the full queue's dicts become model rows (and the dicts can go)."""
    result["rows"] = QueueModel.prepare(result.pop("uploads", None) or [])
    return result


class WindowFeed(WindowPart):
    """The MainWindow's handlers of the poller's news (a mixin rather than an object of its
    own: they read and set the window's state throughout, and tests call them as the window's,
    ``window._stats(...)``). Connected in ``MainWindow._connect_feed``."""

    def _full(self, result: dict[str, Any]) -> None:
        if "rows" in result:
            self.model.reset_rows(result["rows"])
        else:
            self.model.reset_uploads(result.get("uploads") or [])
        # A full scan by the cycle collector over 100,000 long-lived rows stalls the event loop
        # for tens of milliseconds; they hold no cycles, so move them out of its way.
        gc.freeze()
        self.loaded = True
        self._worker_state(self.supervisor.state.value, self.supervisor.detail)
        self._update_first_run()

    def _more(self, result: dict[str, Any]) -> None:
        # The rest of a long queue, after its first screenful was painted.
        if "rows" in result:
            self.model.append_rows(result["rows"])
        else:
            self.model.append_rows(QueueModel.prepare(result.get("uploads") or []))
        gc.freeze()

    def _changes(self, result: dict[str, Any]) -> None:
        transitions = self.model.apply_changes(
            result.get("uploads") or [], result.get("removed") or []
        )
        if transitions:
            self.controller.update_actions()
            if any(old is None for _id, old, _new in transitions):
                self._update_first_run()
            if self.worker_settings.get("notifications", True):
                changed = {u["id"]: u for u in result.get("uploads") or []}
                for title, message, error in self.notifications.on_transitions(
                    transitions, changed
                ):
                    self.tray.notify(title, message, error)
                self.batch_notices.uploads_ended(
                    self.notifications.batches_ending(transitions, changed)
                )

    def _stats(self, stats: dict[str, Any]) -> None:
        self.stats = stats
        self.supervisor.report_ok()
        self._follow_config(stats.get("config"))
        self.status_panel.set_stats(stats)
        self.sidebar.set_counts(stats.get("counts") or {})
        sent, total = self.model.unfinished_bytes()
        speed = float(stats.get("speed") or 0.0)
        self.tray.set_tooltip(tooltip_text(stats.get("counts") or {}, speed, sent, total))
        self.setWindowTitle(window_title(stats.get("counts") or {}, speed))
        retrying = int((stats.get("counts") or {}).get("retrying", 0))
        if retrying and not self._countdown.isActive():
            self._countdown.start()
        elif not retrying:
            self._countdown.stop()
        for note_title, message, error in self.notifications.on_stats(stats):
            if self.worker_settings.get("notifications", True):
                self.tray.notify(note_title, message, error)

    def _follow_config(self, config: Any) -> None:
        """Targets, settings or watches changed (the CLI, another window): load them again."""
        if config is None or config == self._config_seen:
            return
        first, self._config_seen = self._config_seen is None, config
        if first:
            return  # loaded with the client already
        self.load_targets()
        self.load_settings()
        self.dialog_host.refresh_open("targets")
        watches = self._page_widgets.get("watches")
        if watches is not None and self.pages.currentWidget() is watches:
            getattr(watches, "refresh", lambda: None)()

    def _forget_stats(self) -> None:
        """No worker, no news: no "1 uploading · ↑ 11.6 MB/s" from before it went away."""
        self.stats = {"counts": {}, "speed": 0.0, "active": 0}
        self.status_panel.clear_stats()
        self.setWindowTitle(window_title({}, 0.0))
        self.tray.set_tooltip("upqueue — the worker is not running")
        if self._countdown.isActive():
            self._countdown.stop()

    def view_refresh(self) -> None:
        """Repaint the rows on screen (only those: the view asks the model for what it shows)."""
        self.view.viewport().update()
