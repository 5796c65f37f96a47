"""The tuspy peer of the benchmarks: upload files one after another, print one JSON line.

    python bench/tuspy_upload.py --endpoint URL [--chunk-size BYTES] (--file PATH | --list FILE)

One TusClient, one uploader per file, in a plain loop: what a script built on tuspy does.
Prints ``{"urls", "bytes", "seconds", "cpu_seconds"}``; seconds and cpu_seconds cover the
uploads only (imports and start-up are outside), the caller measures the whole process too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

from tusclient import client as tus_client

DEFAULT_CHUNK = 8 << 20


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def upload_all(endpoint: str, paths: list[str], chunk_size: int) -> dict[str, object]:
    """Upload ``paths`` in order with tuspy; returns the figures and the upload URLs."""
    tus = tus_client.TusClient(endpoint)
    urls: list[str] = []
    total = 0
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    for path in paths:
        # tuspy sends an empty Upload-Metadata header without metadata, which @tus/server 2.x
        # rejects with 400: give it the file name, as any real use would.
        uploader = tus.uploader(
            path, chunk_size=chunk_size, metadata={"filename": os.path.basename(path)}
        )
        uploader.upload()
        urls.append(str(uploader.url))
        total += uploader.get_file_size()
    return {
        "urls": urls,
        "bytes": total,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": _cpu_seconds() - cpu0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="tus creation URL")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="bytes per PATCH")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--file", help="one file to upload")
    group.add_argument("--list", help="a text file naming one file to upload per line")
    args = parser.parse_args(argv)
    if args.file:
        paths = [args.file]
    else:
        with open(args.list, encoding="utf-8") as f:
            paths = [line.rstrip("\n") for line in f if line.strip()]
    result = upload_all(args.endpoint, paths, args.chunk_size)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
