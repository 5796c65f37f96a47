"""Which multipart uploads upqueue started: the mark that lets housekeeping abort its own stale
uploads and never someone else's.

S3's ListMultipartUploads shows neither metadata nor tags, so an upload cannot be recognised as
upqueue's from the server's list alone. Every upload id upqueue creates is written here (before
its first part) and removed once completed or aborted; the objects also carry
``x-amz-meta-upqueue-upload`` for a person looking at the bucket. One small JSON file in the
data directory: the worker is its only writer.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from upqueue.core import paths

LEDGER_FILE = "s3-multipart-uploads.json"
_lock = threading.Lock()


def _path() -> Path:
    return paths.data_dir() / LEDGER_FILE


def _load() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path().read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(entries: dict[str, dict[str, Any]]) -> None:
    path = _path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1), "utf-8")
    os.replace(tmp, path)


def _entry_key(host: str, bucket: str, upload_id: str) -> str:
    return f"{host}/{bucket}/{upload_id}"


def add(host: str, bucket: str, key: str, upload_id: str) -> None:
    with _lock:
        entries = _load()
        entries[_entry_key(host, bucket, upload_id)] = {
            "host": host,
            "bucket": bucket,
            "key": key,
            "upload_id": upload_id,
            "started": time.time(),
        }
        _save(entries)


def remove(host: str, bucket: str, upload_id: str) -> None:
    with _lock:
        entries = _load()
        if entries.pop(_entry_key(host, bucket, upload_id), None) is not None:
            _save(entries)


def started(host: str, bucket: str) -> dict[str, dict[str, Any]]:
    """upload id -> entry, for the uploads upqueue started in this bucket and still lists."""
    with _lock:
        return {
            e["upload_id"]: e
            for e in _load().values()
            if e.get("host") == host and e.get("bucket") == bucket
        }
