"""The control API: guard (token, Host), routes, error shapes, `since` polling, export, the client.

Most tests talk over HTTP to the real worker process (``worker`` fixture) uploading to the real
@tus/server; a few build the app in-process on a real state.db where a test needs rows with
chosen dates or an exception the real worker would never raise.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import socket
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from upqueue.core import paths
from upqueue.core.api_client import ApiClient, ApiError, WorkerUnavailable
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from upqueue.worker.api import PortHolder, create_app, serve
from upqueue.worker.service import Service

CSV_HEADER = [
    "id",
    "name",
    "path",
    "size",
    "status",
    "target",
    "result_url",
    "created_at",
    "finished_at",
    "attempts",
    "error",
]


def raw(api: ApiClient, method: str, path: str, **kwargs) -> requests.Response:
    """A request without the client's session: no token unless the test adds one."""
    return requests.request(method, api.base_url + path, timeout=10, **kwargs)


def bearer(api: ApiClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {api._token}"}


def unreadable_file(tmp_path: Path) -> Path:
    """A regular file this process cannot open for reading.

    chmod 000 does not stop root, and the tests may run as root; a write-only sysctl file
    refuses reading even to root, so use that there.
    """
    if os.geteuid() != 0:
        path = tmp_path / "secret.bin"
        path.write_bytes(b"x" * 10)
        path.chmod(0)
        return path
    for candidate in ("/proc/sys/vm/drop_caches", "/proc/sys/vm/compact_memory"):
        path = Path(candidate)
        try:
            with open(path, "rb"):
                pass
        except PermissionError:
            return path
        except OSError:
            continue
    pytest.skip("no file here is unreadable to root")


# -- the guard ------------------------------------------------------------------------------
def test_every_route_needs_the_token_including_docs(worker):
    api = worker.api
    for path in ("/api/health", "/api/uploads", "/docs", "/openapi.json"):
        answer = raw(api, "GET", path)
        assert answer.status_code == 401, path
        body = answer.json()
        assert body["title"] == "Not authorised"
        assert "api.token" in body["message"]
    wrong = raw(api, "GET", "/api/health", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert raw(api, "GET", "/docs?token=guess").status_code == 401
    assert raw(api, "POST", "/api/shutdown").status_code == 401
    assert worker.proc.poll() is None

    # /docs?token= once: a cookie replaces the token in the address, and serves the docs.
    with requests.Session() as browser:
        first = browser.get(
            api.base_url + f"/docs?token={api._token}", allow_redirects=False, timeout=10
        )
        assert first.status_code == 303
        assert first.headers["location"] == "/docs"
        assert "httponly" in first.headers["set-cookie"].lower()
        docs = browser.get(api.base_url + "/docs", timeout=10)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        schema = browser.get(api.base_url + "/openapi.json", timeout=10).json()
        assert "/api/uploads" in schema["paths"]
        # The cookie opens the docs only: it cannot steer the worker (no cross-site requests).
        assert browser.get(api.base_url + "/api/health", timeout=10).status_code == 401


def test_wrong_host_header_is_refused(worker):
    api = worker.api
    port = api.base_url.rsplit(":", 1)[1]
    evil = raw(api, "GET", "/api/health", headers={**bearer(api), "Host": f"evil.example:{port}"})
    assert evil.status_code == 400
    assert evil.json()["title"] == "Wrong host"
    other_port = raw(api, "GET", "/api/health", headers={**bearer(api), "Host": "127.0.0.1:1"})
    assert other_port.status_code == 400
    local = raw(api, "GET", "/api/health", headers={**bearer(api), "Host": f"localhost:{port}"})
    assert local.status_code == 200
    assert local.json()["pid"] == worker.pid


# -- targets --------------------------------------------------------------------------------
def test_test_connection_says_plainly_what_is_wrong(worker, tus_server, fault_proxy):
    api = worker.api
    works = api.test_target_config(name="probe", url=tus_server.url)
    assert works["ok"] is True and "creation" in works["message"]

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = api.test_target_config(name="probe", url=f"http://127.0.0.1:{closed_port}/files/")
    assert unreachable["ok"] is False and unreachable["title"] == "Cannot reach the server"
    assert f"127.0.0.1:{closed_port}" in unreachable["message"]
    assert "retried" not in unreachable["message"]

    # A server refusing the credentials refuses OPTIONS (optional, so only a hint) and POST.
    fault_proxy.respond("OPTIONS", 401, body="bad token")
    fault_proxy.respond("POST", 401, body="bad token")
    refused = api.test_target_config(name="probe", url=fault_proxy.url)
    assert refused["ok"] is False and "401" in refused["message"]

    # A web page, not a tus server: it neither describes itself nor answers POST as tus does.
    html = {"Content-Type": "text/html", "Tus-Resumable": ""}
    fault_proxy.respond("OPTIONS", 200, headers=html, body="<p>hello</p>")
    fault_proxy.respond("POST", 405, headers=html, body="<p>no</p>")
    not_tus = api.test_target_config(name="probe", url=fault_proxy.url)
    assert not_tus["ok"] is False and not_tus["title"] == "Not a tus server"


def test_targets_crud_keeps_secrets_out_of_answers_and_db(worker, tus_server, upqueue_home):
    api = worker.api
    created = api.add_target(
        name="lab",
        url=tus_server.url,
        auth_kind="basic",
        username="ann",
        secret="hunter2-secret",
        headers={"X-Team": "gis"},
    )
    assert created["name"] == "lab" and created["has_secret"] is True
    assert created["headers"] == {"X-Team": "gis"}
    assert "secret" not in created
    listed = api.targets()["targets"]
    assert [t["name"] for t in listed] == ["lab"]
    assert "hunter2-secret" not in json.dumps(listed)

    with pytest.raises(ApiError) as taken:
        api.add_target(name="lab", url=tus_server.url)
    assert taken.value.status == 409 and taken.value.title == "Name taken"
    with pytest.raises(ApiError) as bad_url:
        api.add_target(name="other", url="ftp://example.org/files/")
    assert bad_url.value.status == 400 and "http" in bad_url.value.message
    with pytest.raises(ApiError) as missing:
        api._request("POST", "/api/targets", json={"url": tus_server.url})
    assert missing.value.status == 400 and "name: Field required" in missing.value.message
    with pytest.raises(ApiError) as typo:
        api._request(
            "POST", "/api/targets", json={"name": "x", "url": tus_server.url, "chunksize": 1}
        )
    assert typo.value.status == 400 and "chunksize" in typo.value.message

    updated = api.update_target(created["id"], url=tus_server.url.rstrip("/"), secret=None)
    assert updated["url"] == tus_server.url.rstrip("/") and updated["has_secret"] is True
    cleared = api.update_target(created["id"], secret="")
    assert cleared["has_secret"] is False
    assert api.test_target(created["id"])["ok"] is True

    api.remove_target(created["id"])
    with pytest.raises(ApiError) as gone:
        api.target(created["id"])
    assert gone.value.status == 404 and gone.value.title == "No such target"
    db = (upqueue_home / paths.STATE_DB).read_bytes()
    wal = upqueue_home / (paths.STATE_DB + "-wal")
    assert b"hunter2-secret" not in db + (wal.read_bytes() if wal.exists() else b"")


# -- uploads --------------------------------------------------------------------------------
def test_adding_uploads_reports_each_bad_path_readably(worker, tus_server, tmp_path):
    api = worker.api
    api.add_target(name="t", url=tus_server.url)
    good = make_file(tmp_path / "good.bin", 2000)
    folder = tmp_path / "folder"
    folder.mkdir()
    make_file(folder / "inside.bin", 100)
    (folder / ".hidden").write_bytes(b"h")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    unreadable = unreadable_file(tmp_path)
    missing = tmp_path / "missing.bin"

    result = api.add_uploads([good, missing, folder, fifo, unreadable], "t")
    assert len(result["ids"]) == 1
    reasons = {item["path"]: (item["title"], item["message"]) for item in result["rejected"]}
    assert reasons[str(missing)][0] == "File not found"
    assert reasons[str(folder)][0] == "Is a folder" and "recursive" in reasons[str(folder)][1]
    assert reasons[str(fifo)][0] == "Not a regular file" and "FIFO" in reasons[str(fifo)][1]
    assert reasons[str(unreadable)][0] == "Cannot read file"

    recursive = api.add_uploads([folder], "t", recursive=True)
    assert len(recursive["ids"]) == 1 and recursive["rejected"] == []  # the hidden file is skipped

    # Nothing added is an answer, not an error: each path comes back with its reason.
    none_added = api.add_uploads([missing, fifo], "t")
    assert none_added["added"] == [] and none_added["ids"] == []
    assert {e["path"] for e in none_added["rejected"]} == {str(missing), str(fifo)}
    with pytest.raises(ApiError) as unknown:
        api.add_uploads([good], "nope")
    assert unknown.value.status == 404 and "nope" in unknown.value.message
    with pytest.raises(ApiError) as no_paths:
        api._request("POST", "/api/uploads", json={"target": "t"})
    assert no_paths.value.status == 400 and "paths" in no_paths.value.message

    ids = result["ids"] + recursive["ids"]
    wait_for(
        lambda: all(api.upload(i)["upload"]["status"] == "done" for i in ids), 30, "uploads done"
    )
    detail = api.upload(result["ids"][0])
    assert detail["upload"]["name"] == "good.bin" and detail["upload"]["offset"] == 2000
    assert tus_server.stored_bytes(detail["upload"]["result_url"]) == good.read_bytes()
    assert detail["events"][0]["kind"] == "added"
    assert detail["events"][-1]["kind"] == "done"


def test_errors_have_a_title_a_message_and_the_right_status(worker, tus_server, tmp_path):
    api = worker.api
    api.add_target(name="t", url=tus_server.url)
    upload_id = api.add_uploads([make_file(tmp_path / "a.bin", 10)], "t")["ids"][0]
    wait_for(lambda: api.upload(upload_id)["upload"]["status"] == "done", 30, "upload done")

    cases = [
        ("POST", f"/api/uploads/{upload_id}/resume", None, 409, "Cannot resume"),
        ("POST", f"/api/uploads/{upload_id}/explode", None, 400, "Invalid request"),
        ("GET", "/api/uploads/999999", None, 404, "No such upload"),
        ("GET", "/api/uploads/abc", None, 400, "Invalid request"),
        ("GET", "/api/uploads?status=nonsense", None, 400, "Unknown status"),
        ("GET", "/api/nowhere", None, 404, "Not found"),
        ("DELETE", "/api/settings", None, 405, "Method not allowed"),
        ("POST", "/api/uploads/actions", {"action": "explode", "ids": [1]}, 400, "Invalid request"),
    ]
    for method, path, body, status, title in cases:
        answer = raw(api, method, path, headers=bearer(api), json=body)
        assert answer.status_code == status, (path, answer.text)
        payload = answer.json()
        assert payload["title"] == title, (path, payload)
        assert payload["message"] and "Traceback" not in payload["message"]
    broken_json = raw(
        api,
        "POST",
        "/api/uploads",
        headers={**bearer(api), "Content-Type": "application/json"},
        data=b"{nope",
    )
    assert broken_json.status_code == 400 and broken_json.json()["title"] == "Invalid request"

    bulk = api.bulk("resume", [upload_id, 999999])
    assert bulk["done"] == [] and {s["id"] for s in bulk["skipped"]} == {upload_id, 999999}
    assert api.pause_all() == {"count": 0}
    assert api.resume_all() == {"count": 0}
    stats = api.stats()
    assert stats["counts"]["done"] == 1 and stats["active"] == 0


def test_since_returns_only_changed_rows_and_removed_ids(worker, tus_server, tmp_path):
    api = worker.api
    api.add_target(name="t", url=tus_server.url)
    ids = api.add_uploads([make_file(tmp_path / f"f{i}.bin", 1000 + i) for i in range(3)], "t")[
        "ids"
    ]
    wait_for(lambda: api.uploads(status="done")["total"] == 3, 30, "three uploads done")

    everything = api.uploads()
    assert everything["total"] == 3 and everything["removed"] == []
    seq = everything["seq"]
    assert max(u["change_seq"] for u in everything["uploads"]) <= seq
    assert api.uploads(since=seq)["uploads"] == []  # nothing changed since

    api.remove_upload(ids[0])
    after_remove = api.uploads(since=seq)
    assert after_remove["uploads"] == [] and after_remove["removed"] == [ids[0]]
    seq = after_remove["seq"]
    new_id = api.add_uploads([make_file(tmp_path / "late.bin", 50)], "t")["ids"][0]
    changed = api.uploads(since=seq)
    assert [u["id"] for u in changed["uploads"]] == [new_id]
    assert changed["removed"] == [] and changed["seq"] > seq
    assert {u["id"] for u in api.uploads(since=0)["uploads"]} == {ids[1], ids[2], new_id}
    assert api.uploads(status=["done", "queued"], limit=1)["total"] >= 2
    assert len(api.uploads(limit=1, offset=1)["uploads"]) == 1


# -- settings and export --------------------------------------------------------------------
def test_settings_are_validated_with_readable_messages(worker):
    api = worker.api
    answer = api.settings()
    assert answer["settings"]["concurrency"] >= 1 and "concurrency" in answer["help"]
    for changes, words in [
        ({"concurrency": 99}, "between 1 and 16"),
        ({"concurrency": "many"}, "int"),
        ({"no_such_setting": 1}, "no setting called"),
        ({"keep_uploading_on_close": "perhaps"}, "bool"),
    ]:
        with pytest.raises(ApiError) as refused:
            api.update_settings(**changes)
        assert refused.value.status == 400 and words in refused.value.message, changes
    assert (
        api.update_settings(concurrency="4", bandwidth_limit="1M")["settings"]["concurrency"] == 4
    )
    assert api.settings()["settings"]["bandwidth_limit"] == 1_000_000  # decimal, as shown


def test_export_csv_shape_and_filename(worker, tus_server, tmp_path):
    api = worker.api
    api.add_target(name="t", url=tus_server.url)
    upload_id = api.add_uploads([make_file(tmp_path / "a,b.bin", 123)], "t")["ids"][0]
    wait_for(lambda: api.upload(upload_id)["upload"]["status"] == "done", 30, "upload done")
    # The server's dates are UTC; so is this.
    today = api.upload(upload_id)["upload"]["created_at"][:10]
    answer = raw(
        api, "GET", f"/api/export.csv?from_date={today}&to_date={today}", headers=bearer(api)
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert (
        answer.headers["content-disposition"]
        == f'attachment; filename="upqueue-{today}-{today}.csv"'
    )
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == CSV_HEADER
    assert len(rows) == 2
    record = dict(zip(CSV_HEADER, rows[1]))
    assert record["name"] == "a,b.bin" and record["size"] == "123" and record["status"] == "done"
    assert record["target"] == "t" and record["result_url"].startswith(tus_server.url)

    day_after = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    assert api.export_csv(day_after, day_after).splitlines() == [",".join(CSV_HEADER)]
    with pytest.raises(ApiError) as reversed_range:
        api.export_csv(day_after, today)
    assert reversed_range.value.status == 400
    with pytest.raises(ApiError) as bad_date:
        api.export_csv("2026-13-01", today)
    assert bad_date.value.status == 400 and "YYYY-MM-DD" in bad_date.value.message


class LocalApi:
    """requests against an in-process app served by :func:`worker.api.serve`."""

    def __init__(self, port: int, token: str) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10, **kwargs)


@pytest.fixture
def served_app(upqueue_home):
    """The app in-process on a real state.db: (service, client, uvicorn server)."""
    store = Store(upqueue_home / paths.STATE_DB)
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    holder = PortHolder()
    server, thread = serve(create_app(service, "tok", holder), "127.0.0.1", holder)
    client = LocalApi(holder.port, "tok")
    yield service, client, server
    client.session.close()
    server.should_exit = True
    thread.join(10)
    service.close()
    store.close()


@pytest.fixture
def local_app(served_app):
    """(service, client): for rows with chosen dates and forced failures."""
    service, client, _server = served_app
    return service, client


def test_answers_on_a_kept_alive_connection_are_not_held_back(served_app):
    """Every connection the API accepts has TCP_NODELAY: without it, each answer after the
    first on a kept-alive connection (every poll of the window) waited ~40 ms for an ACK."""
    _service, client, server = served_app
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/health").status_code == 200  # the same connection, kept alive
    connections = list(server.server_state.connections)
    assert connections, "the kept-alive connection is gone"
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_export_date_filter_is_inclusive_by_utc_day(local_app):
    service, client = local_app
    target = service.add_target({"name": "t", "url": "http://127.0.0.1:9/files/"})
    created = [
        "2026-03-01T00:00:00.000Z",
        "2026-03-02T23:59:59.999Z",
        "2026-03-03T00:00:00.000Z",
        "2026-02-28T23:59:59.999Z",
    ]
    with service.store.tx():
        for n, stamp in enumerate(created):
            service.store.execute(
                "INSERT INTO uploads (target_id, path, name, size, mtime_ns, inode, status, created_at,"
                " updated_at) VALUES (?, ?, ?, 1, 0, 0, 'done', ?, ?)",
                (target["id"], f"/data/f{n}", f"f{n}", stamp, stamp),
            )
    answer = client.get(
        "/api/export.csv", params={"from_date": "2026-03-01", "to_date": "2026-03-02"}
    )
    assert answer.status_code == 200
    names = [row["name"] for row in csv.DictReader(io.StringIO(answer.text))]
    assert names == ["f0", "f1"]
    one_day = client.get(
        "/api/export.csv", params={"from_date": "2026-03-03", "to_date": "2026-03-03"}
    )
    assert [r["name"] for r in csv.DictReader(io.StringIO(one_day.text))] == ["f2"]


def test_unexpected_errors_answer_500_and_log_the_traceback(local_app, caplog, upqueue_home):
    service, client = local_app

    def broken() -> dict:
        raise RuntimeError("disk on fire at /secret/place")

    service.stats = broken
    with caplog.at_level(logging.ERROR, logger="upqueue.worker.api_guard"):
        answer = client.get("/api/stats")
    assert answer.status_code == 500
    assert answer.json() == {
        "title": "Internal error",
        "message": "Something went wrong in the worker; details are in the log file "
        f"{upqueue_home / paths.LOG_FILE}.",
    }
    assert "disk on fire" in caplog.text and "Traceback" in caplog.text


# -- serving and the client ---------------------------------------------------------------
def test_serve_runs_in_a_thread_without_touching_signals(upqueue_home):
    store = Store(upqueue_home / paths.STATE_DB)
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    holder = PortHolder()
    server, thread = serve(create_app(service, "tok2", holder), "127.0.0.1", holder)
    try:
        assert holder.port > 0 and thread.daemon and thread.is_alive()
        client = ApiClient(f"http://127.0.0.1:{holder.port}", "tok2")
        assert client.health()["status"] == "ok"
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    finally:
        server.should_exit = True
        thread.join(10)
        service.close()
        store.close()
    assert not thread.is_alive()
    with pytest.raises(WorkerUnavailable):
        client.health()


def test_connect_without_a_worker_and_with_a_stale_endpoint(upqueue_home):
    with pytest.raises(WorkerUnavailable) as none:
        ApiClient.connect(start=False)
    assert "not running" in none.value.title
    # A worker killed with -9 leaves worker.json behind; nothing listens on its port now.
    (upqueue_home / paths.ENDPOINT_FILE).write_text(json.dumps({"port": 9, "pid": 1}))
    (upqueue_home / paths.TOKEN_FILE).write_text("stale")
    with pytest.raises(WorkerUnavailable):
        ApiClient.connect(start=False)


def test_connect_starts_a_background_worker_and_shutdown_stops_it(upqueue_home):
    api = ApiClient.connect(start=True, timeout=30)
    pid = api.health()["pid"]
    try:
        assert api.health()["data_dir"] == str(upqueue_home)
        assert ApiClient.connect(start=False).health()["pid"] == pid  # found, not started again
    finally:
        api.shutdown()
        wait_for(lambda: not _alive(pid), 30, "the background worker to exit")
    assert not (upqueue_home / paths.ENDPOINT_FILE).exists()


def test_connect_reports_a_worker_that_cannot_start(upqueue_home):
    (upqueue_home / paths.STATE_DB).mkdir()  # a database that cannot be opened
    started = time.monotonic()
    with pytest.raises(WorkerUnavailable) as failed:
        ApiClient.connect(start=True, timeout=30)
    assert time.monotonic() - started < 20  # told as soon as it exited, not at the timeout
    assert str(upqueue_home / paths.LOG_FILE) in failed.value.message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(
        ["ps", "-o", "stat=", "-p", str(pid)], check=False, capture_output=True, text=True
    ).stdout
    return bool(state.strip()) and not state.strip().startswith("Z")


def test_shutdown_route_stops_the_worker(worker):
    answer = raw(worker.api, "POST", "/api/shutdown", headers=bearer(worker.api))
    assert answer.status_code == 202
    assert worker.proc.wait(timeout=30) == 0
    assert not (worker.home / paths.ENDPOINT_FILE).exists()
