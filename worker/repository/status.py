"""The one generic transition (a status change with its history event) and the plain column
write every other layer of the repository builds on."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from upqueue.core.models import Status
from upqueue.core.store import Store, now_iso
from upqueue.worker.repository.reads import UploadReads

RUNNING = (Status.UPLOADING.value, Status.PROCESSING.value)
# What an upload that is no longer running leaves behind: no speed, no lease, no wake-up.
SETTLED = {"speed": 0, "lease_owner": None, "lease_expires": None, "next_attempt_at": None}


class StatusWrites(UploadReads):
    """Args:
    store: state.db (the worker is its only writer).
    clock: wall-clock seconds (tests pass a fake one).
    """

    def __init__(self, store: Store, clock: Any = time.time) -> None:
        super().__init__(store, clock)

    # -- the one generic transition -----------------------------------------------------------
    def set_status(
        self,
        upload_id: int,
        status: Status,
        *,
        event: str,
        message: str = "",
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        only_from: Iterable[str] | None = None,
    ) -> bool:
        """One state transition with its event. Returns False (and changes nothing) when
        ``only_from`` is given and the upload is not in one of those states."""
        columns = {
            "status": status.value,
            "updated_at": now_iso(),
            "change_seq": self.store.next_seq(),
        }
        columns.update(extra or {})
        sets = ", ".join(f'"{key}" = ?' for key in columns)
        params: list[Any] = [*columns.values(), upload_id]
        guard = ""
        if only_from is not None:
            states = list(only_from)
            guard = f" AND status IN ({', '.join('?' * len(states))})"
            params += states
        cur = self.store.execute(f"UPDATE uploads SET {sets} WHERE id = ?{guard}", params)
        if cur.rowcount == 0:
            return False
        self.store.add_event(event, message, upload_id=upload_id, status=status.value, title=title)
        return True

    def _touch(
        self, upload_id: int, columns: dict[str, Any], *, only_status: str | None = None
    ) -> None:
        columns = {**columns, "change_seq": self.store.next_seq(), "updated_at": now_iso()}
        sets = ", ".join(f'"{key}" = ?' for key in columns)
        guard = " AND status = ?" if only_status else ""
        params = [*columns.values(), upload_id, *([only_status] if only_status else [])]
        self.store.execute(f"UPDATE uploads SET {sets} WHERE id = ?{guard}", params)
