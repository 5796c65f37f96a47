"""Batches end to end: the real worker, real watchdog, the real @tus/server.

5,000 files in one drop, a worker killed with SIGKILL in the middle of a batch, the manifest,
and the after-upload actions (move, delete) that must wait for a confirmed upload and never
follow a failure.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.core.watchrules import FileKey
from upqueue.worker.service import Service
from upqueue.worker.watch_runner import WatchRunner
from upqueue.worker.watch_spec import ReadyUnit
from upqueue.worker.watcher import WatchManager

from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from tests.test_watcher import armed, finished_batches, watch_uploads


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def server_uploads(tus_server) -> int:
    """How many uploads the server ever created (@tus/file-store keeps one .json per upload)."""
    return len(list(tus_server.dir.glob("*.json")))


def server_complete_uploads(tus_server) -> dict[str, list[str]]:
    """Complete uploads on the server: file name (from metadata) -> their creation times."""
    complete: dict[str, list[str]] = {}
    for info_path in tus_server.dir.glob("*.json"):
        info = json.loads(info_path.read_text())
        data = info_path.with_suffix("")
        if data.exists() and data.stat().st_size == info["size"]:
            complete.setdefault(info["metadata"]["filename"], []).append(info["creation_date"])
    return complete


def read_manifest(batch: dict[str, Any]) -> list[dict[str, str]]:
    with open(batch["manifest_path"], newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_five_thousand_files_dropped_at_once(
    worker, tus_server, inbox: Path, tmp_path: Path
) -> None:
    api = worker.api
    api.update_settings(concurrency=6)
    api.add_target(name="srv", url=tus_server.url)
    staging = tmp_path / "staging"
    staging.mkdir()
    count = 5000
    for i in range(count):
        (staging / f"scan-{i:05d}.bin").write_bytes(i.to_bytes(4, "big") * 1024)
    watch = armed(api, api.add_watch(path=str(inbox), target="srv", settle_seconds=2.0))
    for entry in os.scandir(staging):  # the drop: every file moved in at once
        os.rename(entry.path, inbox / entry.name)
    batch = wait_for(
        lambda: finished_batches(api, watch["id"]), 150, "the batch to finish", interval=0.5
    )[0]

    assert (batch["state"], batch["total"], batch["done"], batch["failed"]) == (
        "finished",
        count,
        count,
        0,
    )
    assert len(api.batches(watch_id=watch["id"])["batches"]) == 1
    uploads = api.uploads(batch_id=batch["id"])["uploads"]
    assert len(uploads) == count and {u["status"] for u in uploads} == {"done"}
    assert len({u["path"] for u in uploads}) == count  # each file once
    assert server_uploads(tus_server) == count
    sample = uploads[1234]
    assert tus_server.stored_bytes(sample["result_url"]) == Path(sample["path"]).read_bytes()
    # Enqueued in batched transactions: each "Files queued" event is one add_uploads call.
    detail = api.batch(batch["id"])
    queued = [e for e in detail["events"] if e["title"] == "Files queued"]
    counts = [re.match(r"([\d,]+) files?", e["message"]) for e in queued]  # "1,000 files"
    assert sum(int(m.group(1).replace(",", "")) for m in counts if m) == count
    assert len(queued) <= count // 100, f"{len(queued)} submissions for {count} files"
    rows = read_manifest(batch)
    assert len(rows) == count and {r["status"] for r in rows} == {"done"}
    assert rows[7]["sha256"] == hashlib.sha256(Path(rows[7]["file"]).read_bytes()).hexdigest()
    finish_events = [
        e for e in detail["events"] if e["kind"] == "batch" and e["status"] == "finished"
    ]
    assert len(finish_events) == 1 and "5,000 files uploaded" in finish_events[0]["message"]


@pytest.mark.slow
def test_worker_killed_mid_batch_finishes_it_once(worker, tus_server, inbox: Path) -> None:
    api = worker.api
    count, size = 240, 16 << 10
    # Slow enough that the kill lands in the middle: about 60 files a second.
    concurrency = 4
    api.update_settings(bandwidth_limit=1 << 20, concurrency=concurrency)
    api.add_target(name="srv", url=tus_server.url)
    watch = armed(api, api.add_watch(path=str(inbox), target="srv", settle_seconds=0.3))
    for i in range(count):
        make_file(inbox / f"part-{i:03d}.bin", size, seed=i)

    def done_so_far() -> int:
        batches = api.batches(watch_id=watch["id"])["batches"]
        return batches[0]["done"] if batches else 0

    wait_for(lambda: done_so_far() >= 30, 60, "a part of the batch to be done")
    worker.kill9()
    api = worker.start()
    batch = wait_for(
        lambda: finished_batches(api, watch["id"]), 90, "the batch to finish", interval=0.2
    )[0]
    assert (batch["state"], batch["total"], batch["done"], batch["failed"]) == (
        "finished",
        count,
        count,
        0,
    )
    assert len(api.batches(watch_id=watch["id"])["batches"]) == 1
    uploads = watch_uploads(api, watch["id"])
    assert len(uploads) == count and len({u["path"] for u in uploads}) == count
    # Nothing sent twice: one upload per file, and on the server exactly one complete copy of
    # each. The worker creates each upload empty and saves its URL before sending a byte, so a
    # kill can leave at most an empty orphan per running upload (its creation in flight).
    complete = server_complete_uploads(tus_server)
    assert len(complete) == count
    twice = {name: times for name, times in complete.items() if len(times) > 1}
    assert not twice, f"sent twice: {twice}"
    assert server_uploads(tus_server) - count <= concurrency
    for upload in uploads:
        assert tus_server.stored_bytes(upload["result_url"]) == Path(upload["path"]).read_bytes()
    assert len(read_manifest(batch)) == count


def test_after_upload_move_happens_once_the_upload_is_done(
    worker, tus_server, inbox: Path, tmp_path: Path
) -> None:
    api = worker.api
    api.update_settings(bandwidth_limit=512 << 10)
    api.add_target(name="srv", url=tus_server.url)
    sent = inbox / "sent"  # inside the watched folder: moved files must not come back as new ones
    watch = armed(
        api,
        api.add_watch(
            path=str(inbox),
            target="srv",
            recursive=True,
            settle_seconds=0.3,
            after_upload=f"move:{sent}",
        ),
    )
    (inbox / "sub").mkdir()
    big = make_file(inbox / "big.bin", 1_500_000, seed=1)
    small = make_file(inbox / "sub" / "small.bin", 2_000, seed=2)
    expected = {"big.bin": big.read_bytes(), "small.bin": small.read_bytes()}
    uploads: list[dict[str, Any]] = []
    while not (uploads and all(u["status"] == "done" for u in uploads) and len(uploads) == 2):
        present = big.exists()  # look at the file first, then at the status
        uploads = watch_uploads(api, watch["id"])
        statuses = {u["name"]: u["status"] for u in uploads}
        assert present or statuses.get("big.bin") == "done", (
            f"moved before the upload was done: {statuses}"
        )
        time.sleep(0.05)  # poll interval
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 20, "the batch to finish")[0]
    assert (sent / "big.bin").read_bytes() == expected["big.bin"]
    assert (sent / "sub" / "small.bin").read_bytes() == expected["small.bin"]
    assert not big.exists() and not small.exists()
    rows = {Path(r["file"]).name: r for r in read_manifest(batch)}
    assert rows["big.bin"]["sha256"] == hashlib.sha256(expected["big.bin"]).hexdigest()
    # A new file under a moved file's name is a new file.
    make_file(inbox / "big.bin", 3_000, seed=3)
    wait_for(lambda: len(finished_batches(api, watch["id"])) == 2, 30, "the second batch")
    assert (sent / "big (2).bin").stat().st_size == 3_000
    assert len(watch_uploads(api, watch["id"])) == 3
    assert server_uploads(tus_server) == 3


def test_after_upload_delete_never_follows_a_failure(worker, make_tus_server, inbox: Path) -> None:
    api = worker.api
    server = make_tus_server(max_size=100_000)
    api.add_target(name="small-only", url=server.url)
    watch = armed(
        api,
        api.add_watch(
            path=str(inbox), target="small-only", settle_seconds=0.3, after_upload="delete"
        ),
    )
    fits = make_file(inbox / "fits.bin", 50_000, seed=1)
    fits_bytes = fits.read_bytes()
    too_big = make_file(inbox / "too-big.bin", 200_000, seed=2)
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 30, "the batch to finish")[0]
    assert (batch["state"], batch["total"], batch["done"], batch["failed"]) == (
        "finished_with_failures",
        2,
        1,
        1,
    )
    by_name = {u["name"]: u for u in watch_uploads(api, watch["id"])}
    assert by_name["fits.bin"]["status"] == "done" and by_name["too-big.bin"]["status"] == "failed"
    assert not fits.exists(), "a confirmed upload's file is deleted"
    assert too_big.exists() and too_big.stat().st_size == 200_000, (
        "a failed upload's file must stay"
    )
    assert server.stored_bytes(by_name["fits.bin"]["result_url"]) == fits_bytes
    rows = {Path(r["file"]).name: r for r in read_manifest(batch)}
    assert rows["fits.bin"]["status"] == "done" and rows["fits.bin"]["result_url"]
    assert rows["fits.bin"]["sha256"] == hashlib.sha256(fits_bytes).hexdigest()
    assert rows["too-big.bin"]["status"] == "failed" and rows["too-big.bin"]["reason"]
    events = api.batch(batch["id"])["events"]
    final = [e for e in events if e["kind"] == "batch" and e["status"] == "finished_with_failures"]
    assert len(final) == 1 and final[0]["title"] == "Batch finished with failures"
    assert "too-big.bin" in final[0]["message"]


def test_rescan_runs_when_due(upqueue_home: Path, tmp_path: Path) -> None:
    """The periodic rescan, on a real state.db and a real runner, with the clock in the test's hand."""

    class DeafPolling(WatchRunner):
        POLLING_INTERVAL = 3600.0  # no events at all: only a scan can find a file

    store = Store(upqueue_home / "state.db")
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    now = [1000.0]
    manager = WatchManager(service, clock=lambda: now[0], runner_class=DeafPolling)
    service.watches = manager
    manager.start()
    try:
        service.add_target(
            {"name": "srv", "url": "http://127.0.0.1:9/files/"}
        )  # never contacted: no engine
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        watch = manager.add(
            {"path": str(inbox), "target": "srv", "settle_seconds": 0.2, "polling": True}
        )
        wait_for(lambda: manager.get(watch["id"])["state"] == "watching", 10, "watching")
        make_file(inbox / "quiet.bin", 1_000)
        store.set_settings({"rescan_interval": 300})
        now[0] += 299
        assert manager.rescan_if_due() is False
        now[0] += 2
        assert manager.rescan_if_due() is True
        assert manager.rescan_if_due() is False  # not again until another interval passed
        uploads = wait_for(
            lambda: service.list_uploads()["uploads"], 10, "the rescan to queue the file"
        )
        assert [u["name"] for u in uploads] == ["quiet.bin"] and uploads[0]["watch_id"] == watch[
            "id"
        ]
    finally:
        manager.stop()
        store.close()


