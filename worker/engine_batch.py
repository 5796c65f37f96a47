"""Small new files several at a time: a runner that claims one leases more of the same target
in the same go, and its transport sends them together (Transport.send_many: where the protocol
allows, their requests pipelined on one connection, and one durable save of their state).

Per file this is what the one-file path writes (the same claim, URL save and outcome, with
their history events), in three transactions per batch rather than three per file. What the
batch did not finish (a refusal, a lost answer, a stop, a changed file) then runs the usual
way, one upload at a time, from the state saved for it: the usual messages, retries and
resume, and exactly-once as for any upload. A creation the server refused is recorded as that
upload's failed attempt, as the one-file path records it (the server is not asked twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from upqueue.core.bandwidth import TokenBucket
from upqueue.core.errors import TransferError
from upqueue.core.models import Status
from upqueue.core.store import Store
from upqueue.core.transports.base import RemoteState, Sent
from upqueue.worker.engine_hooks import Control, UploadHooks
from upqueue.worker.engine_outcomes import Outcomes, done_columns
from upqueue.worker.engine_retry import FailedAttempts
from upqueue.worker.engine_targets import TargetCache, Targets
from upqueue.worker.repository import UploadRepository

log = logging.getLogger("upqueue.worker.engine")

_SETTLED_BY_BATCH = (Status.DONE.value, Status.FAILED.value, Status.RETRYING.value)


class SmallBatches:
    """Mixed into Engine; uses its ``_lock`` (over ``_controls``), ``store``, ``repository``,
    ``targets``, ``bandwidth``, ``outcomes``, ``failed_attempts``, ``owner``, ``_lease_until``,
    ``_hooks_for`` and ``run_upload``."""

    _lock: threading.Lock
    _controls: dict[int, Control]
    store: Store
    repository: UploadRepository
    targets: Targets
    bandwidth: TokenBucket
    outcomes: Outcomes
    failed_attempts: FailedAttempts
    owner: str
    _lease_until: Callable[[], float]
    _hooks_for: Callable[[dict[str, Any], Control], UploadHooks]
    run_upload: Callable[[dict[str, Any]], None]

    def run_claimed(self, upload: dict[str, Any]) -> None:
        """Run a claimed upload: with more of its kind when it is a small new file."""
        batch = self._small_batch(upload)
        if not batch:
            self.run_upload(upload)
            return
        try:
            self._send_batch(batch)
        finally:
            # The usual way, one by one, from what the batch saved, for what it did not settle
            # (a stop included: that way releases it, and a cancel deletes the server's copy).
            for row in batch:
                with self._lock:
                    if row["id"] not in self._controls:
                        continue
                fresh = self.repository.find(row["id"]) or row
                if fresh["status"] in _SETTLED_BY_BATCH:  # recorded, then something raised
                    with self._lock:
                        self._controls.pop(row["id"], None)
                    continue
                self.run_upload(fresh)

    def _small_batch(self, upload: dict[str, Any]) -> list[dict[str, Any]]:
        """The upload and more like it, leased now; empty when it does not go in a batch."""
        size = int(upload["size"] or 0)
        if upload["status"] != Status.QUEUED.value or upload["remote_state"] or size <= 0:
            return []
        if self.bandwidth.block_hint():  # a bandwidth limit: paced one block at a time
            return []
        try:
            with self.targets.using(upload["target_id"]) as cached:
                transport = cached.transport
                chunk = cached.target.get("chunk_size") or int(self.store.setting("chunk_size"))
        except Exception:  # noqa: BLE001 - the usual way meets it and says what it is
            return []
        limit = transport.small_file_limit
        if chunk:
            limit = min(limit, int(chunk))
        if size > limit or transport.small_batch_files <= 1:
            return []
        if len(self.repository.job(upload, None).files) != 1:
            return []
        with self._lock:  # a control exists before anyone can see an upload running
            try:
                more = self.repository.claim_small(
                    self.owner,
                    self._lease_until(),
                    upload["target_id"],
                    limit,
                    transport.small_batch_files - 1,
                )
            except Exception:  # noqa: BLE001 - a full disk: the upload alone meets it as usual
                return []
            for row in more:
                self._controls[row["id"]] = Control()
        return [upload, *more]

    def _send_batch(self, batch: list[dict[str, Any]]) -> None:
        """Send the batch and record what it settled (their controls go)."""
        with self._lock:
            controls = [self._controls[row["id"]] for row in batch]
        hooks = [self._hooks_for(row, control) for row, control in zip(batch, controls)]
        with self.targets.using(batch[0]["target_id"]) as cached:
            results = self._send_many(cached, batch, hooks)
        finished = [
            (
                row["id"],
                sent.message,
                done_columns(int(row["size"]), sent.result_url, sent.remote_state),
            )
            for row, sent in zip(batch, results)
            if isinstance(sent, Sent)
        ]
        if finished:
            for upload_id in self.repository.finish_done(finished):
                self.outcomes.finished.fire(upload_id)
        refused = [
            (row, r, h) for row, r, h in zip(batch, results, hooks) if isinstance(r, TransferError)
        ]
        if refused:
            self.targets.forget_caps(batch[0]["target_id"])  # the server may have changed
        for row, error, row_hooks in refused:  # as a one-file attempt records its failure
            self.failed_attempts.record(row, error, row_hooks)
        with self._lock:
            for row, result in zip(batch, results):
                if result is not None:
                    self._controls.pop(row["id"], None)

    def _send_many(
        self, cached: TargetCache, batch: list[dict[str, Any]], hooks: list[UploadHooks]
    ) -> list[Sent | TransferError | None]:
        jobs = [self.repository.job(row, None) for row in batch]

        def save_states(saves: list[tuple[int, RemoteState, str | None]]) -> None:
            self.repository.save_remote_states(
                [(batch[index]["id"], state, url) for index, state, url in saves]
            )

        try:
            if cached.caps is None:
                cached.caps = cached.transport.probe()
            return cached.transport.send_many(jobs, hooks, cached.caps, save_states)
        except Exception as exc:  # noqa: BLE001 - each upload then meets it the usual way
            log.info("a batch of %d small uploads goes one by one: %s", len(batch), exc)
            return [None] * len(batch)
