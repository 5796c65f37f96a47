"""Steering uploads for the Service: pause, resume, cancel, retry and remove them, one by one,
in bulk or all at once.

Separate from worker/service.py because it is one concern with its own rules (which statuses
may be paused, what a retry of a changed file or of a dataset does, when the remote upload is
terminated), while the service module keeps adding, reading, settings and export.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from upqueue.core import datasets, fileinfo
from upqueue.core.errors import UpqueueError
from upqueue.core.models import CANCELLABLE, PAUSABLE, Status
from upqueue.core.pathtext import from_stored
from upqueue.core.transports import registry
from upqueue.worker.errors import Conflict
from upqueue.worker.repository.reads import public_upload

if TYPE_CHECKING:
    from upqueue.core.store import Store
    from upqueue.worker.repository import UploadRepository
    from upqueue.worker.service import EngineControl
    from upqueue.worker.upload_events import FinishedUploads


class UploadSteering:
    """Mixed into Service; uses its ``store``, ``uploads``, ``engine`` and ``finished``."""

    store: Store
    uploads: UploadRepository
    engine: EngineControl | None
    finished: FinishedUploads

    def act(self, upload_id: int, action: str) -> dict[str, Any]:
        handlers = {
            "pause": self._pause,
            "resume": self._resume,
            "cancel": self._cancel,
            "retry": self._retry,
        }
        if action not in handlers:
            raise UpqueueError("Unknown action", f"{action!r}: use pause, resume, cancel or retry.")
        with self.store.tx():
            row = self.uploads.get(upload_id)
            handlers[action](row)
        if self.engine:
            self.engine.kick()
        return public_upload(self.uploads.get(upload_id))

    def _protocol_of(self, row: dict[str, Any]) -> str:
        return str(self.uploads.target(row["target_id"])["protocol"])

    def _pause(self, row: dict[str, Any]) -> None:
        pausable = row["status"] == Status.PROCESSING and registry.pausable_processing(
            self._protocol_of(row)
        )
        self.uploads.pause(row, processing_pausable=pausable)
        if self.engine:
            self.engine.stop(row["id"], "pause")
            self.engine.timers_changed()

    def _resume(self, row: dict[str, Any]) -> None:
        self.uploads.resume(row)

    def _cancel(self, row: dict[str, Any]) -> None:
        running = bool(self.engine and self.engine.is_running(row["id"]))
        self.uploads.cancel(row)
        if self.engine:
            if running:
                self.engine.stop(
                    row["id"], "cancel"
                )  # the runner terminates the remote upload itself
            elif row["remote_state"] and row["status"] != Status.PROCESSING:
                self.engine.terminate_later(row["id"])
        self.finished.fire_later(row["id"])

    def _retry(self, row: dict[str, Any]) -> None:
        target = self.store.query_one(
            "SELECT removed_at FROM targets WHERE id = ?", (row["target_id"],)
        )
        if target is None or target["removed_at"]:
            raise Conflict(
                "Target removed",
                f"{row['name']} went to {row['target_name']}, which was removed; "
                "add the file again to another target.",
            )
        if datasets.is_shapefile(row["path"]) and registry.takes_datasets(self._protocol_of(row)):
            # The person may have fixed the set (a .prj added): read its members again, as
            # they are now (their size and times with them).
            try:
                found = datasets.find_members(from_stored(row["path"]))
                checked = [(m, fileinfo.check_file(m)) for m in found.members]
            except UpqueueError as exc:
                raise Conflict(f"Cannot retry: {exc.title}", exc.message) from None
            self.uploads.replace_members(row["id"], checked)
            self.uploads.retry(row, changed=None)
            return
        now = None if row["status"] == Status.CANCELLED else self._changed_file(row)
        self.uploads.retry(row, changed=now)

    def _changed_file(self, row: dict[str, Any]) -> os.stat_result | None:
        """A file that changed since its upload began is sent as it is now: its new stat (the
        repository starts it from byte 0), after the stale partial upload is terminated where
        the protocol can. None: unchanged."""
        try:
            st = fileinfo.check_file(from_stored(row["path"]))
        except UpqueueError as exc:
            raise Conflict(
                f"Cannot retry: {exc.title}",
                f"{exc.message} Put the file back, or remove the upload.",
            ) from None
        ctime_ns = row.get("ctime_ns")
        if (st.st_size, st.st_mtime_ns, st.st_ino) == (
            row["size"],
            row["mtime_ns"],
            row["inode"],
        ) and (ctime_ns is None or st.st_ctime_ns == ctime_ns):
            return None
        if row["remote_state"] and self.engine:
            self.engine.terminate_later(
                row["id"]
            )  # reads the remote state now, before it is cleared
        return st

    def remove_upload(self, upload_id: int) -> None:
        with self.store.tx():
            row = self.uploads.get(upload_id)
            if row["status"] in CANCELLABLE:
                self._cancel(row)
            self.uploads.remove(upload_id, row["name"])

    def bulk(self, action: str, ids: list[int]) -> dict[str, Any]:
        done, skipped = [], []
        for upload_id in ids:
            try:
                if action == "remove":
                    self.remove_upload(int(upload_id))
                else:
                    self.act(int(upload_id), action)
                done.append(upload_id)
            except UpqueueError as exc:
                skipped.append({"id": upload_id, "title": exc.title, "message": exc.message})
        return {"done": done, "skipped": skipped}

    def clear_finished(self) -> int:
        """Remove every upload that is done from the list; the files stay on the server."""
        rows = self.uploads.with_status([Status.DONE.value])
        for row in rows:
            self.remove_upload(int(row["id"]))
        return len(rows)

    def pause_all(self) -> int:
        with self.store.tx():
            rows = self.uploads.with_status(s.value for s in PAUSABLE)
            for row in rows:
                self._pause(row)
        return len(rows)

    def resume_all(self) -> int:
        with self.store.tx():
            rows = self.uploads.with_status([Status.PAUSED.value])
            for row in rows:
                self._resume(row)
        if self.engine:
            self.engine.kick()
        return len(rows)