@pytest.fixture
def manager(upqueue_home: Path):
    """A WatchManager on a real state.db and Service, without an upload engine."""
    store = Store(upqueue_home / "state.db")
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    watches = WatchManager(service)
    service.watches = watches
    watches.start()
    service.add_target({"name": "srv", "url": "http://127.0.0.1:9/files/"})  # never contacted
    yield watches
    watches.stop()
    store.close()


def test_a_file_the_queue_refuses_is_a_failure_of_its_batch(
    manager: WatchManager, inbox: Path
) -> None:
    watch = manager.add({"path": str(inbox), "target": "srv", "settle_seconds": 0.2})
    vanished = str(inbox / "vanished.bin")  # settled, then deleted before it could be queued
    manager.submit(watch["id"], [ReadyUnit(vanished, {vanished: FileKey(10, 1, 1)})])
    manager.round_finished(watch["id"])
    assert manager.batches.wait_idle()
    batch = manager.batches.listing(watch["id"])[0]
    assert (batch["state"], batch["total"], batch["done"], batch["failed"]) == (
        "finished_with_failures",
        1,
        0,
        1,
    )
    (row,) = read_manifest(batch)
    assert (
        row["file"] == vanished
        and row["status"] == "rejected"
        and "File not found" in row["reason"]
    )
    assert manager.batches.rejects(batch["id"])[0]["title"] == "File not found"
    assert not manager.is_new(watch["id"], vanished, FileKey(10, 1, 1))  # not offered again


