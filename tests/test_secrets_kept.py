"""Secrets stay secret (issue 13.7): a server that quotes the credential it refused, modes of
manifests/ and backups/, and `add --recursive` with links leading out of the folder."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from upqueue.core import migrations
from upqueue.core.store import Store
from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from tests.test_cli import cli
from tests.test_watcher import armed, finished_batches, watched  # noqa: F401
from tests.test_worker_uploads import add_target, wait_status

TOKEN = "tok-9f8e7d6c5b4a-SECRET"
PASSWORD = "pa55-Word-7781"
HEADER_KEY = "hdr-key-0c0ffee-SECRET"


class _EchoAuth(BaseHTTPRequestHandler):
    """Answers everything 401, quoting the credentials it was sent, as some servers do."""

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        said = f"invalid credential: {self.headers.get('Authorization')} key={self.headers.get('X-Api-Key')}"
        body = said.encode()
        self.send_response(401, f"Unauthorized ({self.headers.get('Authorization')})")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_OPTIONS = do_POST = do_HEAD = do_PATCH = do_GET = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoAuth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/files/"
    server.shutdown()
    server.server_close()


def test_credentials_a_server_quotes_are_never_shown_or_stored(worker, echo_server, tmp_path):
    api = worker.api
    targets = [
        add_target(worker, echo_server, name="bearer", auth_kind="bearer", secret=TOKEN),
        add_target(worker, echo_server, name="basic", auth_kind="basic", username="alice", secret=PASSWORD),
        add_target(worker, echo_server, name="header", auth_kind="header", auth_header="X-Api-Key",
                   secret=HEADER_KEY),
    ]
    src = make_file(tmp_path / "f.bin", 1000)
    ids = [api.add_uploads([str(src)], t["name"])["ids"][0] for t in targets]
    rows = [wait_status(worker, i, "failed", "done") for i in ids]
    assert all(r["status"] == "failed" for r in rows), rows
    assert "[redacted]" in rows[0]["error_message"], rows[0]  # the server's words, minus the secret
    tested = [str(api.test_target(t["id"])) for t in targets]
    shown = [
        *(str(api.upload(i)) for i in ids),
        *tested,
        cli("ls", "--json").stdout,
        *(cli("show", str(i), "--json").stdout for i in ids),
        api.export_csv(date.today().isoformat(), date.today().isoformat()),
    ]
    worker.stop()
    stored = b"".join(p.read_bytes() for p in worker.home.iterdir() if p.is_file())
    import base64

    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for secret in (TOKEN, PASSWORD, HEADER_KEY, basic):
        for text in shown:
            assert secret not in text, (secret, text)
        assert secret.encode() not in stored, secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_manifests_are_private_after_a_batch(worker, tus_server, watched: Path) -> None:  # noqa: F811
    api = worker.api
    add_target(worker, tus_server.url)
    make_file(watched / "a.bin", 1000)
    watch = armed(api, api.add_watch(path=str(watched), target="srv", settle_seconds=0.3))
    batch = wait_for(lambda: finished_batches(api, watch["id"]), 30, "the batch")[0]
    manifest = Path(batch["manifest_path"])
    assert mode(manifest.parent) == 0o700
    assert mode(manifest) == 0o600


def test_backups_are_private_after_a_migration_and_loose_modes_are_tightened(
    make_worker, upqueue_home: Path
) -> None:
    db = upqueue_home / "state.db"
    conn = sqlite3.connect(db)
    for version, script in enumerate(migrations.MIGRATIONS[:1]):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {version + 1}; COMMIT;")
    conn.close()
    Store(db).close()  # migrates, taking a copy first
    backups = upqueue_home / "backups"
    copies = list(backups.iterdir())
    assert copies and mode(backups) == 0o700 and all(mode(c) == 0o600 for c in copies)
    # A data directory from an older upqueue, readable by others: tightened at start.
    manifests = upqueue_home / "manifests"
    manifests.mkdir()
    old_manifest = manifests / "batch-00001.csv"
    old_manifest.write_text("file\n")
    for path, loose in ((backups, 0o755), (manifests, 0o755), (old_manifest, 0o644), (copies[0], 0o644)):
        os.chmod(path, loose)
    make_worker.start()
    assert mode(backups) == mode(manifests) == 0o700
    assert mode(old_manifest) == mode(copies[0]) == 0o600


def test_add_recursive_does_not_follow_file_links_out_of_the_folder(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    folder = tmp_path / "send"
    folder.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the server")
    make_file(folder / "inside.bin", 100)
    os.symlink(outside, folder / "link-out.txt")
    os.symlink(folder / "inside.bin", folder / "link-in.bin")
    result = cli("add", "-r", str(folder), "--target", "srv")
    assert "Traceback" not in result.stderr, result.stderr
    names = sorted(u["name"] for u in worker.api.uploads()["uploads"])
    assert names == ["inside.bin", "link-in.bin"]
