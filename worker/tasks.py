"""The Huey side: the queue instance, the tasks, and the periodic jobs.

Huey is the wake-up signal, not the truth (state.db is): its queue is flushed at every start and
rebuilt from state.db, because a task popped by a worker that was then killed is gone from Huey.
Keep the Huey instance behind :func:`make_huey` so that moving to RedisHuey for several worker
machines stays a configuration change.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from huey import SqliteHuey, crontab

from core.paths import QUEUE_DB, private_file

log = logging.getLogger(__name__)


def make_huey(data_dir: Path, *, immediate: bool = False) -> SqliteHuey:
    """The queue: SQLite in the data directory, no results kept (outcomes live in state.db)."""
    path = private_file(Path(data_dir) / QUEUE_DB)
    return SqliteHuey(name="upqueue", filename=str(path), results=False, store_none=False, utc=True,
                      immediate=immediate)


class HueyScheduler:
    """Registers upqueue's tasks on ``huey`` and implements the engine's Scheduler with them.

    Args:
        huey: the queue.
        context: an object whose ``engine`` and ``service`` attributes the tasks use; set later
            by the runtime (the tasks are registered before the engine exists).
    """

    def __init__(self, huey: SqliteHuey, context: Any):
        self.huey = huey

        @huey.task(name="upqueue.run_uploads")
        def run_uploads() -> None:
            context.engine.run_runner()

        @huey.task(name="upqueue.dispatch")
        def dispatch() -> None:
            context.engine.kick()

        @huey.task(name="upqueue.terminate")
        def terminate(upload_id: int, url: str, target_id: int) -> None:
            context.engine.terminate_task(upload_id, url, target_id)

        @huey.periodic_task(crontab(minute="*"), name="upqueue.reconcile")
        def reconcile() -> None:
            context.engine.reconcile()

        @huey.periodic_task(crontab(minute="*"), name="upqueue.rescan_watches")
        def rescan_watches() -> None:
            watches = getattr(context.service, "watches", None)
            if watches is not None:
                watches.rescan_if_due()

        self._run_uploads, self._dispatch, self._terminate = run_uploads, dispatch, terminate

    def start_runners(self, count: int) -> None:
        for _ in range(count):
            self._run_uploads()

    def dispatch_at(self, when: float) -> None:
        self._dispatch.schedule(delay=max(0.0, when - time.time()))

    def terminate(self, upload_id: int, url: str, target_id: int) -> None:
        self._terminate(upload_id, url, target_id)
