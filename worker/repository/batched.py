"""The engine's transitions for several small uploads at once (worker/engine_batch.py): one
transaction to lease them, one durable one for their server uploads, one to finish them.

Each does per upload what its one-upload counterpart in :mod:`.transitions` does (the same
columns, guards and history events): only the number of commits (and of fsyncs) changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from upqueue.core.models import EventKind, Status
from upqueue.core.store import now_iso
from upqueue.core.transports.base import RemoteState
from upqueue.worker.repository.asked import AskedTransitions
from upqueue.worker.repository.status import RUNNING, SETTLED

# How far down the queue a batch looks for more small files of its target: a bounded read
# per claim, however many other uploads wait.
LOOK_AHEAD = 64


class BatchedTransitions(AskedTransitions):
    def claim_small(
        self, owner: str, lease_until: float, target_id: int, max_size: int, limit: int
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` queued uploads of ``target_id`` that are one new file of at
        most ``max_size`` bytes, from the next LOOK_AHEAD queued; their rows as they were.
        Opens its own transaction."""
        if limit <= 0:
            return []
        claimed: list[dict[str, Any]] = []
        with self.store.tx():
            rows = self.store.query(
                "SELECT * FROM (SELECT * FROM uploads WHERE status = ? ORDER BY id LIMIT ?) AS q"
                " WHERE target_id = ? AND remote_state IS NULL AND size > 0 AND size <= ?"
                " AND NOT EXISTS (SELECT 1 FROM upload_members m WHERE m.upload_id = q.id)"
                " ORDER BY id LIMIT ?",
                (Status.QUEUED.value, LOOK_AHEAD, target_id, max_size, limit),
            )
            for row in rows:
                if self._start_sending(row, owner, lease_until, only_from=[Status.QUEUED.value]):
                    claimed.append(row)
        return claimed

    def save_remote_states(self, saves: list[tuple[int, RemoteState, str | None]]) -> None:
        """(upload id, state, result URL) for new server uploads, each announced in its history:
        one transaction written through to the disk (see save_remote_state)."""
        with self.store.tx(durable=True):
            for upload_id, state, result_url in saves:
                self._keep_remote_state(upload_id, state, result_url, 0, announce=True)

    def finish_done(self, finished: list[tuple[int, str, dict[str, Any]]]) -> list[int]:
        """(upload id, message, columns) of uploads that are done, as ``finish`` records each;
        the ids that were still running (a pause or a removal meanwhile stays). One transaction."""
        done: list[int] = []
        with self.store.tx():
            for upload_id, message, extra in finished:
                if self._finished(upload_id, Status.DONE, EventKind.DONE, message, extra=extra):
                    done.append(upload_id)
        return done

    # -- what one upload's transition and a batch's share; call inside ``store.tx()`` --------
    def _start_sending(
        self,
        row: dict[str, Any],
        owner: str,
        lease_until: float,
        *,
        only_from: Iterable[str] | None = None,
    ) -> bool:
        """Leased to ``owner`` and uploading, with its "Starting" (or "Resuming") event."""
        extra: dict[str, Any] = {
            "lease_owner": owner,
            "lease_expires": lease_until,
            "next_attempt_at": None,
            "speed": 0,
        }
        if not row["started_at"]:
            extra["started_at"] = now_iso()
        message = (
            "Starting" if not row["remote_state"] else "Resuming: asking the server what it has"
        )
        return self.set_status(
            row["id"],
            Status.UPLOADING,
            event=EventKind.STARTED,
            message=message,
            extra=extra,
            only_from=only_from,
        )

    def _keep_remote_state(
        self,
        upload_id: int,
        state: RemoteState | None,
        result_url: str | None,
        confirmed: int,
        announce: bool,
    ) -> None:
        """The protocol's state, the server's address and what it confirmed; a new server
        upload announced in the history."""
        self._touch(
            upload_id,
            {
                "remote_state": json.dumps(state) if state is not None else None,
                "result_url": result_url,
                "confirmed_offset": confirmed,
            },
        )
        if announce and result_url:
            self.store.add_event(
                EventKind.INFO, f"Server upload created: {result_url}", upload_id=upload_id
            )

    def _finished(
        self,
        upload_id: int,
        status: Status,
        event: str,
        message: str,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Done or failed, from uploading or processing (False: it no longer was)."""
        columns = {**SETTLED, "finished_at": now_iso(), **(extra or {})}
        if status == Status.FAILED:
            columns.update(error_title=title, error_message=message)
        return self.set_status(
            upload_id,
            status,
            event=event,
            message=message,
            title=title,
            extra=columns,
            only_from=RUNNING,
        )
