"""The engine in-process and deterministic: a scheduler that runs runner tasks inline when the
test says (Huey's execute_next() style), a fake clock for the one timer, a real state.db, the
real service and repository wired as the worker wires them, and a real HTTP server behind a
test-only transport (tests/transports/processing.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from upqueue.core import paths
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.core.transports import registry
from upqueue.worker.engine import Engine
from upqueue.worker.repository import UploadRepository
from upqueue.worker.service import Service
from upqueue.worker.upload_events import FinishedUploads

from tests.fixtures.processing_server import Job, ProcessingServer
from tests.fixtures.tus import make_file
from tests.transports.processing import ProcessingTransport


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class InlineScheduler:
    """The engine's Scheduler: remembers what it was asked, runs it when the test says."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.pending = 0
        self.terminations: list[tuple[int, dict[str, Any], int]] = []
        self.followed: list[str] = []

    def start_runners(self, count: int) -> None:
        self.pending += count

    def terminate(self, upload_id: int, state: dict[str, Any], target_id: int) -> None:
        self.terminations.append((upload_id, state, target_id))

    def follow(self, name: str, follow: Callable[[], None]) -> None:
        self.followed.append(name)
        follow()  # inline: the test stays deterministic

    def execute_next(self) -> bool:
        if not self.pending:
            return False
        self.pending -= 1
        assert self.engine is not None
        self.engine.run_runner()
        return True

    def run_all(self) -> int:
        ran = 0
        while self.execute_next():
            ran += 1
        return ran


class Rig:
    def __init__(self, home: Path) -> None:
        self.clock = FakeClock()
        self.store = Store(home / paths.STATE_DB)
        self.store.set_settings({"retry_base_delay": 10.0, "retry_max_delay": 10.0})
        self.repository = UploadRepository(self.store, clock=self.clock)
        self.finished = FinishedUploads(self.repository)
        self.scheduler = InlineScheduler()
        secrets = SecretStore(home)
        self.engine = Engine(
            self.store,
            self.repository,
            secrets,
            self.scheduler,
            self.finished,
            "test-owner",
            home,
            clock=self.clock,
        )
        self.scheduler.engine = self.engine
        self.service = Service(
            self.store,
            secrets,
            home,
            repository=self.repository,
            engine=self.engine,
            finished=self.finished,
        )

    def row(self, upload_id: int) -> dict[str, Any]:
        return self.service.get_upload(upload_id)["upload"]

    def kinds(self, upload_id: int) -> list[str]:
        return [e["kind"] for e in self.service.get_upload(upload_id)["events"]]

    def close(self) -> None:
        self.engine.shutdown(timeout=1)
        self.service.close()
        self.store.close()


@pytest.fixture
def rig(upqueue_home: Path) -> Iterator[Rig]:
    registry.register(ProcessingTransport)
    made = Rig(upqueue_home)
    yield made
    made.close()
    registry.unregister(ProcessingTransport.name)


@pytest.fixture
def target(rig: Rig, processing_server: ProcessingServer) -> dict[str, Any]:
    return rig.service.add_target(
        {
            "name": "imp",
            "url": processing_server.url,
            "protocol": "test-processing",
            "options": {"region": "x"},
        }
    )


def test_queued_upload_runs_inline_through_processing_to_done(
    rig: Rig, target: dict[str, Any], processing_server: ProcessingServer, tmp_path: Path
) -> None:
    processing_server.auto_finish = "http://maps.example.org/layers/1"
    upload_id = rig.service.add_uploads([str(make_file(tmp_path / "a.bin", 1000))], "imp").ids[0]
    assert rig.scheduler.pending == 1  # adding woke one runner, nothing ran yet
    assert rig.row(upload_id)["status"] == "queued"
    assert rig.scheduler.run_all() == 1
    row = rig.row(upload_id)
    assert (row["status"], row["result_url"]) == ("done", "http://maps.example.org/layers/1")
    assert rig.kinds(upload_id) == ["added", "started", "processing", "done"]
    assert rig.scheduler.followed == [f"follow-{upload_id}"], "followed beside the runner"
    assert rig.service.get_target(target["id"])["options"] == {"region": "x"}


