"""The Huey side: the queue instance, the tasks, and the periodic jobs.

Huey is the wake-up signal, not the truth (state.db is): its queue is flushed at every start and
rebuilt from state.db, because a task popped by a worker that was then killed is gone from Huey.
It runs the runner tasks and deferred terminations; *when* due work runs is the engine's one
timer's business (worker/housekeeping.py), read from state.db. Keep the Huey instance behind
:func:`make_huey` so that moving to RedisHuey for several worker machines stays a configuration
change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from huey import SqliteHuey, crontab
from huey.storage import SqliteStorage
from upqueue.core.paths import QUEUE_DB, private_file
from upqueue.core.transports.base import RemoteState

log = logging.getLogger(__name__)


class WakingSqliteStorage(SqliteStorage):
    """Huey's SQLite queue, with a dequeue that waits to be told of a new task.

    Huey's consumer polls a non-blocking queue, sleeping up to its ``max_delay`` between
    looks, so a task enqueued while its workers sleep waits that long: a person's file, or
    the runner a raised concurrency adds, could start up to half a second late.
    Every task of upqueue is enqueued in the worker process itself (the engine's kicks, Huey's
    own scheduler thread), so a condition in this process wakes a waiting worker at once. The
    wait is bounded, so the consumer still sees its stop flag and a task that came another way.
    """

    blocking = True  # the consumer calls dequeue() again at once instead of sleeping
    wait_seconds = 0.5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arrived = threading.Condition()
        self._enqueued = 0  # counts every enqueue: a wait skips when one came since the look

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        super().enqueue(data, priority)
        with self._arrived:
            self._enqueued += 1
            self._arrived.notify()

    def dequeue(self) -> bytes | None:
        """A task, or None after one bounded wait (woken or not): the consumer calls again."""
        with self._arrived:
            seen = self._enqueued
        data: bytes | None = super().dequeue()
        if data is not None:
            return data
        with self._arrived:
            # Nothing came since the look: wait to be told (a timeout looks again next call).
            if self._enqueued == seen and not self._arrived.wait(self.wait_seconds):
                return None
        again: bytes | None = super().dequeue()
        return again

    def wake_all(self) -> None:
        """Let every waiting worker look again now (the consumer is stopping)."""
        with self._arrived:
            self._enqueued += 1
            self._arrived.notify_all()


class _WakingSqliteHuey(SqliteHuey):
    storage_class = WakingSqliteStorage


def make_huey(data_dir: Path, *, immediate: bool = False) -> SqliteHuey:
    """The queue: SQLite in the data directory, no results kept (outcomes live in state.db)."""
    path = private_file(Path(data_dir) / QUEUE_DB)
    return _WakingSqliteHuey(
        name="upqueue",
        filename=str(path),
        results=False,
        store_none=False,
        utc=True,
        immediate=immediate,
    )


class TaskRunner(Protocol):
    """What the tasks call: the engine."""

    def run_runner(self) -> None: ...
    def terminate_task(self, upload_id: int, state: RemoteState, target_id: int) -> None: ...


class HueyScheduler:
    """Registers upqueue's tasks on ``huey`` and implements the engine's Scheduler with them.

    The tasks are registered before the engine exists (the engine needs the scheduler), so
    :meth:`bind` names the engine once it is made; a task before that is a bug, said loudly.

    Args:
        huey: the queue.
        rescan_watches: called every minute (the watched folders' periodic rescan).
    """

    def __init__(self, huey: SqliteHuey, rescan_watches: Callable[[], None] = lambda: None) -> None:
        self.huey = huey
        self._engine: TaskRunner | None = None

        @huey.task(name="upqueue.run_uploads")
        def run_uploads() -> None:
            self._bound().run_runner()

        @huey.task(name="upqueue.terminate")
        def terminate(upload_id: int, state: RemoteState, target_id: int) -> None:
            self._bound().terminate_task(upload_id, state, target_id)

        @huey.periodic_task(crontab(minute="*"), name="upqueue.rescan_watches")
        def rescan() -> None:
            rescan_watches()

        self._run_uploads, self._terminate = run_uploads, terminate

    def bind(self, engine: TaskRunner) -> None:
        self._engine = engine

    def _bound(self) -> TaskRunner:
        if self._engine is None:
            raise RuntimeError("a task ran before the engine was bound to the scheduler")
        return self._engine

    def start_runners(self, count: int) -> None:
        for _ in range(count):
            self._run_uploads()

    def terminate(self, upload_id: int, state: RemoteState, target_id: int) -> None:
        self._terminate(upload_id, state, target_id)

    def follow(self, name: str, follow: Callable[[], None]) -> None:
        # A thread of its own, not a Huey task: a task would hold one of Huey's workers, the
        # very slot that following a long import must leave to the transfers.
        threading.Thread(target=follow, name=name, daemon=True).start()


__all__ = ["HueyScheduler", "WakingSqliteStorage", "make_huey"]
