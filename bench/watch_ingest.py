"""Watched-folder ingest benchmark (issue 4): 5,000 files of 4 KiB copied into a watched folder;
seconds from the first copy until every one is done on the server, and files per second.

    .venv/bin/python bench/watch_ingest.py                     # 5,000 x 4 KiB, settle 3 s, 1 round
    .venv/bin/python bench/watch_ingest.py --rounds 3 --settle 1

Each round uses a fresh worker and a fresh watched folder against the same local @tus/server
(cleared between rounds). The files are copied in (``shutil.copyfile``: created, then written,
as a file manager or ``cp`` does), so every file waits out the settle time: the figure is the
whole path a person sees, from the drop to the last byte on the server, settle time included.
Also reported: when the last file was queued (ingest alone), the number of submissions (one
transaction each), the batch's counts, and that every stored file has its size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_WORK,
    Table,
    Worker,
    add_target,
    check_tools,
    clear_server,
    isolated_env,
    machine,
    median,
    parse_iso,
    poll,
    start_server,
    stored_size,
    write_results,
)

TIMEOUT = 900.0


def one_round(
    server: Any, work: Path, sources: list[Path], settle: float, concurrency: int
) -> dict[str, Any]:
    inbox = work / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    worker = Worker(work / "home")
    api = worker.start({"concurrency": concurrency})
    try:
        add_target(api, server.url)
        watch = api.add_watch(path=str(inbox), target="bench", settle_seconds=settle)
        poll(lambda: api.watch(watch["id"])["state"] == "watching", 30, "the watch to arm")
        t0 = time.time()
        for source in sources:
            shutil.copyfile(source, inbox / source.name)
        copied = time.time() - t0
        count = len(sources)

        def finished() -> dict[str, Any] | None:
            batches = api.batches(watch_id=watch["id"])["batches"]
            return next((b for b in batches if b["state"] != "open"), None)

        batch = poll(finished, TIMEOUT, "the batch to finish", interval=0.2)
        uploads = api.uploads(batch_id=batch["id"])["uploads"]
        last_done = max(parse_iso(u["finished_at"]) for u in uploads)
        last_queued = max(parse_iso(u["created_at"]) for u in uploads)
        queued_events = [
            e for e in api.batch(batch["id"])["events"] if e["title"] == "Files queued"
        ]
        sizes_ok = all(stored_size(server, u["result_url"]) == u["size"] for u in uploads)
        seconds = last_done - t0
        return {
            "files": count,
            "seconds": round(seconds, 2),
            "files_per_second": round(count / seconds, 1),
            "copy_seconds": round(copied, 2),
            "queued_after_seconds": round(last_queued - t0, 2),
            "submissions": len(queued_events),
            "batches": len(api.batches(watch_id=watch["id"])["batches"]),
            "batch": {k: batch[k] for k in ("state", "total", "done", "failed")},
            "stored_sizes_ok": sizes_ok,
            "worker_cpu_seconds": round(worker.cpu_seconds(), 1),
            "worker_peak_rss_mib": round(worker.peak_rss() / (1 << 20), 1),
        }
    finally:
        worker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file (default 4 KiB)")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="the watch's settle time (default 3 s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=3, help="uploads at once (the default setting)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK / "watch-ingest")
    args = parser.parse_args()

    check_tools()
    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    isolated_env(work)
    sources_dir = work / "sources"
    sources_dir.mkdir()
    sources = []
    for i in range(args.files):
        path = sources_dir / f"file-{i:05d}.bin"
        path.write_bytes(i.to_bytes(4, "big") * (args.size // 4) + b"\0" * (args.size % 4))
        sources.append(path)

    server = start_server(work)
    results = []
    try:
        for round_no in range(args.rounds):
            clear_server(server)
            result = one_round(server, work, sources, args.settle, args.concurrency)
            results.append(result)
            print(f"round {round_no + 1}: {result}", flush=True)
    finally:
        server.stop()

    table = Table(
        [
            "round",
            "files",
            "seconds",
            "files/s",
            "queued after s",
            "submissions",
            "batch",
            "sizes ok",
        ]
    )
    for i, r in enumerate(results, 1):
        b = r["batch"]
        table.add(
            i,
            r["files"],
            f"{r['seconds']:.2f}",
            f"{r['files_per_second']:.1f}",
            f"{r['queued_after_seconds']:.2f}",
            r["submissions"],
            f"{b['state']} {b['done']}/{b['total']}",
            r["stored_sizes_ok"],
        )
    print(table.render())
    summary = {
        "median_seconds": median([r["seconds"] for r in results]),
        "median_files_per_second": median([r["files_per_second"] for r in results]),
    }
    print(
        f"median: {summary['median_seconds']:.2f} s, {summary['median_files_per_second']:.1f} files/s "
        f"({args.files} x {args.size} B, settle {args.settle:g} s, concurrency {args.concurrency})"
    )
    path = write_results(
        "watch-ingest",
        {
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": machine(),
            "rounds": results,
            "summary": summary,
        },
    )
    print(f"results: {path}")
    ok = all(r["stored_sizes_ok"] and r["batch"]["done"] == args.files for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
