"""The worker's Huey queue wakes a waiting worker when a task is enqueued, instead of leaving it
asleep until its next poll (a person's first file, and every lull among small files)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from upqueue.worker.tasks import WakingSqliteStorage, make_huey


def _storage(tmp_path: Path, wait: float) -> WakingSqliteStorage:
    huey = make_huey(tmp_path)
    storage = huey.storage
    assert isinstance(storage, WakingSqliteStorage)
    storage.wait_seconds = wait
    return storage


def test_the_consumer_does_not_poll_this_queue(tmp_path: Path) -> None:
    # Huey's worker sleeps between looks at a non-blocking queue; this one waits in dequeue.
    assert _storage(tmp_path, 0.5).blocking is True


def test_a_waiting_dequeue_returns_a_task_enqueued_meanwhile(tmp_path: Path) -> None:
    # The wait is far longer than the test may take: only the wake-up can end it in time.
    storage = _storage(tmp_path, wait=60.0)
    got: list[bytes | None] = []
    waiter = threading.Thread(target=lambda: got.append(storage.dequeue()), daemon=True)
    waiter.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not storage._arrived._waiters:  # type: ignore[attr-defined]
        time.sleep(0.005)  # until the waiter is parked in its wait
    assert storage._arrived._waiters, "the dequeue did not wait for a task"  # type: ignore[attr-defined]
    storage.enqueue(b"task")
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "the enqueue did not wake the waiting dequeue"
    assert got == [b"task"]


def test_an_empty_queue_answers_none_after_its_bounded_wait(tmp_path: Path) -> None:
    storage = _storage(tmp_path, wait=0.05)
    assert storage.dequeue() is None  # the consumer then sees its stop flag


def test_wake_all_ends_every_wait(tmp_path: Path) -> None:
    storage = _storage(tmp_path, wait=60.0)
    results: list[bytes | None] = []
    waiters = [
        threading.Thread(target=lambda: results.append(storage.dequeue()), daemon=True)
        for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(storage._arrived._waiters) < 3:  # type: ignore[attr-defined]
        time.sleep(0.005)
    # A wake with nothing queued (the consumer stopping): each looks again and returns.
    storage.wake_all()
    for waiter in waiters:
        waiter.join(timeout=10)
    assert not any(w.is_alive() for w in waiters)
    assert results == [None, None, None]
