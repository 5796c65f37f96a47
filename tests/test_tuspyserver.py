"""Against tuspyserver, a second, independent tus server (PyPI, a FastAPI router): at ``/files``
it answers OPTIONS with 405, so upqueue must upload without the server describing itself.
Through the real worker process; every file byte-identical on the server."""

from __future__ import annotations

from pathlib import Path

import requests

from upqueue.core.filereader import FileSlice, fingerprint
from upqueue.core.transports.base import UploadFile, UploadJob
from upqueue.core.transports.tus.client import TusClient
from upqueue.core.transports.tus.transport import TusTransport
from tests.fixtures.hooks import RecordingHooks
from tests.fixtures.tus import make_file, same_content
from tests.fixtures.tuspy import TuspyServer
from tests.fixtures.worker import WorkerProcess, wait_for

MiB = 1 << 20
SETTINGS = {"connect_timeout": 3.0, "stall_timeout": 5.0, "read_timeout": 10.0}


def upload_of(worker: WorkerProcess, upload_id: int) -> dict:
    return worker.api.upload(upload_id)["upload"]


def wait_done(worker: WorkerProcess, upload_id: int, timeout: float = 90.0) -> dict:
    row = wait_for(lambda: (r := upload_of(worker, upload_id))["status"] in ("done", "failed") and r,
                   timeout, f"upload {upload_id} to finish")
    assert row["status"] == "done", row
    return row


def test_options_answers_405_at_files_and_204_at_files_slash(tuspy_server: TuspyServer) -> None:
    client = TusClient()
    try:
        undescribed = client.discover(tuspy_server.url)
        assert (undescribed.described, undescribed.options_status) == (False, 405)
        described = client.discover(tuspy_server.described_url)
        assert described.described and "creation" in described.extensions
    finally:
        client.close()


def test_test_connection_says_that_the_server_did_not_describe_itself(
    worker: WorkerProcess, tuspy_server: TuspyServer
) -> None:
    result = worker.api.test_target_config(name="py", url=tuspy_server.url)
    assert result["ok"] is True, result
    assert ("the server did not describe itself (OPTIONS answered 405); uploads will use "
            "core tus + creation") in result["message"]
    assert result["details"]["described_itself"] is False
    described = worker.api.test_target_config(name="py", url=tuspy_server.described_url)
    assert described["ok"] is True and "did not describe" not in described["message"]


def test_files_of_every_size_and_a_non_ascii_name_arrive_byte_identical(
    worker: WorkerProcess, tuspy_server: TuspyServer, tmp_path: Path
) -> None:
    worker.api.add_target(name="py", url=tuspy_server.url)
    files = [
        make_file(tmp_path / "empty.bin", 0),
        make_file(tmp_path / "one.bin", 1, seed=1),
        make_file(tmp_path / "twenty.bin", 20 * MiB, seed=2),
        make_file(tmp_path / "Überweisung – données 東京.tif", 300_000, seed=3),
    ]
    ids = worker.api.add_uploads([str(f) for f in files], "py")["ids"]
    for upload_id, src in zip(ids, files, strict=True):
        row = wait_done(worker, upload_id)
        assert same_content(src, tuspy_server.stored_path(row["result_url"])), src.name
    kinds = {e["kind"] for i in ids for e in worker.api.upload(i)["events"]}
    assert "restarted" not in kinds and "retrying" not in kinds
    # The name went up as the tus metadata the server keeps (and wants before it answers HEAD).
    head = requests.head(upload_of(worker, ids[3])["result_url"],
                         headers={"Tus-Resumable": "1.0.0"}, timeout=5)
    assert head.status_code == 200 and "filename" in head.headers["Upload-Metadata"]


