"""Small new files several at a time (issue 12 point 5): creation POSTs pipelined on one
connection, one durable save of their URLs, PATCHes pipelined; what a batch does not finish
goes the usual way. The real worker, @tus/server and tuspyserver; a byte-transparent relay to
see the pipelining, the fault proxy for a server that closes after every answer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import fingerprint
from upqueue.core.transports.base import Sent, UploadFile, UploadJob
from upqueue.core.transports.tus.client import ServerCaps, TusClient
from upqueue.core.transports.tus.small_batch import SMALL_FILE, send_small, went_unanswered
from upqueue.core.transports.tus.transport import _state

from tests.fixtures.hooks import RecordingHooks
from tests.fixtures.relay import RecordingRelay
from tests.fixtures.tus import TusServer, make_file, same_content
from tests.fixtures.tuspy import TuspyServer
from tests.fixtures.worker import WorkerProcess, wait_all_done, wait_for
from tests.test_engine_inline import Rig
from tests.test_worker_uploads import add_target, events_of, wait_status


def _stored_with_data(server: TusServer) -> list[Path]:
    return [p for p in server.dir.iterdir() if p.suffix != ".json" and p.stat().st_size > 0]


def test_small_new_files_go_pipelined_two_requests_each_with_the_usual_history(
    worker: WorkerProcess, relay: RecordingRelay, tus_server: TusServer, tmp_path: Path
) -> None:
    add_target(worker, relay.url())
    sizes = [1, 4096, SMALL_FILE, SMALL_FILE + 1, *(3000 + i for i in range(20))]
    files = [make_file(tmp_path / f"s{i}.bin", size, seed=i) for i, size in enumerate(sizes)]
    ids = worker.api.add_uploads([str(f) for f in files], "srv")["ids"]
    rows = [wait_status(worker, upload_id, "done", "failed") for upload_id in ids]
    assert [r["status"] for r in rows] == ["done"] * len(files), [
        (r["name"], r["error_message"]) for r in rows if r["status"] != "done"
    ]
    for src, row in zip(files, rows):
        assert same_content(src, tus_server.stored_path(row["result_url"])), src.name
        assert row["offset"] == row["size"] == src.stat().st_size
    posts, patches = relay.requests("POST"), relay.requests("PATCH")
    assert len(posts) == len(files), "one creation per file"
    assert len(patches) == len(files), "one PATCH per file: no byte sent twice"
    assert not relay.requests("HEAD"), "nothing needed resuming"
    assert any(p.unanswered_before > 0 for p in posts), "creations were not pipelined"
    assert any(p.unanswered_before > 0 for p in patches), "PATCHes were not pipelined"
    # A file in a batch has the history of one sent alone (the one past SMALL_FILE).
    alone = [e["kind"] for e in events_of(worker, ids[3])]
    for upload_id in ids:
        assert [e["kind"] for e in events_of(worker, upload_id)] == alone
    assert any("Server upload created" in e["message"] for e in events_of(worker, ids[0]))


def test_a_server_that_closes_after_every_answer_still_gets_each_file_once(
    worker: WorkerProcess, fault_proxy: Any, tus_server: TusServer, tmp_path: Path
) -> None:
    """The fault proxy answers one request per connection (Connection: close): a batch's later
    requests go unanswered, and those uploads go one by one, each of their bytes sent once."""
    add_target(worker, fault_proxy.url)
    files = [make_file(tmp_path / f"c{i}.bin", 2000 + i, seed=i) for i in range(12)]
    ids = worker.api.add_uploads([str(f) for f in files], "srv")["ids"]
    rows = [wait_status(worker, upload_id, "done", "failed") for upload_id in ids]
    assert [r["status"] for r in rows] == ["done"] * len(files), rows
    for src, row in zip(files, rows):
        assert same_content(src, tus_server.stored_path(row["result_url"])), src.name
    assert len(fault_proxy.requests("PATCH")) == len(files)
    assert len(_stored_with_data(tus_server)) == len(files), "a second copy on the server"
    log = worker.home / "upqueue.log"
    assert "one request at a time from now on" in log.read_text(), "pipelining went on"


def test_kill_9_during_batches_every_small_file_completes_once(
    make_worker: WorkerProcess, tus_server: TusServer, tmp_path: Path
) -> None:
    worker = make_worker
    api = worker.start()
    api.update_settings(retry_base_delay=0.2, retry_max_delay=1.0)
    add_target(worker, tus_server.url)
    folder = tmp_path / "many"
    folder.mkdir()
    files = [make_file(folder / f"m{i:04d}.bin", 1024 + i % 7, seed=i) for i in range(3000)]
    ids = api.add_uploads([str(f) for f in files], "srv")["ids"]

    def done() -> int:
        return sum(1 for u in worker.api.uploads()["uploads"] if u["status"] == "done")

    for count in (300, 1500):
        wait_for(lambda count=count: done() >= count, 60, f"{count} done")
        worker.kill9()
        worker.start()
    rows = wait_all_done(worker)
    assert len({u["result_url"] for u in rows}) == len(ids)
    by_id = {u["id"]: u for u in rows}
    for src, upload_id in zip(files, ids):
        assert same_content(src, tus_server.stored_path(by_id[upload_id]["result_url"]))
    assert len(_stored_with_data(tus_server)) == len(files), "a file reached the server twice"


def test_tuspyserver_takes_pipelined_small_files(
    worker: WorkerProcess, tuspy_server: TuspyServer, tmp_path: Path
) -> None:
    """A second server, which does not describe itself (OPTIONS 405) and runs on uvicorn."""
    relay = RecordingRelay(("127.0.0.1", tuspy_server.port))
    worker.api.add_target(name="py", url=relay.url("/files"))
    files = [make_file(tmp_path / f"p{i}.bin", 500 + 97 * i, seed=i) for i in range(16)]
    ids = worker.api.add_uploads([str(f) for f in files], "py")["ids"]
    for upload_id, src in zip(ids, files):
        row = wait_status(worker, upload_id, "done", "failed")
        assert row["status"] == "done", row
        assert same_content(src, tuspy_server.stored_path(row["result_url"])), src.name
    kinds = {e["kind"] for i in ids for e in events_of(worker, i)}
    assert "restarted" not in kinds and "retrying" not in kinds
    assert len(tuspy_server.uploads()) == len(files)
    patches = relay.requests("PATCH")
    relay.close()
    assert len(patches) == len(files)
    assert any(p.unanswered_before > 0 for p in patches), "PATCHes were not pipelined"


def _job(upload_id: int, path: Path) -> UploadJob:
    return UploadJob(upload_id, path.name, (UploadFile(str(path), path.name, fingerprint(path)),))


def test_a_refused_creation_is_that_uploads_answer_and_the_others_are_sent(
    make_tus_server: Any, tmp_path: Path
) -> None:
    """The server refuses one creation (413 past its limit, which this batch was not told):
    that upload gets the server's error, as one sent alone would; the others complete."""
    server = make_tus_server(max_size=5000)
    files = [
        make_file(tmp_path / "a.bin", 1000, seed=1),
        make_file(tmp_path / "big.bin", 6000, seed=2),
        make_file(tmp_path / "c.bin", 2000, seed=3),
    ]
    caps = ServerCaps(["1.0.0"], frozenset({"creation"}), None, [])
    hooks = [RecordingHooks() for _ in files]
    saved: list[list[tuple[int, Any, str | None]]] = []
    client = TusClient()
    try:
        results, unanswered = send_small(
            client,
            server.url,
            caps,
            [_job(i, f) for i, f in enumerate(files)],
            hooks,
            saved.append,
            _state,
        )
    finally:
        client.close()
    assert not unanswered
    assert isinstance(results[0], Sent) and isinstance(results[2], Sent)
    refused = results[1]
    assert isinstance(refused, TransferError) and refused.status == 413, refused
    assert len(saved) == 1, "one durable save for the batch"
    assert [index for index, _, _ in saved[0]] == [0, 2]
    assert all(state["all_sent"] for _, state, _ in saved[0])
    for index in (0, 2):
        sent = results[index]
        assert isinstance(sent, Sent) and sent.result_url
        assert same_content(files[index], server.stored_path(sent.result_url))
        assert hooks[index].confirmed == [files[index].stat().st_size]


