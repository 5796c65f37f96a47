"""The processing stage, through the real worker process, with a transport that exists only in
the tests (tests/transports/processing.py, loaded by the worker through UPQUEUE_TRANSPORTS)
against a server whose processing the test drives (tests/fixtures/processing_server.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from upqueue.core.api_client import ApiError

from tests.fixtures.processing_server import ProcessingServer
from tests.fixtures.tus import make_file
from tests.fixtures.worker import FAST_SETTINGS, WorkerProcess, wait_for

PLUGIN = "tests.transports.processing"


@pytest.fixture
def proc_worker(make_worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch) -> WorkerProcess:
    monkeypatch.setenv("UPQUEUE_TRANSPORTS", PLUGIN)
    make_worker.start()
    make_worker.settings(**FAST_SETTINGS)
    return make_worker


def upload_of(worker: WorkerProcess, upload_id: int) -> dict:
    return worker.api.upload(upload_id)["upload"]


def add_one(worker: WorkerProcess, server: ProcessingServer, path: Path) -> int:
    worker.api.add_target(name="imp", url=server.url, protocol="test-processing")
    return worker.api.add_uploads([str(path)], "imp")["ids"][0]


def processing(worker: WorkerProcess, upload_id: int, progress: float | None = None) -> dict:
    def reached() -> dict | None:
        row = upload_of(worker, upload_id)
        if row["status"] != "processing":
            return None
        return row if progress is None or row["processing_progress"] == progress else None

    return wait_for(reached, 30, f"upload {upload_id} to be processing ({progress})")


def test_processing_is_shown_with_the_servers_progress_then_done_with_its_link(
    proc_worker: WorkerProcess, processing_server: ProcessingServer, tmp_path: Path, capsys
) -> None:
    from upqueue.core import cli

    src = make_file(tmp_path / "roads.tif", 200_000, seed=1)
    upload_id = add_one(proc_worker, processing_server, src)
    row = processing(proc_worker, upload_id)
    assert row["offset"] == row["size"] == 200_000
    job = processing_server.job()
    assert processing_server.stored(job.token, "roads.tif").read_bytes() == src.read_bytes()

    processing_server.advance(40, "Importing roads")
    row = processing(proc_worker, upload_id, 40)
    assert row["processing_message"] == "Importing roads"
    assert cli.run(["ls"]) == 0
    assert "Processing 40 %: Importing roads" in capsys.readouterr().out
    assert cli.run(["show", str(upload_id)]) == 0
    assert "Processing 40 %: Importing roads" in capsys.readouterr().out

    processing_server.finish("http://maps.example.org/layers/roads")
    row = wait_for(
        lambda: (r := upload_of(proc_worker, upload_id))["status"] == "done" and r, 30, "done"
    )
    assert row["result_url"] == "http://maps.example.org/layers/roads"
    events = proc_worker.api.upload(upload_id)["events"]
    assert any(
        e["kind"] == "processing" and "Importing roads" in (e["message"] or "") for e in events
    ), events
    assert events[-1]["kind"] == "done"
    assert processing_server.puts == 1 and len(processing_server.jobs) == 1


def test_a_failed_import_fails_the_upload_with_the_servers_reason(
    proc_worker: WorkerProcess, processing_server: ProcessingServer, tmp_path: Path
) -> None:
    upload_id = add_one(proc_worker, processing_server, make_file(tmp_path / "x.gpkg", 10))
    processing(proc_worker, upload_id)
    processing_server.fail("Unknown projection: add a .prj")
    row = wait_for(
        lambda: (r := upload_of(proc_worker, upload_id))["status"] == "failed" and r, 30, "failed"
    )
    assert (row["error_title"], row["error_message"]) == (
        "Import failed",
        "Unknown projection: add a .prj",
    )
    # A retry sends the file again (a new job), not following the failed one.
    proc_worker.api.action(upload_id, "retry")
    wait_for(lambda: len(processing_server.jobs) == 2, 30, "a second job")
    processing_server.finish("http://maps.example.org/layers/x")
    row = wait_for(
        lambda: (r := upload_of(proc_worker, upload_id))["status"] == "done" and r,
        30,
        "done after the retry",
    )
    assert processing_server.puts == 2


def test_kill_9_while_processing_follows_the_same_job_after_the_restart(
    proc_worker: WorkerProcess, processing_server: ProcessingServer, tmp_path: Path
) -> None:
    upload_id = add_one(proc_worker, processing_server, make_file(tmp_path / "a.bin", 50_000))
    processing(proc_worker, upload_id)
    processing_server.advance(10, "Queued on the server")
    processing(proc_worker, upload_id, 10)
    proc_worker.kill9()
    polls = processing_server.job().polls

    proc_worker.start()
    processing_server.advance(70, "Writing tiles")
    row = processing(proc_worker, upload_id, 70)
    assert processing_server.job().polls > polls
    processing_server.finish("http://maps.example.org/layers/a")
    row = wait_for(
        lambda: (r := upload_of(proc_worker, upload_id))["status"] == "done" and r, 30, "done"
    )
    assert row["result_url"] == "http://maps.example.org/layers/a"
    # Nothing went up twice: one PUT, one job.
    assert processing_server.puts == 1 and len(processing_server.jobs) == 1


def test_cancel_during_processing_stops_following_and_says_the_server_may_finish(
    proc_worker: WorkerProcess, processing_server: ProcessingServer, tmp_path: Path
) -> None:
    upload_id = add_one(proc_worker, processing_server, make_file(tmp_path / "b.bin", 1000))
    processing(proc_worker, upload_id)
    with pytest.raises(ApiError) as refused:
        proc_worker.api.action(upload_id, "pause")  # this protocol cannot pause its processing
    assert refused.value.status == 409 and "cannot be paused" in refused.value.message
    proc_worker.api.action(upload_id, "cancel")
    row = upload_of(proc_worker, upload_id)
    assert row["status"] == "cancelled"
    events = proc_worker.api.upload(upload_id)["events"]
    assert "the server may still finish" in events[-1]["message"]
    # The follow stops: in a second the server is asked no more (it polls every 0.1 s).
    cancelled_at = time.monotonic()
    wait_for(lambda: time.monotonic() - cancelled_at >= 0.3, 2, "the runner to notice")
    polls = processing_server.job().polls
    wait_for(lambda: time.monotonic() - cancelled_at >= 1.3, 3, "another second")
    assert processing_server.job().polls == polls


# -- datasets: a watched folder's shapefile set is one upload for a target that takes datasets --
SHAPEFILE = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def test_watched_shapefile_set_goes_as_one_upload_with_every_member(
    proc_worker: WorkerProcess, processing_server: ProcessingServer, tmp_path: Path
) -> None:
    import sqlite3

    api = proc_worker.api
    api.add_target(name="imp", url=processing_server.url, protocol="test-processing")
    watched = tmp_path / "inbox"
    watched.mkdir()
    watch = api.add_watch(path=str(watched), target="imp", settle_seconds=0.3)
    wait_for(lambda: api.watch(watch["id"])["state"] == "watching", 15, "the watch to arm")
    for number, suffix in enumerate(SHAPEFILE):
        (watched / f"Roads{suffix.upper() if suffix == '.dbf' else suffix}").write_bytes(
            bytes([number]) * (1000 + number)
        )
    (watched / "alone.tif").write_bytes(b"t" * 500)

    uploads = wait_for(
        lambda: (
            len(u := [x for x in api.uploads()["uploads"] if x["watch_id"] == watch["id"]]) == 2
            and u
        ),
        30,
        "two uploads: the set and the lone file",
    )
    dataset = next(u for u in uploads if u["name"] == "Roads.shp + 4 files")
    detail = api.upload(dataset["id"])
    names = sorted(m["name"] for m in detail["members"])
    assert names == sorted(f"Roads{s.upper() if s == '.dbf' else s}" for s in SHAPEFILE)
    assert dataset["size"] == sum(1000 + n for n in range(len(SHAPEFILE)))
    processing(proc_worker, dataset["id"])
    job = next(j for j in processing_server.jobs.values() if "Roads.shp" in j.files)
    assert sorted(job.files) == names
    for name in names:  # every member on the server, byte for byte
        assert (
            processing_server.stored(job.token, name).read_bytes() == (watched / name).read_bytes()
        )
    # Every member is recorded as sent (with its upload), so none goes again.
    with sqlite3.connect(proc_worker.home / "state.db") as db:
        seen = dict(
            db.execute(
                "SELECT path, upload_id FROM seen_files WHERE watch_id = ?", (watch["id"],)
            ).fetchall()
        )
    assert {Path(p).name for p in seen} == {*names, "alone.tif"}
    assert {seen[str(watched / n)] for n in names} == {dataset["id"]}


def test_watched_shapefile_set_goes_file_by_file_to_a_target_without_datasets(
    worker: WorkerProcess, tus_server, tmp_path: Path
) -> None:
    import sqlite3

    api = worker.api
    api.add_target(name="srv", url=tus_server.url)
    watched = tmp_path / "inbox"
    watched.mkdir()
    watch = api.add_watch(path=str(watched), target="srv", settle_seconds=0.3)
    wait_for(lambda: api.watch(watch["id"])["state"] == "watching", 15, "the watch to arm")
    for number, suffix in enumerate(SHAPEFILE):
        (watched / f"roads{suffix}").write_bytes(bytes([number]) * (700 + number))
    done = wait_for(
        lambda: (
            len(
                u := [
                    x
                    for x in api.uploads()["uploads"]
                    if x["watch_id"] == watch["id"] and x["status"] == "done"
                ]
            )
            == len(SHAPEFILE)
            and u
        ),
        60,
        "one upload per file",
    )
    for upload in done:  # each file its own upload, byte for byte
        assert tus_server.stored_bytes(upload["result_url"]) == Path(upload["path"]).read_bytes()
        assert api.upload(upload["id"])["members"] == []
    with sqlite3.connect(worker.home / "state.db") as db:
        seen = dict(
            db.execute(
                "SELECT path, upload_id FROM seen_files WHERE watch_id = ?", (watch["id"],)
            ).fetchall()
        )
    assert sorted(seen.values()) == sorted(u["id"] for u in done)
