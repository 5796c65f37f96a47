"""The peer clients, each run in its own measured process: tuspy (one file, or a loop over a
list), upqueue's own tus client with no queue around it, tus-js-client in node, and curl (one creation-with-upload POST, streamed with -T).

Every function returns the same figures: ``seconds`` and ``cpu_seconds`` of the upload (timed
inside the client where it can, so interpreter start-up is left out), the whole process's
``process_cpu_seconds``/``process_seconds``, its ``peak_rss`` and the upload ``urls``.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from bench.measure import ChildResult, RunMeters, run_child

BENCH = Path(__file__).resolve().parent
TIMEOUT = 900.0


def _measured(cmd: list[str], meters: RunMeters, cwd: Path | None = None) -> ChildResult:
    meters.start()
    child = run_child(cmd, cwd=cwd, timeout=TIMEOUT)
    meters.stop()
    return child


def _figures(child: ChildResult, out: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    return {
        "seconds": out["seconds"],
        "cpu_seconds": out["cpu_seconds"],
        "process_cpu_seconds": child.cpu_seconds,
        "process_seconds": child.wall_seconds,
        "peak_rss": child.peak_rss,
        "urls": urls,
    }


def tuspy(
    endpoint: str,
    meters: RunMeters,
    *,
    file: Path | None = None,
    listing: Path | None = None,
    chunk_size: int = 8 << 20,
) -> dict[str, Any]:
    """tuspy uploading ``file``, or every file named in ``listing`` one after another."""
    source = ["--file", str(file)] if file is not None else ["--list", str(listing)]
    child = _measured(
        [
            sys.executable,
            str(BENCH / "tuspy_upload.py"),
            "--endpoint",
            endpoint,
            "--chunk-size",
            str(chunk_size),
            *source,
        ],
        meters,
    )
    out = child.json()
    return _figures(child, out, out["urls"])


def bare_tus(endpoint: str, meters: RunMeters, listing: Path, threads: int) -> dict[str, Any]:
    """upqueue's TusClient alone on ``threads`` threads, no queue (bench/bare_tus_upload.py)."""
    child = _measured(
        [
            sys.executable,
            str(BENCH / "bare_tus_upload.py"),
            "--endpoint",
            endpoint,
            "--list",
            str(listing),
            "--threads",
            str(threads),
        ],
        meters,
    )
    out = child.json()
    return _figures(child, out, out["urls"])


def tusjs(
    endpoint: str, meters: RunMeters, file: Path, chunk_size: int = 8 << 20
) -> dict[str, Any]:
    """tus-js-client (bench/node_modules) uploading ``file`` from a read stream."""
    child = _measured(
        [
            "node",
            str(BENCH / "tusjs_upload.mjs"),
            "--endpoint",
            endpoint,
            "--chunk-size",
            str(chunk_size),
            "--file",
            str(file),
        ],
        meters,
        cwd=BENCH,
    )
    out = child.json()
    return _figures(child, out, [out["url"]])


def curl(endpoint: str, meters: RunMeters, file: Path) -> dict[str, Any]:
    """One creation-with-upload POST of the whole file; ``-T`` streams it from disk."""
    name = base64.b64encode(file.name.encode()).decode()
    write_out = '{"code": %{http_code}, "seconds": %{time_total}, "url": "%header{location}"}'
    child = _measured([
        "curl", "-sS", "-X", "POST", "-T", str(file),
        "-H", "Tus-Resumable: 1.0.0",
        "-H", f"Upload-Length: {file.stat().st_size}",
        "-H", "Content-Type: application/offset+octet-stream",
        "-H", f"Upload-Metadata: filename {name}",
        "-o", "/dev/null", "-w", write_out,
        # No trailing slash: with one, -T would append the file name to the URL.
        endpoint.rstrip("/"),
    ], meters)  # fmt: skip
    out = child.json()
    if out["code"] != 201:
        raise RuntimeError(f"curl's POST was answered {out['code']}")
    out["cpu_seconds"] = child.cpu_seconds  # curl's start-up is negligible: the whole process
    return _figures(child, out, [out["url"]])
