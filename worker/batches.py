"""Batches of watched-folder submissions: their records and counts, the after-upload action
(keep, move, delete) and the final step that runs once when a batch's last upload ends.

Counts are recomputed from the uploads themselves rather than incremented per notification, so
a worker killed between an upload's end and its notification still ends with the right numbers.
All slow work (hashing, moving files, writing manifests) runs on this module's own thread: the
finished-listener only queues, because the engine calls it from an upload's thread. Counting
and the final step are in worker/batch_finish.py (``BatchFinishing``, which ``BatchBook``
inherits).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upqueue.core.models import EventKind, Status
from upqueue.core.paths import MANIFEST_DIR
from upqueue.core.pathtext import from_stored
from upqueue.core.store import now_iso
from upqueue.core.watchrules import AfterUpload, BatchState
from upqueue.worker.batch_files import file_sha256, move_or_delete, unchanged
from upqueue.worker.batch_finish import BatchFinishing

if TYPE_CHECKING:
    from upqueue.worker.service import Service

log = logging.getLogger(__name__)


class BatchBook(BatchFinishing):
    """The batches of every watch.

    Args:
        service: the worker's Service (its store, data_dir and finished_listeners are used).
        forget: called with (watch_id, path) when a file left its path after upload, so the
            watcher does not treat a new file of that name as already sent.
    """

    GATHER_SECONDS = 0.2  # how long finished uploads are gathered before the counts are redone

    def __init__(self, service: Service, *, forget: Callable[[int, str], None] = lambda w, p: None):
        self.service = service
        self.store = service.store
        self.forget = forget
        self.manifest_dir = Path(service.data_dir) / MANIFEST_DIR
        self._collecting: dict[int, int] = {}  # watch id -> the batch still taking its submissions
        self._lock = threading.RLock()
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen for finished uploads and catch up on anything a previous run left undone."""
        if self._on_finished not in self.service.finished_listeners:
            self.service.finished_listeners.append(self._on_finished)
        self._thread = threading.Thread(target=self._loop, name="batches", daemon=True)
        self._thread.start()
        self._queue.put(("recover", None))

    def stop(self, timeout: float = 10.0) -> None:
        if self._on_finished in self.service.finished_listeners:
            self.service.finished_listeners.remove(self._on_finished)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until queued work is done (for tests and a clean stop)."""
        done = threading.Event()
        self._queue.put(("call", done.set))
        return done.wait(timeout)

    # -- the open batch of a watch ------------------------------------------------------------
    def adopt(self, watch_id: int) -> None:
        """After a restart, keep filling the watch's newest open batch instead of starting one.

        A worker killed in the middle of a round then finishes it under the same batch.
        """
        row = self.store.query_one(
            "SELECT id FROM batches WHERE watch_id = ? AND state = ? ORDER BY id DESC LIMIT 1",
            (watch_id, BatchState.OPEN.value),
        )
        if row is not None:
            with self._lock:
                self._collecting[watch_id] = int(row["id"])

    def collecting_batch(self, watch_id: int) -> int:
        """The batch taking this watch's submissions, created on first use."""
        with self._lock:
            if watch_id in self._collecting:
                return self._collecting[watch_id]
            with self.store.tx():
                cur = self.store.execute(
                    "INSERT INTO batches (watch_id, state, created_at, change_seq) VALUES (?, ?, ?, ?)",
                    (watch_id, BatchState.OPEN.value, now_iso(), self.store.next_seq()),
                )
                batch_id = int(cur.lastrowid or 0)  # an INSERT always sets it
                self.store.add_event(
                    EventKind.BATCH,
                    f"Batch {batch_id} started",
                    batch_id=batch_id,
                    watch_id=watch_id,
                    status=BatchState.OPEN.value,
                )
            self._collecting[watch_id] = batch_id
            return batch_id

    def seal(self, watch_id: int) -> None:
        """The watch's round is over: its batch takes nothing more and may now finish."""
        with self._lock:
            batch_id = self._collecting.pop(watch_id, None)
        if batch_id is not None:
            self._queue.put(("refresh", batch_id))

    def is_collecting(self, batch_id: int) -> bool:
        with self._lock:
            return batch_id in self._collecting.values()

    def add_rejects(self, batch_id: int, rejected: list[dict[str, Any]]) -> None:
        """Record files the queue refused; call inside ``store.tx()``."""
        for item in rejected:
            try:
                size: int | None = os.stat(from_stored(item["path"])).st_size
            except OSError:
                size = None
            self.store.execute(
                "INSERT INTO batch_rejects (batch_id, path, size, title, message, at) VALUES (?, ?, ?, ?, ?, ?)",
                (batch_id, item["path"], size, item["title"], item["message"], now_iso()),
            )

    def request_refresh(self, batch_id: int) -> None:
        self._queue.put(("refresh", batch_id))

    # -- reading ------------------------------------------------------------------------------
    def batch_dict(self, row: dict[str, Any]) -> dict[str, Any]:
        batch = dict(row)
        batch["collecting"] = self.is_collecting(int(row["id"]))
        batch["pending"] = max(0, batch["total"] - batch["done"] - batch["failed"])
        return batch

    def listing(self, watch_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT b.*, w.path AS watch_path FROM batches b LEFT JOIN watches w ON w.id = b.watch_id"
        params: list[Any] = []
        if watch_id is not None:
            sql += " WHERE b.watch_id = ?"
            params.append(watch_id)
        sql += " ORDER BY b.id DESC LIMIT ?"
        params.append(int(limit))
        return [self.batch_dict(r) for r in self.store.query(sql, params)]

    def get(self, batch_id: int) -> dict[str, Any] | None:
        row = self.store.query_one(
            "SELECT b.*, w.path AS watch_path FROM batches b LEFT JOIN watches w ON w.id = b.watch_id"
            " WHERE b.id = ?",
            (batch_id,),
        )
        return None if row is None else self.batch_dict(row)

    def events(self, batch_id: int) -> list[dict[str, Any]]:
        """The batch's own history (started, files queued, finished), not each upload's."""
        return self.store.query(
            "SELECT at, kind, status, title, message FROM events WHERE batch_id = ? AND kind IN (?, ?)"
            " ORDER BY id",
            (batch_id, EventKind.BATCH.value, EventKind.WATCH.value),
        )

    def rejects(self, batch_id: int) -> list[dict[str, Any]]:
        return self.store.query(
            "SELECT path, size, title, message, at FROM batch_rejects WHERE batch_id = ? ORDER BY id",
            (batch_id,),
        )

    # -- the batch thread ---------------------------------------------------------------------
    def _on_finished(self, upload: dict[str, Any]) -> None:
        if upload.get("batch_id") is not None or upload.get("watch_id") is not None:
            self._queue.put(("finished", upload))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work = [item]
            # Gather for a moment: uploads ending by the hundred cost one recount, not one each.
            deadline = time.monotonic() + self.GATHER_SECONDS
            while True:
                try:
                    extra = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if extra is None:
                    self._queue.put(None)
                    break
                work.append(extra)
            try:
                self._handle(work)
            except Exception:
                log.exception("batch bookkeeping failed; it is retried on the next change")

    def _handle(self, work: list[tuple[str, Any]]) -> None:
        refresh: list[int] = []
        for kind, value in work:
            if kind == "recover":
                refresh.extend(self._recover())
            elif kind == "finished":
                upload = value
                if upload["status"] == Status.DONE.value and upload.get("watch_id") is not None:
                    self._after_upload(upload)
                if upload.get("batch_id") is not None:
                    refresh.append(int(upload["batch_id"]))
            elif kind == "refresh":
                refresh.append(int(value))
            elif kind == "call":
                for batch_id in dict.fromkeys(refresh):
                    self.refresh(batch_id)
                refresh.clear()
                value()
        for batch_id in dict.fromkeys(refresh):
            self.refresh(batch_id)

    def _recover(self) -> list[int]:
        """Redo what a killed worker may have skipped: after-upload actions and final steps."""
        open_ids = [
            r["id"]
            for r in self.store.query(
                "SELECT id FROM batches WHERE state = ?", (BatchState.OPEN.value,)
            )
        ]
        for batch_id in open_ids:
            for upload in self.service.uploads.of_batch(
                batch_id, Status.DONE.value, from_watch=True
            ):
                if unchanged(upload):
                    self._after_upload(upload)
        return open_ids

    # -- after a confirmed upload --------------------------------------------------------------
    def _after_upload(self, upload: dict[str, Any]) -> None:
        """Keep, delete or move the file, only once the server has every byte of it.

        The file is left alone if it changed since it was uploaded: deleting it would lose
        the newer version.
        """
        watch = self.store.query_one("SELECT * FROM watches WHERE id = ?", (upload["watch_id"],))
        if watch is None or watch["after_upload"] == AfterUpload.KEEP.value:
            return
        upload = dict(upload, path=from_stored(upload["path"]))  # the name the file system knows
        if upload["status"] != Status.DONE.value or not os.path.lexists(upload["path"]):
            return
        if not unchanged(upload):
            self._note(
                upload,
                "Left in place",
                f"{upload['path']} changed after it was uploaded, so it was kept.",
            )
            return
        try:
            if not upload.get("sha256"):
                digest = file_sha256(upload["path"])
                with self.store.tx():
                    self.service.uploads.set_sha256(upload["id"], digest)
            done = move_or_delete(upload, watch)
            if done is not None:
                self.forget(watch["id"], upload["path"])
                self._note(upload, *done)
        except OSError as error:
            self._note(
                upload,
                "After-upload action failed",
                f"Could not {watch['after_upload']} {upload['path']}: {error.strerror or error}. "
                "The file is uploaded; handle it by hand.",
            )

    def _note(self, upload: dict[str, Any], title: str, message: str) -> None:
        with self.store.tx():
            self.store.add_event(
                EventKind.INFO,
                message,
                upload_id=upload["id"],
                batch_id=upload.get("batch_id"),
                watch_id=upload.get("watch_id"),
                title=title,
            )
