"""What a power cut must not lose reaches the disk at its COMMIT: the server upload an upload
continues (without it, a restart would send a second copy). Every other write commits under
WAL's synchronous=NORMAL, which survives a killed process but not a power cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from upqueue.core import paths
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.worker.repository import UploadRepository
from upqueue.worker.service import Service

FULL, NORMAL = 2, 1  # PRAGMA synchronous's answers


def synchronous(store: Store) -> int:
    row = store.query_one("PRAGMA synchronous")
    assert row is not None
    return int(next(iter(row.values())))


def test_a_durable_transaction_commits_with_full_sync_and_the_rest_stay_normal(
    upqueue_home: Path,
) -> None:
    store = Store(upqueue_home / paths.STATE_DB)
    try:
        assert synchronous(store) == NORMAL
        with store.tx():
            assert synchronous(store) == NORMAL
        with store.tx(durable=True):
            assert synchronous(store) == FULL
        assert synchronous(store) == NORMAL
        with pytest.raises(RuntimeError), store.tx(durable=True):
            raise RuntimeError("rolled back")
        assert synchronous(store) == NORMAL  # a rollback does not leave every commit syncing
    finally:
        store.close()


def test_the_server_upload_is_saved_durably_and_progress_is_not(
    upqueue_home: Path, tmp_path: Path
) -> None:
    store = Store(upqueue_home / paths.STATE_DB)
    repository = UploadRepository(store)
    service = Service(store, SecretStore(upqueue_home), upqueue_home, repository=repository)
    try:
        service.add_target({"name": "t", "url": "http://127.0.0.1:9/files", "protocol": "tus"})
        path = tmp_path / "a.bin"
        path.write_bytes(b"x" * 10)
        upload_id = service.add_uploads([str(path)], "t").ids[0]
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)  # what SQLite is asked, in order
        url = "http://127.0.0.1:9/files/abc"
        repository.save_remote_state(upload_id, {"url": url}, url, 0, announce=True)
        saved = next(i for i, s in enumerate(statements) if '"remote_state" = ' in s)
        commit = statements.index("COMMIT", saved)
        assert "PRAGMA synchronous=FULL" in statements[:saved]
        assert statements[commit + 1] == "PRAGMA synchronous=NORMAL"
        statements.clear()
        repository.save_progress(upload_id, 5, 1.0, 0.0)
        assert not any("synchronous" in s for s in statements)
        assert any('"offset" = ' in s for s in statements)
    finally:
        service.close()
        store.close()
