"""watchdog's side of a watched folder: which events matter, as the runner's own events.

Runs on watchdog's observer thread, so it only filters names and translates; the runner's
thread does everything slow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Final

from upqueue.core.walk import is_wanted, is_wanted_dir
from upqueue.core.watchrules import FsEvent
from upqueue.worker.watch_spec import WatchSpec
from watchdog.events import FileSystemEvent, FileSystemEventHandler

log = logging.getLogger(__name__)

_KINDS = {"created", "modified", "closed", "moved", "deleted"}


class _RootChanged:
    """The watched folder itself was moved or deleted: check its health now."""


ROOT_CHANGED: Final = _RootChanged()


class EventHandler(FileSystemEventHandler):
    """watchdog's callback: hands each event on; nothing slow happens here."""

    def __init__(self, accept: Callable[[FileSystemEvent], None], *, spec_id: int) -> None:
        self._accept = accept
        self._spec_id = spec_id

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._accept(event)
        except Exception:  # an observer thread must never die on our account
            log.exception("watch %s: could not queue %r", self._spec_id, event)


class EventFilter:
    """The watch's name rules (include, exclude, recursion, skipped folders) over events."""

    def __init__(self, spec: WatchSpec) -> None:
        self.spec = spec
        self._root = spec.path

    def translate(self, event: FileSystemEvent) -> FsEvent | _RootChanged | None:
        """The runner's event for a watchdog event, ROOT_CHANGED, or None to ignore it."""
        kind = event.event_type
        if kind not in _KINDS or (event.is_directory and kind in ("modified", "closed")):
            return None
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        if src == self._root and kind in ("deleted", "moved"):
            return ROOT_CHANGED
        if event.is_directory:
            if not self.spec.recursive:
                return None
            src = src if src and self.dir_wanted(src) else ""
            dest = dest if dest and self.dir_wanted(dest) else ""
        else:
            src = src if src and self.file_wanted(src) else ""
            dest = dest if dest and self.file_wanted(dest) else ""
        if kind == "moved":
            if not src and not dest:
                return None
            return FsEvent("moved", src, dest, event.is_directory)
        if src:
            return FsEvent(kind, src, "", event.is_directory)
        return None

    def _relative(self, path: str) -> str | None:
        rel = os.path.relpath(path, self._root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return None
        if not self.spec.recursive and os.sep in rel:
            return None
        return rel

    def skipped(self, path: str) -> bool:
        return any(path == d or path.startswith(d + os.sep) for d in self.spec.skip_dirs)

    def file_wanted(self, path: str) -> bool:
        rel = self._relative(path)
        return (
            rel is not None
            and is_wanted(rel, self.spec.include, self.spec.exclude)
            and not self.skipped(path)
        )

    def dir_wanted(self, path: str) -> bool:
        rel = self._relative(path)
        return rel is not None and is_wanted_dir(rel, self.spec.exclude) and not self.skipped(path)