def test_a_transient_failure_waits_for_the_one_timer(
    rig: Rig, target: dict[str, Any], processing_server: ProcessingServer, tmp_path: Path
) -> None:
    processing_server.auto_finish = "http://x/1"
    processing_server.fail_puts = 1
    upload_id = rig.service.add_uploads([str(make_file(tmp_path / "a.bin", 10))], "imp").ids[0]
    rig.scheduler.run_all()
    row = rig.row(upload_id)
    assert row["status"] == "retrying" and row["attempts"] == 1
    due = row["next_attempt_at"]
    assert rig.clock.now + 5 <= due <= rig.clock.now + 10  # backoff with equal jitter
    # Before it is due the timer starts nothing and sleeps until it is.
    sleep = rig.engine.housekeeper.run_once()
    assert rig.scheduler.pending == 0 and sleep == pytest.approx(due - rig.clock.now)
    rig.clock.now = due
    rig.engine.housekeeper.run_once()
    assert rig.scheduler.pending == 1
    rig.scheduler.run_all()
    assert rig.row(upload_id)["status"] == "done"
    assert processing_server.puts == 1


def test_reconcile_requeues_a_lost_send_and_follows_a_lost_processing_again(
    rig: Rig, target: dict[str, Any], processing_server: ProcessingServer, tmp_path: Path
) -> None:
    processing_server.auto_finish = "http://x/done"
    sending, processed = rig.service.add_uploads(
        [str(make_file(tmp_path / "s.bin", 10)), str(make_file(tmp_path / "p.bin", 20))], "imp"
    ).ids
    rig.scheduler.pending = 0
    # As a killed worker left them: one sending, one being processed (its job exists), both
    # leased to an owner that is gone.
    processing_server.jobs[1] = Job("t", ["p.bin"])
    with rig.store.tx():
        rig.store.execute(
            "UPDATE uploads SET status = 'uploading', lease_owner = 'dead',"
            " lease_expires = ? WHERE id = ?",
            (rig.clock.now + 60, sending),
        )
        rig.store.execute(
            "UPDATE uploads SET status = 'processing', lease_owner = 'dead',"
            " lease_expires = ?, remote_state = ? WHERE id = ?",
            (
                rig.clock.now + 60,
                '{"protocol": "test-processing", "token": "t", "job": 1}',
                processed,
            ),
        )
    assert rig.engine.reconcile() == 2
    assert rig.row(sending)["status"] == "queued"
    assert rig.row(processed)["status"] == "processing"  # not sent again: followed again
    processing_server.finish("http://x/p")
    rig.scheduler.run_all()
    assert rig.row(sending)["status"] == rig.row(processed)["status"] == "done"
    assert rig.row(processed)["result_url"] == "http://x/p"
    assert processing_server.puts == 1  # only the lost send went up again
    assert "Following the server's processing again" in [
        e["message"] for e in rig.service.get_upload(processed)["events"]
    ]


def test_auto_cancel_of_a_long_pause_comes_from_the_same_timer(
    rig: Rig, target: dict[str, Any], tmp_path: Path
) -> None:
    rig.store.set_settings({"auto_cancel_paused_after": 30.0})
    upload_id = rig.service.add_uploads([str(make_file(tmp_path / "a.bin", 10))], "imp").ids[0]
    rig.service.act(upload_id, "pause")
    rig.scheduler.pending = 0
    sleep = rig.engine.housekeeper.run_once()
    assert rig.row(upload_id)["status"] == "paused" and sleep <= 30.0
    rig.clock.now += 31
    rig.engine.housekeeper.run_once()
    assert rig.row(upload_id)["status"] == "cancelled"
