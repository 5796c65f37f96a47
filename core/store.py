"""state.db: one connection, serialised writes, the change counter, settings and events.

Only the worker process opens state.db (one writer process keeps us clear of SQLite's WAL-reset
bug before 3.51.3). Inside the worker every thread shares this one connection under a lock, and
every write runs in ``BEGIN IMMEDIATE`` so a read-then-write never meets "database is locked".
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from upqueue.core import migrations
from upqueue.core.errors import UpqueueError
from upqueue.core.paths import private_file
from upqueue.core.pathtext import storable_params
from upqueue.core.settings import SETTINGS, coerce

log = logging.getLogger(__name__)

# SQLite before 3.51.3 can corrupt a WAL database when several connections write and
# checkpoint at once; we keep a single writer, and say which library we run on.
WAL_RESET_FIXED = (3, 51, 3)


def now_iso() -> str:
    """UTC time as ISO 8601 with milliseconds: sorts as text, parses anywhere."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sqlite_version_report() -> dict[str, Any]:
    version = tuple(int(part) for part in sqlite3.sqlite_version.split("."))
    return {
        "sqlite_version": sqlite3.sqlite_version,
        "wal_reset_bug": version < WAL_RESET_FIXED,
    }


class Store:
    """The worker's handle on state.db.

    Args:
        path: the database file; created with mode 0600 and migrated on open.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        private_file(self.path)
        self._lock = threading.RLock()
        self._settings: dict[str, Any] | None = None
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        # NORMAL is durable across a crash of the process in WAL mode; a power cut may lose
        # the last progress write, which is harmless since resume asks the server. What a
        # power cut must not lose (the server upload being continued) commits with
        # tx(durable=True).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self.schema_version = migrations.apply(self._conn, self.path)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                private_file(side)
        self._seq = self._max_seq()
        # The counter as of the last COMMIT: what a reader can see. Long polls wait on it.
        self._committed_seq = self._seq
        self._change_listeners: list[Callable[[int], None]] = []
        report = sqlite_version_report()
        if report["wal_reset_bug"]:
            log.info(
                "SQLite %s predates 3.51.3 (WAL-reset bug); safe here: the worker is the only writer",
                report["sqlite_version"],
            )

    # -- connection -----------------------------------------------------------------------
    @contextmanager
    def tx(self, *, durable: bool = False) -> Iterator[None]:
        """A write transaction (BEGIN IMMEDIATE), serialised with every other use.

        ``durable``: the COMMIT reaches the disk before this returns (synchronous=FULL for this
        one transaction, ~0.4 ms here). Every other commit survives a killed process but not a
        power cut; a durable one survives both. For what a restart must not lose: the server
        upload an upload continues, without which it would start a second copy there.
        """
        with self._lock:
            if durable:
                self._conn.execute("PRAGMA synchronous=FULL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                else:
                    self._conn.execute("COMMIT")
            finally:
                if durable:
                    self._conn.execute("PRAGMA synchronous=NORMAL")
            changed = self._seq != self._committed_seq
            self._committed_seq = seq = self._seq
        if changed:
            # Outside the lock: a listener may read the store.
            for listener in list(self._change_listeners):
                listener(seq)

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the connection for several reads that must see one state."""
        with self._lock:
            yield

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            # Plain tuples zipped with the column names: half the time of sqlite3.Row -> dict,
            # which a full window load of 100,000 uploads feels.
            cursor = self._conn.cursor()
            cursor.row_factory = None
            cursor.execute(sql, storable_params(params))
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run one statement; call inside ``tx()`` for writes.

        A file name that is not UTF-8 is stored in its private-use form (core.pathtext):
        SQLite cannot take a lone surrogate, and one such name must not fail a whole batch.
        """
        with self._lock:
            return self._conn.execute(sql, storable_params(params))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- change counter -------------------------------------------------------------------
    def _max_seq(self) -> int:
        sql = """SELECT max(s) FROM (
            SELECT max(change_seq) AS s FROM uploads UNION ALL
            SELECT max(change_seq) FROM removed_uploads UNION ALL
            SELECT max(change_seq) FROM watches UNION ALL
            SELECT max(change_seq) FROM batches)"""
        row = self._conn.execute(sql).fetchone()
        return int(row[0] or 0)

    def next_seq(self) -> int:
        """The next value of the change counter; call inside ``tx()``."""
        with self._lock:
            self._seq += 1
            return self._seq

    @property
    def seq(self) -> int:
        with self._lock:
            return self._seq

    @property
    def committed_seq(self) -> int:
        """The change counter as of the last commit (no lock: an int read is atomic)."""
        return self._committed_seq

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(seq)`` after every commit that moved the change counter.

        It runs on the committing thread, after the commit: keep it short (e.g. hand off to
        an event loop)."""
        self._change_listeners.append(listener)

    def next_id(self, table: str) -> int:
        """A fresh id for a row of ``table`` ("uploads", "targets"), never one used before; call
        inside ``tx()``. Also above any id already in the table (a row inserted another way)."""
        if table not in ("uploads", "targets"):
            raise ValueError(f"no id counter for {table!r}")
        self.execute("INSERT OR IGNORE INTO id_counters (name, last_id) VALUES (?, 0)", (table,))
        self.execute(
            f"UPDATE id_counters SET last_id = max(last_id, (SELECT coalesce(max(id), 0) FROM {table}))"
            " + 1 WHERE name = ?",
            (table,),
        )
        row = self.query_one("SELECT last_id FROM id_counters WHERE name = ?", (table,))
        assert row is not None
        return int(row["last_id"])

    # -- events ---------------------------------------------------------------------------
    def add_event(
        self,
        kind: str,
        message: str = "",
        *,
        upload_id: int | None = None,
        batch_id: int | None = None,
        watch_id: int | None = None,
        status: str | None = None,
        title: str | None = None,
    ) -> None:
        """Append to the history; call inside ``tx()`` so it lands with the change it records."""
        self.execute(
            "INSERT INTO events (at, upload_id, batch_id, watch_id, kind, status, title, message)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now_iso(), upload_id, batch_id, watch_id, kind, status, title, message),
        )

    def events_for(self, upload_id: int) -> list[dict[str, Any]]:
        return self.query(
            "SELECT at, kind, status, title, message FROM events WHERE upload_id = ? ORDER BY id",
            (upload_id,),
        )

    # -- settings -------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        # Kept in memory: this process is the only writer (set_settings), and the engine asks
        # for a setting several times per upload.
        with self._lock:
            if self._settings is None:
                values = {key: s.default for key, s in SETTINGS.items()}
                for row in self.query("SELECT key, value FROM settings"):
                    if row["key"] in values:
                        values[row["key"]] = _stored_setting(row["key"], row["value"])
                self._settings = values
            return dict(self._settings)

    def setting(self, key: str) -> Any:
        with self._lock:
            if self._settings is not None:
                return self._settings[key]
        return self.settings()[key]

    def set_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Check every value first, then write them all; returns the coerced values."""
        coerced = {key: coerce(key, value) for key, value in changes.items()}
        with self.tx():
            for key, value in coerced.items():
                self.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )
            self._settings = None
        return coerced


def _stored_setting(key: str, text: str) -> Any:
    """A stored value, checked again: one saved before its range existed (``stall_timeout``
    inf) would break every upload, so it falls back to the default, with a note in the log."""
    try:
        return coerce(key, json.loads(text))
    except (ValueError, UpqueueError) as exc:
        log.warning("setting %s: stored value %s ignored (%s); using the default", key, text, exc)
        return SETTINGS[key].default
