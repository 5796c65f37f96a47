"""Plain HTTP against real servers: nginx's dav module (PUT) and uploadserver (multipart POST),
a connection reset halfway through the fault proxy, and the same through the real worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.plainhttp import PlainHttpTransport

from tests.faultproxy import FaultProxy
from tests.fixtures.plain_http import UPLOAD_PASSWORD, UPLOAD_USER, PlainServer
from tests.fixtures.send_hooks import SETTINGS, RecordingHooks, job_for
from tests.fixtures.tus import make_file
from tests.fixtures.worker import WorkerProcess, wait_for

MiB = 1 << 20


def put_to(url: str) -> PlainHttpTransport:
    return PlainHttpTransport({"url": url}, None, SETTINGS)


def post_to(url: str, password: str = UPLOAD_PASSWORD) -> PlainHttpTransport:
    return PlainHttpTransport(
        {
            "url": url,
            "auth_kind": "basic",
            "username": UPLOAD_USER,
            "options": {"method": "post", "field_name": "files"},
        },
        password,
        SETTINGS,
    )


@pytest.fixture
def nginx_proxy(nginx_dav: PlainServer) -> Iterator[FaultProxy]:
    p = FaultProxy("127.0.0.1", int(urlsplit(nginx_dav.url).port or 0)).start()
    yield p
    p.close()


@pytest.mark.parametrize("size", [0, 1024, 20 * MiB])
def test_put_to_nginx_arrives_identical_and_keeps_the_answer(
    nginx_dav: PlainServer, tmp_path: Path, size: int
) -> None:
    src = make_file(tmp_path / f"Messung {size}.bin", size)
    hooks = RecordingHooks()
    sent = put_to(nginx_dav.url + "lab").send(job_for(src), None, hooks)
    assert nginx_dav.stored(f"lab/{src.name}").read_bytes() == src.read_bytes()
    assert sent.remote_state["answer"]["status"] == 201
    assert sent.result_url == nginx_dav.url + "lab/Messung%20" + f"{size}.bin"
    assert "the server answered 201" in sent.message


def test_multipart_post_to_uploadserver(upload_server: PlainServer, tmp_path: Path) -> None:
    src = make_file(tmp_path / "form.bin", 3 * MiB, seed=1)
    sent = post_to(upload_server.url).send(job_for(src), None, RecordingHooks())
    assert upload_server.stored(src.name).read_bytes() == src.read_bytes()
    assert sent.remote_state["answer"]["status"] in (200, 201, 204)
    with pytest.raises(TransferError) as info:
        post_to(upload_server.url, password="wrong").send(job_for(src), None, RecordingHooks())
    assert info.value.status == 401 and info.value.kind == ErrorKind.PERMANENT


def test_reset_halfway_restarts_from_zero_and_says_so(
    nginx_dav: PlainServer, nginx_proxy: FaultProxy, tmp_path: Path
) -> None:
    src = make_file(tmp_path / "reset.bin", 8 * MiB, seed=2)
    url = f"{nginx_proxy.base_url}/upload/"
    nginx_proxy.reset_after("PUT", 4 * MiB)
    hooks = RecordingHooks()
    with pytest.raises(TransferError) as info:
        put_to(url).send(job_for(src), None, hooks)
    assert info.value.kind == ErrorKind.TRANSIENT
    assert "restarts from the beginning" in info.value.message
    state = hooks.state
    hooks = RecordingHooks()
    put_to(url).send(job_for(src), state, hooks)
    assert hooks.progress[0] == 0
    assert any(
        kind == "restarted" and "restarts from the beginning" in m for kind, m in hooks.events
    )
    puts = nginx_proxy.requests("PUT")
    assert [p.body_forwarded for p in puts] == [4 * MiB, 8 * MiB]
    assert nginx_dav.stored(src.name).read_bytes() == src.read_bytes()


def test_test_connection_put_and_post(nginx_dav: PlainServer, upload_server: PlainServer) -> None:
    report = put_to(nginx_dav.url).test_connection()
    assert report.ok, report.message
    assert list(nginx_dav.root.iterdir()) == [], "the test file must be deleted"
    assert post_to(upload_server.url).test_connection().ok
    down = put_to("http://127.0.0.1:9/upload/").test_connection()
    assert not down.ok and down.title == "Cannot reach the server"


def test_reset_through_the_worker_retries_from_zero(
    worker: WorkerProcess, nginx_dav: PlainServer, nginx_proxy: FaultProxy, tmp_path: Path
) -> None:
    worker.api.add_target(name="dav", protocol="http", url=f"{nginx_proxy.base_url}/upload/")
    src = make_file(tmp_path / "w.bin", 6 * MiB, seed=3)
    nginx_proxy.reset_after("PUT", 3 * MiB)
    upload_id = worker.api.add_uploads([str(src)], "dav")["ids"][0]
    row = wait_for(
        lambda: (r := worker.api.upload(upload_id)["upload"])["status"] in ("done", "failed") and r,
        60,
        "the upload to finish",
    )
    assert row["status"] == "done", row
    assert nginx_dav.stored(src.name).read_bytes() == src.read_bytes()
    events = worker.api.upload(upload_id)["events"]
    messages = " | ".join(e["message"] or "" for e in events)
    assert "restarts from the beginning" in messages, messages
    assert any(e["kind"] == "restarted" for e in events), messages
