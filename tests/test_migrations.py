"""Schema 4 (transports) on a state.db made by the previous release's migrations (1-3), with
uploads in every status: nothing is lost, the tus URL and expiry move into remote_state."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from upqueue.core import migrations
from upqueue.core.models import Status
from upqueue.core.store import Store

PREVIOUS = 3  # the schema the previous release shipped


@pytest.fixture
def previous_release_db(tmp_path: Path) -> Path:
    """A state.db built by migrations 1-3 alone, with one upload in every status."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, script in enumerate(migrations.MIGRATIONS[:PREVIOUS], 1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
    conn.execute("INSERT INTO targets (id, name, url, created_at) VALUES (1, 't', 'http://h/files/', 'x')")
    for number, status in enumerate(Status, 1):
        url = f"http://h/files/{number}" if status != Status.QUEUED else None
        conn.execute(
            "INSERT INTO uploads (id, target_id, path, name, size, mtime_ns, inode, status,"
            ' "offset", remote_url, remote_expires, error_title, attempts, created_at, updated_at,'
            " change_seq) VALUES (?, 1, ?, ?, 100, 5, 6, ?, 40, ?, ?, ?, 2, 'c', 'u', ?)",
            (number, f"/d/{status}.bin", f"{status}.bin", status.value, url,
             "Wed, 02 Dec 2026 10:00:00 GMT" if url else None,
             "Boom" if status == Status.FAILED else None, number))
    conn.close()
    return path


def test_schema_4_keeps_every_upload_and_moves_the_tus_state(previous_release_db: Path) -> None:
    before = {r[0]: r for r in sqlite3.connect(previous_release_db).execute(
        "SELECT * FROM uploads ORDER BY id").fetchall()}
    store = Store(previous_release_db)
    try:
        assert store.schema_version == len(migrations.MIGRATIONS) > PREVIOUS
        rows = {r["id"]: r for r in store.query("SELECT * FROM uploads ORDER BY id")}
    finally:
        store.close()
    assert len(rows) == len(before) == len(Status)
    assert {r["status"] for r in rows.values()} == {s.value for s in Status}
    for upload_id, old in before.items():
        row = rows[upload_id]
        # Every column of before is still there with its value (the retired ones included).
        assert tuple(row.values())[: len(old)] == old
        if row["remote_url"]:
            assert json.loads(row["remote_state"]) == {
                "protocol": "tus", "url": row["remote_url"], "expires": row["remote_expires"],
                "all_sent": False}
            assert row["result_url"] == row["remote_url"]
        else:
            assert row["remote_state"] is None and row["result_url"] is None
        assert row["processing_progress"] is None and row["processing_message"] is None
    backups = list((previous_release_db.parent / "backups").glob(f"state-v{PREVIOUS}-*.db"))
    assert len(backups) == 1, "a copy is taken before migrating"


def test_schema_4_has_the_members_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        columns = [r["name"] for r in store.query("PRAGMA table_info(upload_members)")]
    finally:
        store.close()
    assert columns == ["upload_id", "position", "path", "name", "size", "mtime_ns", "inode",
                       "ctime_ns", "role"]
