"""A batch's counts and its final step: recounting a batch from its uploads and refused files,
and, once its last upload ended, hashing its files, writing its manifest and recording how it
finished (a summary of every failure for a batch of datasets).

Separate from worker/batches.py, which keeps the batch records, the batch thread and the
after-upload action: this is what happens when a batch is counted and closed. Runs on the
batch thread.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upqueue.core.errors import UpqueueError
from upqueue.core.humanize import plural
from upqueue.core.models import EventKind, Status
from upqueue.core.pathtext import from_stored
from upqueue.core.store import now_iso
from upqueue.core.transports import registry
from upqueue.core.watchrules import BatchState
from upqueue.worker.batch_files import file_sha256, unchanged, write_manifest

if TYPE_CHECKING:
    from upqueue.core.store import Store
    from upqueue.worker.service import Service

# The batch book's logger: these are its messages.
log = logging.getLogger("upqueue.worker.batches")

_FAILED = (Status.FAILED.value, Status.CANCELLED.value)


class BatchFinishing:
    """Mixed into BatchBook; uses its ``service``, ``store``, ``manifest_dir``,
    ``is_collecting`` and ``rejects``."""

    service: Service
    store: Store
    manifest_dir: Path

    def is_collecting(self, batch_id: int) -> bool:
        """BatchBook's: does the batch still take its watch's submissions?"""
        raise NotImplementedError

    def rejects(self, batch_id: int) -> list[dict[str, Any]]:
        """BatchBook's: the files the queue refused for the batch."""
        raise NotImplementedError

    def counts(self, batch_id: int) -> tuple[int, int, int]:
        """(total, done, failed) from the uploads and the refused files of the batch."""
        row = self.service.uploads.batch_counts(batch_id, _FAILED)
        refused = self.store.query(
            "SELECT count(*) AS n FROM batch_rejects WHERE batch_id = ?", (batch_id,)
        )[0]["n"]
        return row["total"] + refused, row["done"], row["failed"] + refused

    def refresh(self, batch_id: int) -> None:
        """Bring the batch's counts up to date, and run its final step if it just ended."""
        total, done, failed = self.counts(batch_id)
        with self.store.tx():
            row = self.store.query_one("SELECT * FROM batches WHERE id = ?", (batch_id,))
            if row is None or row["state"] != BatchState.OPEN.value:
                return
            if (row["total"], row["done"], row["failed"]) != (total, done, failed):
                self.store.execute(
                    "UPDATE batches SET total = ?, done = ?, failed = ?, change_seq = ? WHERE id = ?",
                    (total, done, failed, self.store.next_seq(), batch_id),
                )
        if done + failed >= total and not self.is_collecting(batch_id):
            self._finish(batch_id)

    def _finish(self, batch_id: int) -> None:
        batch = self.store.query_one(
            "SELECT b.*, w.path AS watch_path, w.target_id AS watch_target_id FROM batches b"
            " LEFT JOIN watches w ON w.id = b.watch_id WHERE b.id = ?",
            (batch_id,),
        )
        if batch is None or batch["state"] != BatchState.OPEN.value:
            return
        uploads = self.service.uploads.of_batch(batch_id)
        self._fill_hashes(uploads)
        refused = self.rejects(batch_id)
        total, done, failed = self.counts(batch_id)
        manifest = write_manifest(self.manifest_dir, batch_id, uploads, refused)
        state = BatchState.FINISHED if failed == 0 else BatchState.FINISHED_WITH_FAILURES
        folder = batch["watch_path"] or "a removed watch"
        if self._of_datasets(batch):
            title, message = _datasets_summary(
                batch_id, folder, total, done, failed, uploads, refused
            )
        elif failed == 0:
            title = "Batch finished"
            message = f"Batch {batch_id} from {folder}: {plural(done, 'file')} uploaded."
        else:
            title = "Batch finished with failures"
            first = next((u for u in uploads if u["status"] in _FAILED), None)
            reason = (
                (
                    f"{first['name']}: {first['error_title'] or first['status']}"
                    + (f" — {first['error_message']}" if first["error_message"] else "")
                )
                if first
                else (
                    f"{os.path.basename(refused[0]['path'])}: {refused[0]['title']} — {refused[0]['message']}"
                    if refused
                    else ""
                )
            )
            message = (
                f"Batch {batch_id} from {folder}: {done:,} of {total:,} uploaded, {failed:,} failed. "
                f"First failure: {reason}"
            )
        with self.store.tx():
            cur = self.store.execute(
                "UPDATE batches SET state = ?, total = ?, done = ?, failed = ?, finished_at = ?, manifest_path = ?,"
                " change_seq = ? WHERE id = ? AND state = ?",
                (
                    state.value,
                    total,
                    done,
                    failed,
                    now_iso(),
                    str(manifest),
                    self.store.next_seq(),
                    batch_id,
                    BatchState.OPEN.value,
                ),
            )
            if cur.rowcount:
                self.store.add_event(
                    EventKind.BATCH,
                    f"{message} Manifest: {manifest}",
                    batch_id=batch_id,
                    watch_id=batch["watch_id"],
                    status=state.value,
                    title=title,
                )
        log.info("%s", message)

    def _of_datasets(self, batch: dict[str, Any]) -> bool:
        """Does the batch's target take datasets (its files are datasets to publish)?"""
        try:
            target = self.service.uploads.target(int(batch["watch_target_id"]))
        except (TypeError, ValueError, LookupError, UpqueueError):
            return False
        return registry.takes_datasets(str(target.get("protocol") or ""))

    def _fill_hashes(self, uploads: list[dict[str, Any]]) -> None:
        """Hash the files the manifest will list, where the uploaded version is still there."""
        found: list[tuple[str, int]] = []
        for upload in uploads:
            if upload["sha256"] or not unchanged(upload):
                continue
            try:
                upload["sha256"] = file_sha256(from_stored(upload["path"]))
            except OSError:
                continue
            found.append((upload["sha256"], upload["id"]))
        if found:
            with self.store.tx():
                for digest, upload_id in found:
                    self.service.uploads.set_sha256(upload_id, digest)


def _datasets_summary(
    batch_id: int,
    folder: str,
    total: int,
    done: int,
    failed: int,
    uploads: list[dict[str, Any]],
    refused: list[dict[str, Any]],
) -> tuple[str, str]:
    """ "12 of 14 datasets published, 2 failed: roads.shp: reason; ..." with every reason."""
    if failed == 0:
        return "Batch published", (
            f"Batch {batch_id} from {folder}: {done:,} of {total:,} datasets published."
        )
    reasons = [
        f"{u['name'].split(' + ')[0]}: {u['error_message'] or u['error_title'] or u['status']}"
        for u in uploads
        if u["status"] in _FAILED
    ] + [f"{os.path.basename(r['path'])}: {r['title']} \u2014 {r['message']}" for r in refused]
    shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    return "Batch finished with failures", (
        f"Batch {batch_id} from {folder}: {done:,} of {total:,} datasets published, "
        f"{failed:,} failed: {shown}"
    )