def test_pause_mid_upload_and_resume_continue_the_same_server_upload(
    worker: WorkerProcess, tuspy_server: TuspyServer, tmp_path: Path
) -> None:
    worker.api.add_target(name="py", url=tuspy_server.url)
    worker.settings(bandwidth_limit=4 * MiB)
    src = make_file(tmp_path / "big.bin", 20 * MiB, seed=5)
    upload_id = worker.api.add_uploads([str(src)], "py")["ids"][0]
    row = wait_for(lambda: (r := upload_of(worker, upload_id))["offset"] > 2 * MiB
                   and r["result_url"] and r, 30, "some progress")
    url = row["result_url"]
    worker.api.action(upload_id, "pause")
    paused = wait_for(lambda: (r := upload_of(worker, upload_id))["status"] == "paused" and r, 5,
                      "the pause")
    stored = tuspy_server.stored_path(url)
    wait_for(lambda: stored.stat().st_size == (size := stored.stat().st_size) and size, 5,
             "the server's file to hold still")
    assert stored.stat().st_size < src.stat().st_size, "the pause came after the last byte"
    assert paused["result_url"] == url
    worker.settings(bandwidth_limit=0)
    worker.api.action(upload_id, "resume")
    row = wait_done(worker, upload_id)
    assert row["result_url"] == url, "resume must continue the same server upload"
    assert same_content(src, stored)
    assert len(tuspy_server.uploads()) == 1


def test_kill_9_mid_upload_resumes_from_the_servers_offset(
    make_worker: WorkerProcess, tuspy_server: TuspyServer, tmp_path: Path
) -> None:
    make_worker.start()
    make_worker.settings(retry_base_delay=0.2, retry_max_delay=1.0, bandwidth_limit=4 * MiB)
    make_worker.api.add_target(name="py", url=tuspy_server.url)
    src = make_file(tmp_path / "big.bin", 20 * MiB, seed=6)
    upload_id = make_worker.api.add_uploads([str(src)], "py")["ids"][0]
    row = wait_for(lambda: (r := upload_of(make_worker, upload_id))["offset"] > 4 * MiB
                   and r["result_url"] and r, 30, "some progress")
    url = row["result_url"]
    make_worker.kill9()
    held = tuspy_server.stored_path(url).stat().st_size
    assert 0 < held < src.stat().st_size

    make_worker.start()
    make_worker.settings(bandwidth_limit=0)
    row = wait_done(make_worker, upload_id)
    assert row["result_url"] == url, "the restart must resume the same server upload"
    assert same_content(src, tuspy_server.stored_path(url))
    assert len(tuspy_server.uploads()) == 1, "a second copy was created"
    events = make_worker.api.upload(upload_id)["events"]
    assert any(e["kind"] == "requeued" for e in events)
    assert not any(e["kind"] == "restarted" for e in events)


def test_head_on_a_finished_upload_and_sending_it_again(
    tuspy_server: TuspyServer, tmp_path: Path
) -> None:
    """tuspyserver answers HEAD on a finished upload with 200 and Upload-Offset = Upload-Length
    (given filename and filetype metadata; without filetype it answers 400), so a send() from
    the state of a finished upload confirms it instead of uploading it again."""
    transport = TusTransport({"url": tuspy_server.url}, None, SETTINGS)
    src = make_file(tmp_path / "a.bin", 70_000, seed=7)
    job = UploadJob(1, src.name, (UploadFile(str(src), src.name, fingerprint(src)),))
    try:
        hooks = RecordingHooks()
        sent = transport.send(job, None, hooks)
        url = sent.result_url
        assert url and same_content(src, tuspy_server.stored_path(url))
        head = requests.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=5)
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == "70000"

        # Without filetype metadata the same server answers HEAD on a finished upload with 400.
        bare = TusClient()
        try:
            created = bare.create(tuspy_server.url, 3, {"filename": "bare.bin"})
            with FileSlice(str(src), 0, 3) as body:
                bare.patch(created.url, 0, body)
            assert requests.head(created.url, headers={"Tus-Resumable": "1.0.0"},
                                 timeout=5).status_code == 400
        finally:
            bare.close()

        again = RecordingHooks()
        held = len(tuspy_server.uploads())
        resent = transport.send(job, sent.remote_state, again)
        assert resent.result_url == url and again.progress == [70_000]
        assert len(tuspy_server.uploads()) == held, "sent again"
    finally:
        transport.close()


def test_an_address_that_is_not_tus_is_told_apart(tuspy_server: TuspyServer) -> None:
    # Beside the router, the app answers 404 without Tus-Resumable: not a tus upload address.
    transport = TusTransport({"url": f"http://127.0.0.1:{tuspy_server.port}/nothing/"},
                             None, SETTINGS)
    try:
        report = transport.test_connection()
    finally:
        transport.close()
    assert report.ok is False and report.title == "Not a tus server", report
