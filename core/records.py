"""The typed records the worker, the CLI and the window share: an upload, a target, and the
answer to "add these files".

One definition each, from which the rest derive: the control API's JSON (the columns the worker
selects are :data:`UPLOAD_FIELDS`), the CSV export's header (:data:`EXPORT_COLUMNS`), the
window's row fields (``gui.models.upload_row.FIELDS``) and the window tests' fake API rows. A
field added here shows up in all of them; a column added to a table and not here stays the
worker's own (tests/test_records_contract.py checks the real API and the fake against these).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """One upload as clients see it (``GET /api/uploads``, ``GET /api/uploads/{id}``)."""

    id: int
    target_id: int
    target_name: str | None  # None once its target is gone
    path: str
    name: str
    size: int
    status: str  # a core.models.Status value
    offset: int = 0
    speed: float = 0.0  # bytes per second, while uploading
    result_url: str | None = None  # where the upload is on the server (tus: its upload URL)
    processing_progress: float | None = None  # the server's 0-100 while it processes the upload
    processing_message: str | None = None  # and its latest words
    error_title: str | None = None
    error_message: str | None = None
    attempts: int = 0
    next_attempt_at: float | None = None  # epoch seconds
    created_at: str = ""  # ISO 8601, UTC
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str = ""
    change_seq: int = 0
    batch_id: int | None = None
    watch_id: int | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """One target (a server to upload to) as clients see it; secrets never appear here."""

    id: int
    name: str
    url: str
    protocol: str = "tus"
    headers: dict[str, str] = field(default_factory=dict)  # non-secret headers only
    auth_kind: str = "none"  # none | basic | bearer | header
    username: str | None = None
    auth_header: str | None = None
    chunk_size: int | None = None  # None: the global setting
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    has_secret: bool = False  # whether the keyring holds its password or token

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


UPLOAD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(UploadRecord))
TARGET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TargetRecord))
# Upload fields that are not columns of the uploads table: the SQL that joins them in (the
# targets table as ``t``).
UPLOAD_JOINED: dict[str, str] = {"target_name": "t.name"}
# Target fields that are not columns of the targets table (computed).
TARGET_COMPUTED: frozenset[str] = frozenset({"has_secret"})

# The CSV export: (header, upload field); "error" is the title and message joined.
EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "id"),
    ("name", "name"),
    ("path", "path"),
    ("size", "size"),
    ("status", "status"),
    ("target", "target_name"),
    ("result_url", "result_url"),
    ("created_at", "created_at"),
    ("finished_at", "finished_at"),
    ("attempts", "attempts"),
    ("error", "error_title+error_message"),
)
EXPORT_HEADER: tuple[str, ...] = tuple(header for header, _ in EXPORT_COLUMNS)


def export_row(upload: dict[str, Any]) -> list[Any]:
    """One CSV line for ``upload`` (a dict with :data:`UPLOAD_FIELDS`), in header order."""
    line: list[Any] = []
    for _header, source in EXPORT_COLUMNS:
        if "+" in source:
            line.append(": ".join(str(upload[part]) for part in source.split("+") if upload[part]))
        else:
            value = upload[source]
            line.append("" if value is None else value)
    return line


def public_target(target: dict[str, Any]) -> dict[str, Any]:
    """``target`` (the worker's full dict of a target) as clients see it: :class:`TargetRecord`'s
    fields, whatever columns the table has gained."""
    return {name: target.get(name) for name in TARGET_FIELDS}


def upload_columns_sql(alias: str = "u") -> str:
    """The SELECT list of :data:`UPLOAD_FIELDS`, in order: the uploads table as ``alias``, the
    targets table joined as ``t``."""
    return ", ".join(
        f"{UPLOAD_JOINED[name]} AS {name}" if name in UPLOAD_JOINED else f'{alias}."{name}"'
        for name in UPLOAD_FIELDS
    )


@dataclass(frozen=True, slots=True)
class Added:
    """A file that was queued."""

    id: int
    path: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A path that was not queued, and why (a title and a message a person can act on)."""

    path: str
    title: str
    message: str
    #: a machine-readable cause where a client acts on it ("duplicate": the window asks)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AddResult:
    """The answer to "queue these paths": what was added and what was not. Partial success is
    an answer, not an error; a caller decides what "nothing added" means for it."""

    added: tuple[Added, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    @property
    def ids(self) -> list[int]:
        return [item.id for item in self.added]

    def to_json(self) -> dict[str, Any]:
        # "ids" is kept beside "added" for scripts written against the earlier answer.
        return {
            "added": [asdict(item) for item in self.added],
            "ids": self.ids,
            "rejected": [asdict(item) for item in self.rejected],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AddResult:
        return cls(
            tuple(Added(int(a["id"]), str(a["path"])) for a in data.get("added") or ()),
            tuple(
                Rejected(str(r["path"]), str(r["title"]), str(r["message"]), r.get("reason"))
                for r in data.get("rejected") or ()
            ),
        )