def test_a_file_changed_before_its_batch_reads_it_fails_as_alone_and_the_rest_are_done(
    tus_server: TusServer, tmp_path: Path, upqueue_home: Path
) -> None:
    """One runner run inline: the changed file is told apart with the usual reason (its server
    upload holds no byte); the rest are done."""
    run = Rig(upqueue_home)
    try:
        run.service.add_target({"name": "srv", "url": tus_server.url, "protocol": "tus"})
        files = [make_file(tmp_path / f"f{i}.bin", 3000, seed=i) for i in range(5)]
        ids = run.service.add_uploads([str(f) for f in files], "srv").ids
        with open(files[2], "r+b") as f:  # new bytes, same size: a new mtime and ctime
            f.write(os.urandom(100))
        run.engine.run_runner()
        rows = {upload_id: run.repository.get(upload_id) for upload_id in ids}
        changed = rows.pop(ids[2])
        assert changed["status"] == "failed", changed
        assert changed["error_title"] == "File changed during upload", changed
        assert all(r["status"] == "done" for r in rows.values()), rows
        for src, upload_id in zip(files, ids):
            if upload_id in rows:
                assert same_content(src, tus_server.stored_path(rows[upload_id]["result_url"]))
        assert len(_stored_with_data(tus_server)) == 4
    finally:
        run.close()


