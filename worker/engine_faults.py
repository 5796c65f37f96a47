"""What the engine does about a full disk (issue 13): uploads stop as "waiting for disk space"
and start again by themselves once the disk guard sees room.

(The other fault of issue 13 handled here once, a reply lost after the last byte, belongs to
the protocol now: its transport keeps the flag in the upload's remote state.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from upqueue.core.diskspace import DISK_FULL_TITLE, disk_full_message, is_disk_full
from upqueue.worker.engine_hooks import DISK_FULL
from upqueue.worker.repository import UploadRepository

log = logging.getLogger("upqueue.worker.engine")

__all__ = ["DISK_FULL", "DiskWaits"]


class DiskWaits:
    """Args:
        repository: the upload SQL and transitions.
        data_dir: the data directory (named in the message).
        owner: the engine's lease owner name.
        live: the ids of the uploads the engine runs now.
        stop_all: stops every running upload with a reason.
        kick: starts runners for due work.
    """

    def __init__(self, repository: UploadRepository, data_dir: str, owner: str,
                 live: Callable[[], set[int]], stop_all: Callable[[str], None],
                 kick: Callable[[], None]) -> None:
        self.repository, self.data_dir, self.owner = repository, data_dir, owner
        self._live, self._stop_all, self._kick = live, stop_all, kick

    def disk_full(self) -> None:
        self._stop_all(DISK_FULL)

    def wait_for_disk(self, upload: dict[str, Any], offset: int, confirmed: int) -> None:
        """Record the upload as waiting for disk space; it is due again at once, and runners
        claim it as soon as the disk guard sees room."""
        message = (f"Waiting for disk space: {disk_full_message(self.data_dir)} "
                   "This upload resumes by itself when there is room.")
        try:
            self.repository.wait_for_disk(upload["id"], offset, confirmed, DISK_FULL_TITLE, message)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            # Not even that could be written: the row stays "uploading" under our lease, and
            # disk_space_back queues it again.
            log.warning("upload %s: waiting for disk space (could not record it)", upload["id"])

    def disk_space_back(self) -> None:
        self.repository.requeue_unrun(self.owner, self._live(),
                                      "Disk space is back; resuming from the server's offset")
        self._kick()
