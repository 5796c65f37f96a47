"""Who hears that an upload finished: batches, after-upload actions. The engine and the service
both tell it; neither knows who listens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from upqueue.worker.repository.reads import UploadReads

log = logging.getLogger(__name__)


class FinishedUploads:
    """Args:
        reads: to give listeners the finished upload's row.
    """

    def __init__(self, reads: UploadReads) -> None:
        self._reads = reads
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._notifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")

    def fire(self, upload_id: int) -> None:
        """Tell every listener now, on this thread."""
        row = self._reads.find(upload_id)
        if row is None:
            return
        for listener in list(self.listeners):
            try:
                listener(row)
            except Exception:  # a listener's bug must not stop the upload engine
                log.exception("finished-listener failed for upload %s", upload_id)

    def fire_later(self, upload_id: int) -> None:
        """Tell listeners on the notifier thread: it needs the store, so it naturally waits
        until the caller's transaction has committed, and listeners see events in order."""
        self._notifier.submit(self.fire, upload_id)

    def close(self) -> None:
        """Let queued notifications finish (the runtime calls this as the worker stops)."""
        self._notifier.shutdown(wait=True)