def test_pause_and_cancel_while_a_batch_runs_take_effect_as_for_one_upload(
    tus_server: TusServer, tmp_path: Path, upqueue_home: Path, monkeypatch: Any
) -> None:
    """A person pauses one upload and cancels another while their batch is being created:
    neither sends a byte; the cancelled one's server upload is deleted; the paused one, resumed,
    continues the server upload the batch created; the rest are done."""
    run = Rig(upqueue_home)
    try:
        run.service.add_target({"name": "srv", "url": tus_server.url, "protocol": "tus"})
        files = [make_file(tmp_path / f"g{i}.bin", 2500 + i, seed=i) for i in range(4)]
        ids = run.service.add_uploads([str(f) for f in files], "srv").ids
        real_create_many = TusClient.create_many

        def create_many_then_steer(self: TusClient, *args: Any, **kwargs: Any) -> Any:
            created = real_create_many(self, *args, **kwargs)
            run.service.act(ids[1], "pause")
            run.service.act(ids[2], "cancel")
            return created

        monkeypatch.setattr(TusClient, "create_many", create_many_then_steer)
        run.engine.run_runner()
        monkeypatch.setattr(TusClient, "create_many", real_create_many)
        paused, cancelled = run.repository.get(ids[1]), run.repository.get(ids[2])
        assert paused["status"] == "paused" and paused["offset"] == 0, paused
        assert cancelled["status"] == "cancelled", cancelled
        messages = [e["message"] for e in run.repository.events(ids[2])]
        assert "The server's copy was deleted" in messages, messages
        for index in (0, 3):
            row = run.repository.get(ids[index])
            assert row["status"] == "done", row
            assert same_content(files[index], tus_server.stored_path(row["result_url"]))
        created_for_paused = paused["result_url"]
        assert created_for_paused, "the batch saved the paused upload's server upload"
        run.service.act(ids[1], "resume")
        run.engine.run_runner()
        resumed = run.repository.get(ids[1])
        assert resumed["status"] == "done", resumed
        assert resumed["result_url"] == created_for_paused, "a second server upload was made"
        assert same_content(files[1], tus_server.stored_path(created_for_paused))
        assert len(_stored_with_data(tus_server)) == 3
    finally:
        run.close()


def test_only_requests_unanswered_after_an_answer_stop_the_pipelining() -> None:
    """A server that closes after each answer (later requests unanswered) gets one request at
    a time from then on; a refusal, or a network failure that answered nothing, does not."""
    lost = TransferError(
        "Connection problem", "the server closed the connection", kind=ErrorKind.TRANSIENT
    )
    refused = TransferError("Server refused the file", "413", kind=ErrorKind.PERMANENT, status=413)
    answered = object()
    assert went_unanswered([answered, lost, lost])
    assert went_unanswered([refused, lost])
    assert not went_unanswered([lost, lost, lost])
    assert not went_unanswered([answered, refused, answered])
