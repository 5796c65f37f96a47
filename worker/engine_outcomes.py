"""How an upload's attempt ends, in its row: done, failed or cancelled for good (and whoever
waits for finished uploads told), stopped (released, or waiting for disk space), and on a
cancel the server's copy deleted.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from upqueue.core.models import EventKind, Status
from upqueue.core.transports.base import NotSupported, RemoteState
from upqueue.worker.engine_faults import DISK_FULL, DiskWaits
from upqueue.worker.engine_hooks import UploadHooks
from upqueue.worker.engine_targets import Targets
from upqueue.worker.repository import UploadRepository

log = logging.getLogger("upqueue.worker.engine")


class FinishedListener(Protocol):
    """Told once an upload reached done, failed or cancelled (batches, after-upload actions)."""

    def fire(self, upload_id: int) -> None: ...


def done_columns(size: int, result_url: str | None, state: RemoteState | None) -> dict[str, Any]:
    """What a done upload's row keeps: every byte, where it is, the protocol's last state."""
    return {
        "offset": size,
        "result_url": result_url,
        "remote_state": json.dumps(state) if state is not None else None,
    }


class Outcomes:
    """Args:
    repository: the upload SQL and transitions.
    finished: told about uploads that finished.
    disk_waits: where uploads stopped by a full disk wait.
    targets: the targets' transports (a cancel deletes the server's copy through one).
    """

    def __init__(
        self,
        repository: UploadRepository,
        finished: FinishedListener,
        disk_waits: DiskWaits,
        targets: Targets,
    ) -> None:
        self.repository, self.finished = repository, finished
        self.disk_waits, self.targets = disk_waits, targets

    def done(
        self,
        upload: dict[str, Any],
        message: str,
        result_url: str | None,
        state: RemoteState | None,
        size: int,
    ) -> None:
        self.finish(
            upload,
            Status.DONE,
            EventKind.DONE,
            message,
            extra=done_columns(size, result_url, state),
        )

    def finish(
        self,
        upload: dict[str, Any],
        status: Status,
        event: str,
        message: str,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self.repository.finish(upload["id"], status, event, message, title=title, extra=extra):
            self.finished.fire(upload["id"])

    def stopped(self, upload: dict[str, Any], reason: str, hooks: UploadHooks) -> None:
        if reason == DISK_FULL:
            self.disk_waits.wait_for_disk(upload, hooks.offset, hooks.confirmed)
            return
        self.repository.release(
            upload["id"], hooks.offset, hooks.confirmed, shutdown=reason == "shutdown"
        )
        # A cancel during processing only stops following: the bytes are the server's now.
        if reason == "cancel" and hooks.remote_state and not hooks.processing:
            self.terminate_now(upload["id"], hooks.remote_state, upload["target_id"])

    def terminate_now(self, upload_id: int, state: RemoteState, target_id: int) -> None:
        left_there = False
        try:
            with self.targets.using(target_id) as cached:
                cached.transport.terminate(state)
            message = "The server's copy was deleted"
        except NotSupported as exc:
            message, left_there = f"The server's copy was left there: {exc.message}", True
        except Exception as exc:  # noqa: BLE001 - the cancel stands either way; say what happened
            message = f"Could not delete the server's copy: {getattr(exc, 'message', exc)}"
            log.warning("terminate of upload %s failed: %s", upload_id, exc)
        self.repository.forget_remote(upload_id, message, left_there=left_there)