@pytest.mark.slow
def test_worker_killed_mid_round_keeps_filling_the_same_batch(
    worker, tus_server, inbox: Path
) -> None:
    api = worker.api
    api.add_target(name="srv", url=tus_server.url)
    watch = armed(api, api.add_watch(path=str(inbox), target="srv", settle_seconds=3.0))
    for i in range(60):
        make_file(inbox / f"a-{i:02d}.bin", 4_000, seed=i)
    time.sleep(1.5)  # the second half of the drop arrives later: the writer's pace
    for i in range(60):
        make_file(inbox / f"b-{i:02d}.bin", 4_000, seed=100 + i)

    def first_half_queued() -> bool:
        batches = api.batches(watch_id=watch["id"])["batches"]
        return bool(batches) and batches[0]["total"] == 60

    wait_for(first_half_queued, 20, "the first half to be queued", interval=0.02)
    worker.kill9()
    with sqlite3.connect(worker.home / "state.db") as db:  # what the killed worker had queued
        assert db.execute("SELECT count(*) FROM uploads").fetchone()[0] == 60, "killed too late"
    api = worker.start()
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 60, "the batch to finish")[0]
    assert len(api.batches(watch_id=watch["id"])["batches"]) == 1
    assert (batch["state"], batch["total"], batch["done"], batch["failed"]) == (
        "finished",
        120,
        120,
        0,
    )
    complete = server_complete_uploads(tus_server)
    assert len(complete) == 120
