"""Chunked HTTP against the real drf-chunked-upload 0.6.0 (a Django 5.2 site in a subprocess):
transport-level, then through the real worker (kill -9 mid-upload)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
from upqueue.core.errors import ErrorKind, TransferError, TransferStopped
from upqueue.core.transports.chunked import ChunkedTransport

from tests.fixtures.chunked import PASSWORD, TOKEN, USER, ChunkedSite
from tests.fixtures.send_hooks import SETTINGS, RecordingHooks, job_for
from tests.fixtures.tus import make_file
from tests.fixtures.worker import WorkerProcess, wait_for

MiB = 1 << 20


def basic(url: str) -> ChunkedTransport:
    return ChunkedTransport(
        {"url": url, "auth_kind": "basic", "username": USER}, PASSWORD, SETTINGS
    )


def upload_id_of(state: dict | None) -> str:
    assert state and state["protocol"] == "chunked" and state["id"]
    return str(state["id"])


@pytest.mark.parametrize("size", [1, 3 * MiB])
def test_files_arrive_identical_and_marked_complete(
    chunked_server: ChunkedSite, tmp_path: Path, size: int
) -> None:
    src = make_file(tmp_path / f"f{size}.bin", size)
    job = job_for(src)
    hooks = RecordingHooks()
    sent = basic(chunked_server.url).send(job, None, hooks)
    file_id = upload_id_of(sent.remote_state)
    assert hooks.states[0] == sent.remote_state  # reported as soon as the first chunk named it
    row = chunked_server.row(file_id)
    assert row["status"] == 2 and row["filename"] == src.name and row["offset"] == size
    assert chunked_server.stored(file_id).read_bytes() == src.read_bytes()
    assert sent.result_url == sent.remote_state["url"]


def test_50_mib_in_chunks_with_a_token(chunked_server: ChunkedSite, tmp_path: Path) -> None:
    src = make_file(tmp_path / "big.bin", 50 * MiB, seed=2)
    t = ChunkedTransport({"url": chunked_server.url, "auth_kind": "bearer"}, TOKEN, SETTINGS)
    job = job_for(src)
    hooks = RecordingHooks()
    sent = t.send(type(job)(job.upload_id, job.name, job.files, chunk_size=8 * MiB), None, hooks)
    file_id = upload_id_of(sent.remote_state)
    assert chunked_server.row(file_id)["status"] == 2
    assert chunked_server.stored(file_id).read_bytes() == src.read_bytes()
    # 7 chunks, each confirmed: the progress saw every server offset.
    assert {8 * MiB * k for k in range(1, 7)} <= set(hooks.progress)


def test_resume_continues_at_the_servers_offset(
    chunked_server: ChunkedSite, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "r.bin", 10 * MiB, seed=3)
    job = job_for(src)
    job = type(job)(job.upload_id, job.name, job.files, chunk_size=1 * MiB)
    hooks = RecordingHooks(stop_at=3 * MiB)
    with pytest.raises(TransferStopped):
        basic(chunked_server.url).send(job, None, hooks)
    state = hooks.state
    held = chunked_server.row(upload_id_of(state))["offset"]
    assert 0 < held < src.stat().st_size
    hooks = RecordingHooks()
    sent = basic(chunked_server.url).send(job, state, hooks)
    assert sent.remote_state["id"] == state["id"]
    assert hooks.progress[0] == held, "the send must start at the offset the GET answered"
    assert chunked_server.stored(state["id"]).read_bytes() == src.read_bytes()


def test_wrong_offset_realigns_to_the_servers(chunked_server: ChunkedSite, tmp_path: Path) -> None:
    """Another client (or an answer lost on the way) moved the server's offset: its 400
    ``expected_offset`` is where the upload continues."""
    src = make_file(tmp_path / "o.bin", 4 * MiB, seed=4)
    data = src.read_bytes()
    job = job_for(src)
    job = type(job)(job.upload_id, job.name, job.files, chunk_size=1 * MiB)

    class Meddling(RecordingHooks):
        def on_progress(self, offset: int) -> None:
            super().on_progress(offset)
            if offset == MiB and self.state and not getattr(self, "done", False):
                self.done = True
                resp = requests.put(
                    self.state["url"],
                    auth=(USER, PASSWORD),
                    timeout=10,
                    headers={"Content-Range": f"bytes {MiB}-{2 * MiB - 1}/{len(data)}"},
                    files={"file": ("o.bin", data[MiB : 2 * MiB])},
                )
                assert resp.status_code == 200, resp.text

    hooks = Meddling()
    sent = basic(chunked_server.url).send(job, None, hooks)
    assert any("continuing from its offset" in m for _, m in hooks.events), hooks.events
    assert chunked_server.stored(sent.remote_state["id"]).read_bytes() == data


def test_wrong_md5_fails_with_the_files_sum_and_starts_over_next(
    chunked_server: ChunkedSite, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "m.bin", 2 * MiB, seed=5)
    job = job_for(src)
    job = type(job)(job.upload_id, job.name, job.files, chunk_size=1 * MiB)
    hooks = RecordingHooks(stop_at=MiB)
    with pytest.raises(TransferStopped):
        basic(chunked_server.url).send(job, None, hooks)
    state = hooks.state
    stored = chunked_server.stored(upload_id_of(state))
    damaged = bytearray(stored.read_bytes())
    damaged[10] ^= 0xFF  # the disk (or the way there) changed a byte of what the server holds
    stored.write_bytes(bytes(damaged))
    hooks = RecordingHooks()
    with pytest.raises(TransferError) as info:
        basic(chunked_server.url).send(job, state, hooks)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    assert info.value.title == "Upload verification failed"
    assert info.value.kind == ErrorKind.CHECKSUM
    assert md5 in info.value.message and "checksum does not match" in info.value.message
    assert hooks.states[-1] is None, "the damaged server copy must be forgotten"
    sent = basic(chunked_server.url).send(job, None, RecordingHooks())
    assert chunked_server.stored(sent.remote_state["id"]).read_bytes() == src.read_bytes()


def test_expired_upload_starts_over_and_says_so(
    chunked_server: ChunkedSite, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "e.bin", 3 * MiB, seed=6)
    job = job_for(src)
    job = type(job)(job.upload_id, job.name, job.files, chunk_size=1 * MiB)
    hooks = RecordingHooks(stop_at=MiB)
    with pytest.raises(TransferStopped):
        basic(chunked_server.url).send(job, None, hooks)
    old = upload_id_of(hooks.state)
    chunked_server.expire(old)
    hooks2 = RecordingHooks()
    sent = basic(chunked_server.url).send(job, hooks.state, hooks2)
    assert sent.remote_state["id"] != old
    assert any(
        kind == "restarted" and "expired (410 Gone" in m and "started over" in m
        for kind, m in hooks2.events
    ), hooks2.events
    assert chunked_server.stored(sent.remote_state["id"]).read_bytes() == src.read_bytes()


def test_credentials_and_test_connection(chunked_server: ChunkedSite, tmp_path: Path) -> None:
    src = make_file(tmp_path / "a.bin", 10)
    anonymous = ChunkedTransport({"url": chunked_server.url}, None, SETTINGS)
    with pytest.raises(TransferError) as info:
        anonymous.send(job_for(src), None, RecordingHooks())
    assert info.value.status == 401 and info.value.kind == ErrorKind.PERMANENT
    assert not anonymous.test_connection().ok
    assert basic(chunked_server.url).test_connection().ok
    token = ChunkedTransport({"url": chunked_server.url, "auth_kind": "bearer"}, TOKEN, SETTINGS)
    assert token.test_connection().ok


def test_kill_9_mid_upload_then_restart_through_the_worker(
    make_worker: WorkerProcess, chunked_server: ChunkedSite, tmp_path: Path
) -> None:
    make_worker.start()
    make_worker.settings(retry_base_delay=0.2, retry_max_delay=1.0, bandwidth_limit=4 * MiB)
    make_worker.api.add_target(
        name="site",
        protocol="chunked",
        url=chunked_server.url,
        auth_kind="basic",
        username=USER,
        secret=PASSWORD,
        chunk_size=1 * MiB,
    )
    src = make_file(tmp_path / "k.bin", 20 * MiB, seed=7)
    upload_id = make_worker.api.add_uploads([str(src)], "site")["ids"][0]
    row = wait_for(
        lambda: (
            (r := make_worker.api.upload(upload_id)["upload"])["offset"] > 4 * MiB
            and r["result_url"]
            and r
        ),
        60,
        "some progress",
    )
    make_worker.kill9()
    rows = chunked_server.rows()
    assert len(rows) == 1 and rows[0]["status"] == 1 and 0 < rows[0]["offset"] < 20 * MiB
    make_worker.start()
    make_worker.settings(bandwidth_limit=0)
    done = wait_for(
        lambda: (
            (r := make_worker.api.upload(upload_id)["upload"])["status"] in ("done", "failed") and r
        ),
        90,
        "the upload to finish",
    )
    assert done["status"] == "done", done
    assert done["result_url"] == row["result_url"], "the restart must continue the same upload"
    rows = chunked_server.rows()
    assert len(rows) == 1 and rows[0]["status"] == 2
    assert chunked_server.stored(rows[0]["id"]).read_bytes() == src.read_bytes()


def test_an_empty_file_gets_the_servers_own_refusal(
    chunked_server: ChunkedSite, tmp_path: Path
) -> None:
    """drf-chunked-upload cannot take 0 bytes (no Content-Range describes them, and its
    serializer refuses an empty whole-file POST): the person reads the server's reason."""
    src = tmp_path / "empty.bin"
    src.write_bytes(b"")
    with pytest.raises(TransferError) as info:
        basic(chunked_server.url).send(job_for(src), None, RecordingHooks())
    assert info.value.kind == ErrorKind.PERMANENT
    assert "The submitted file is empty." in info.value.message
