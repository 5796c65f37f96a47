"""The engine's own cost per small file, without Huey, the control API or a worker process:
the real engine, repository and state.db in this process, its runners on threads, against a
local @tus/server, interleaved with upqueue's bare tus client (no engine) on as many threads.

    .venv/bin/python bench/engine_path.py                 # 2,000 x 4 KiB, 3 threads, 3 rounds
    .venv/bin/python bench/engine_path.py --threads 1     # one runner: no GIL or lock contention

What it is for (issue 12 point 5): bench/small_files.py measures the whole worker against curl;
this splits off what the engine adds per file (claims, hooks, checks, the durable URL save,
history events, the outcome) from what the HTTP costs, in one process where a change to the
engine can be measured in seconds. Both clients make the same two requests per file (an empty
creation POST, then a PATCH). Prints files/s, this process's CPU per file, the server's CPU,
and engine / bare per round.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    DEFAULT_WORK,
    Table,
    clear_server,
    isolated_env,
    machine,
    median,
    raise_priority,
    start_server,
    write_results,
)
from bench.measure import ServerMeter, wait_for_quiet
from bench.small_files import make_files


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _InlineScheduler:
    """The engine's Scheduler with nothing behind it: the benchmark starts the runners."""

    def start_runners(self, count: int) -> None:
        pass

    def terminate(self, upload_id: int, state: Any, target_id: int) -> None:
        pass

    def follow(self, name: str, follow: Any) -> None:
        follow()


def run_engine(server_url: str, files: list[Path], threads: int, home: Path) -> dict[str, Any]:
    """Queue every file on a fresh state.db, then run ``threads`` runners until none is due."""
    from upqueue.core import paths
    from upqueue.core.secrets import SecretStore
    from upqueue.core.store import Store
    from upqueue.worker.engine import Engine
    from upqueue.worker.repository import UploadRepository
    from upqueue.worker.service import Service
    from upqueue.worker.upload_events import FinishedUploads

    home.mkdir(parents=True)
    store = Store(home / paths.STATE_DB)
    repository = UploadRepository(store)
    finished = FinishedUploads(repository)
    secrets = SecretStore(home)
    engine = Engine(store, repository, secrets, _InlineScheduler(), finished, "bench", home)
    service = Service(store, secrets, home, repository=repository, engine=engine, finished=finished)
    try:
        service.add_target({"name": "bench", "url": server_url, "protocol": "tus"})
        service.update_settings({"concurrency": threads})
        service.add_uploads([str(p) for p in files], "bench")
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        runners = [threading.Thread(target=engine.run_runner) for _ in range(threads)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
        done = store.query_one("SELECT count(*) AS n FROM uploads WHERE status = 'done'")
        if not done or done["n"] != len(files):
            failed = store.query_one(
                "SELECT error_message FROM uploads WHERE status != 'done' LIMIT 1"
            )
            raise RuntimeError(f"not every upload finished: {failed}")
    finally:
        engine.shutdown(timeout=1)
        service.close()
        store.close()
    return {"seconds": seconds, "cpu_seconds": cpu}


def run_bare(server_url: str, files: list[Path], threads: int) -> dict[str, Any]:
    from bench.bare_tus_upload import upload_all

    out = upload_all(server_url, [str(p) for p in files], threads)
    return {"seconds": out["seconds"], "cpu_seconds": out["cpu_seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--threads", type=int, default=3, help="runners (and bare threads)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args(argv)

    nice = raise_priority()
    work = args.work.resolve()
    isolated_env(work)
    os.environ["UPQUEUE_SECRET_STORE"] = "file"  # no secret is used; no keyring needed
    files = make_files(work / f"small-{args.count}x{args.size}", args.count, args.size)
    server = start_server(work)
    runs: list[dict[str, Any]] = []
    try:
        for round_no in range(args.rounds):
            order = ["engine", "bare"] if round_no % 2 == 0 else ["bare", "engine"]
            for client in order:
                clear_server(server)
                wait_for_quiet()
                meter = ServerMeter(server)
                if client == "engine":
                    home = work / f"engine-home-{os.getpid()}-{round_no}"
                    result = run_engine(server.url, files, args.threads, home)
                else:
                    result = run_bare(server.url, files, args.threads)
                result.update(meter.delta(), client=client, round=round_no)
                runs.append(result)
                print(
                    f"round {round_no + 1}/{args.rounds} {client:6s} "
                    f"{args.count / result['seconds']:7.1f} files/s  "
                    f"cpu {result['cpu_seconds'] / args.count * 1000:.3f} ms/file"
                )
    finally:
        server.stop()

    table = Table(["client", "files/s", "CPU ms/file", "server CPU ms/file"])
    for client in ("engine", "bare"):
        mine = [r for r in runs if r["client"] == client]
        table.add(
            client,
            f"{median([args.count / r['seconds'] for r in mine]):.1f}",
            f"{median([r['cpu_seconds'] / args.count * 1000 for r in mine]):.3f}",
            f"{median([r['server_cpu_seconds'] / args.count * 1000 for r in mine]):.3f}",
        )
    print(
        f"\nMedians of {args.rounds} rounds, {args.count} files of {args.size} bytes, "
        f"{args.threads} thread(s), nice {nice}"
    )
    print(table.render())
    ratios = [
        next(r for r in runs if r["client"] == "bare" and r["round"] == n)["seconds"]
        / next(r for r in runs if r["client"] == "engine" and r["round"] == n)["seconds"]
        for n in range(args.rounds)
    ]
    print(
        "engine / bare per round: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + f" (median {median(ratios):.2f})"
    )
    path = write_results(
        "engine-path",
        {
            "machine": machine(),
            "count": args.count,
            "size": args.size,
            "threads": args.threads,
            "rounds": args.rounds,
            "runs": runs,
        },
    )
    print(f"raw results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
