"""The worker's one place for upload SQL: reads (:mod:`.reads`) and every status transition
(:mod:`.transitions`), used by the service, the engine, housekeeping, the watcher and batches."""

from upqueue.worker.repository.transitions import UploadRepository

__all__ = ["UploadRepository"]
