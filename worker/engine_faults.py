"""What the engine does about faults of issue 13: a reply lost after the last byte, a full disk.

A mixin of worker.engine.Engine, apart so that engine.py stays about the happy path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from core.diskspace import DISK_FULL_TITLE, disk_full_message, is_disk_full
from core.errors import ErrorKind, TransferError
from core.models import EventKind, Status

log = logging.getLogger("worker.engine")

DISK_FULL = "disk_full"  # the stop reason of an upload that waits for disk space


class FaultRecovery:
    """Engine methods for lost answers and a full disk (see worker.engine.Engine)."""

    store: Any
    service: Any
    owner: str
    _lock: threading.Lock
    _controls: dict[int, Any]
    # Engine's own methods; annotated rather than stubbed, so a missing one fails loudly.
    kick: Callable[[], None]
    _finish: Callable[..., None]

    def _sent_before(self, upload: dict[str, Any], client: Any, hooks: Any) -> bool:
        """Every byte went out before the worker stopped, and the answer was lost: ask.

        Some tus servers (tuspyserver, aiohttp-tus) answer HEAD on a finished upload with 400
        or 404. Read as "gone", that would send a second complete copy; it is done instead,
        said plainly. Returns True when the upload was finished here.
        """
        url = upload["remote_url"]
        try:
            head = client.head(url)
        except TransferError as error:
            if error.status not in (400, 404):
                if error.kind == ErrorKind.GONE:  # 403/410: expired or deleted; start over
                    return False
                raise
            self._finish(
                upload, Status.DONE, EventKind.DONE,
                "Done, unconfirmed: every byte was sent, but the server's answer to the last "
                "one was lost (the connection broke or the worker stopped), and the server now "
                f"answers {error.status} for this upload, as some servers do once an upload is "
                f"finished. It was not sent again; check the file on the server ({url}).",
                extra={"offset": upload["size"], "remote_url": url})
            return True
        if head.offset < upload["size"]:  # the last bytes did not arrive: a normal resume
            hooks.all_sent = False
            with self.store.tx():
                self.store.execute("UPDATE uploads SET all_sent = 0 WHERE id = ?", (upload["id"],))
        return False

    def mark_all_sent(self, upload_id: int) -> None:
        with self.store.tx():
            self.store.execute("UPDATE uploads SET all_sent = 1 WHERE id = ?", (upload_id,))

    # -- a full disk ----------------------------------------------------------------------
    def _disk_full(self) -> None:
        with self._lock:
            controls = list(self._controls.values())
        for control in controls:
            control.stop(DISK_FULL)

    def _wait_for_disk(self, upload: dict[str, Any], hooks: Any) -> None:
        """Record the upload as waiting for disk space; it is due again at once, and runners
        claim it as soon as the disk guard sees room."""
        message = (f"Waiting for disk space: {disk_full_message(self.service.data_dir)} "
                   "This upload resumes by itself when there is room.")
        try:
            with self.store.tx():
                self.service.set_status(
                    upload["id"], Status.RETRYING, event=EventKind.RETRYING, message=message,
                    title=DISK_FULL_TITLE,
                    extra={"offset": hooks.offset, "confirmed_offset": hooks.confirmed, "speed": 0,
                           "next_attempt_at": time.time(), "lease_owner": None, "lease_expires": None,
                           "error_title": DISK_FULL_TITLE, "error_message": message},
                    only_from=[Status.UPLOADING.value])
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            # Not even that could be written: the row stays "uploading" under our lease, and
            # _disk_space_back queues it again.
            log.warning("upload %s: waiting for disk space (could not record it)", upload["id"])

    def _disk_space_back(self) -> None:
        with self._lock:
            live = set(self._controls)
        with self.store.tx():
            rows = self.store.query("SELECT id FROM uploads WHERE status = ? AND lease_owner = ?",
                                    (Status.UPLOADING.value, self.owner))
            for row in rows:
                if row["id"] not in live:
                    self.service.set_status(
                        row["id"], Status.QUEUED, event=EventKind.REQUEUED,
                        message="Disk space is back; resuming from the server's offset",
                        extra={"lease_owner": None, "lease_expires": None, "speed": 0})
        self.kick()
