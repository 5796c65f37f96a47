"""upqueue's own tus client with no queue around it: the floor of a Python client.

    python bench/bare_tus_upload.py --endpoint URL --list FILE [--threads N]

N threads share one ``core.transports.tus.client.TusClient`` (each thread keeps its own
kept-alive connection, as the worker's runners do) and take the listed files in turn; each
file costs what it costs the worker: an empty creation POST, then one PATCH. No state.db, no
engine, no fingerprint checks: what is left is the HTTP in Python, so the gap between this and
the worker is the worker's own cost, and the gap between this and curl is the language's.
Prints ``{"urls", "bytes", "seconds", "cpu_seconds"}`` for the uploads only (imports excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from upqueue.core.filereader import FileSlice
from upqueue.core.transports.tus.client import TusClient


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def upload_all(endpoint: str, paths: list[str], threads: int) -> dict[str, object]:
    client = TusClient()
    urls: list[str | None] = [None] * len(paths)
    sizes = [os.path.getsize(p) for p in paths]
    next_index = iter(range(len(paths)))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                path, size = paths[index], sizes[index]
                created = client.create(endpoint, size, {"filename": os.path.basename(path)})
                client.patch(created.url, 0, FileSlice(path, 0, size))
                urls[index] = created.url
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            failures.append(exc)

    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if failures:
        raise failures[0]
    return {"urls": urls, "bytes": sum(sizes), "seconds": seconds, "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="tus creation URL")
    parser.add_argument("--list", required=True, help="a text file naming one file per line")
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args(argv)
    paths = [line for line in Path(args.list).read_text(encoding="utf-8").splitlines() if line]
    print(json.dumps(upload_all(args.endpoint, paths, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
