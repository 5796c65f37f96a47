"""Small-files benchmark (issue 2): 2,000 files of 4 KiB added to upqueue at once, against a
tuspy loop over the same files, interleaved rounds against the same local @tus/server.

    .venv/bin/python bench/small_files.py                # 2,000 x 4 KiB, 3 rounds
    .venv/bin/python bench/small_files.py --profile      # also py-spy the worker (results/)

upqueue: one add_uploads call with every path, timed from the call to the last upload's
finished_at. tuspy: one client and one uploader per file in a loop, in its own process, timed
inside it (imports excluded). Every stored file's size is checked, and its bytes in round 1.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import peers
from bench.common import (
    DEFAULT_WORK,
    RESULTS,
    Table,
    TusServer,
    Worker,
    add_target,
    check_tools,
    clear_server,
    isolated_env,
    machine,
    median,
    parse_iso,
    raise_priority,
    start_server,
    stored_size,
    wait_all_ended,
    write_results,
)
from bench.measure import PySpy, RunMeters, wait_for_quiet

TARGET_RATIO = 3.0
TIMEOUT = 900.0


@dataclass
class Context:
    server: TusServer
    files: list[Path]
    file_size: int
    work: Path
    settings: dict[str, Any]
    profile: str | None
    worker_args: list[str] = field(default_factory=list)
    meters: RunMeters = field(init=False)

    def __post_init__(self) -> None:
        self.meters = RunMeters(self.server)


def make_files(directory: Path, count: int, size: int) -> list[Path]:
    """``count`` files of ``size`` random bytes each (kept between runs when they match)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(4)
    paths = []
    for i in range(count):
        path = directory / f"small-{i:05d}.bin"
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(rng.randbytes(size))
        paths.append(path)
    return paths


def run_upqueue(ctx: Context, round_no: int) -> dict[str, Any]:
    worker = Worker(ctx.work / f"upqueue-home-small-{round_no}", ctx.worker_args)
    api = worker.start(ctx.settings)
    try:
        target = add_target(api, ctx.server.url)
        spy = (
            PySpy(worker.pid, RESULTS / f"pyspy-small-r{round_no}.txt", gil=ctx.profile == "gil")
            if ctx.profile
            else None
        )
        ctx.meters.start()
        cpu0, t0 = worker.cpu_seconds(), time.time()
        answer = api.add_uploads([str(p) for p in ctx.files], target)
        add_seconds = time.time() - t0
        if answer["rejected"] or len(answer["ids"]) != len(ctx.files):
            raise RuntimeError(f"upqueue rejected files: {answer['rejected'][:3]}")
        wait_all_ended(api, len(ctx.files), TIMEOUT)
        cpu = worker.cpu_seconds() - cpu0
        ctx.meters.stop()
        if spy:
            spy.stop()
        uploads = api.uploads()["uploads"]
        not_done = [u for u in uploads if u["status"] != "done"]
        if not_done:
            raise RuntimeError(
                f"{len(not_done)} uploads did not finish: {not_done[0].get('error_message')}"
            )
        first = min(parse_iso(u["started_at"]) for u in uploads)
        last = max(parse_iso(u["finished_at"]) for u in uploads)
        return {
            "seconds": last - t0,
            "add_call_seconds": add_seconds,
            "first_start_after_add": first - t0,
            "cpu_seconds": cpu,
            "peak_rss": worker.peak_rss(),
            "urls": {u["path"]: u["result_url"] for u in uploads},
        }
    finally:
        worker.stop()


def run_tuspy(ctx: Context, round_no: int) -> dict[str, Any]:
    listing = ctx.work / "small-files.txt"
    listing.write_text("".join(f"{p}\n" for p in ctx.files), encoding="utf-8")
    result = peers.tuspy(ctx.server.url, ctx.meters, listing=listing)
    result["urls"] = dict(zip((str(p) for p in ctx.files), result["urls"], strict=True))
    return result


RUNNERS = {"upqueue": run_upqueue, "tuspy": run_tuspy}


def verify(ctx: Context, result: dict[str, Any], content: bool) -> None:
    """Every file is on the server at full size (and, if ``content``, with the same bytes)."""
    urls: dict[str, str] = result.pop("urls")
    if len(urls) != len(ctx.files):
        raise RuntimeError(f"{result['client']} reported {len(urls)} uploads of {len(ctx.files)}")
    for path in ctx.files:
        url = urls[str(path)]
        if stored_size(ctx.server, url) != ctx.file_size:
            raise RuntimeError(
                f"{result['client']}: {path.name} stored {stored_size(ctx.server, url)} bytes"
            )
        if content and ctx.server.stored_bytes(url) != path.read_bytes():
            raise RuntimeError(f"{result['client']}: {path.name} stored different bytes")
    result["verified"] = "content" if content else "size"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="upqueue's setting (0 = its default)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="wall",
        choices=["wall", "gil"],
        help="py-spy the worker into bench/results/ (gil: Python CPU only)",
    )
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch directory")
    parser.add_argument(
        "--worker-wrapper",
        type=Path,
        help="run the worker as `python WRAPPER main.py worker` (e.g. to measure a patch)",
    )
    args = parser.parse_args(argv)
    check_tools()
    work = args.work.resolve()
    isolated_env(work)
    raise_priority()
    settings = {"concurrency": args.concurrency} if args.concurrency else {}
    files = make_files(work / f"small-{args.count}x{args.size}", args.count, args.size)
    server = start_server(work)
    wrapper = [str(args.worker_wrapper.resolve())] if args.worker_wrapper else []
    ctx = Context(server, files, args.size, work, settings, args.profile, wrapper)
    clients = list(RUNNERS)
    runs: list[dict[str, Any]] = []
    try:
        for round_no in range(args.rounds):
            order = clients if round_no % 2 == 0 else clients[::-1]
            for client in order:
                load_before = wait_for_quiet()
                result = RUNNERS[client](ctx, round_no)
                result.update(ctx.meters.figures)
                # Busy time that neither this client nor the server used: the rest of the machine.
                result["others_busy_seconds"] = (
                    result["machine_busy_seconds"]
                    - result.get("process_cpu_seconds", result["cpu_seconds"])
                    - result["server_cpu_seconds"]
                )
                result["other_load_before"] = load_before
                result.update(client=client, round=round_no, files=len(files))
                result["files_per_second"] = len(files) / result["seconds"]
                verify(ctx, result, content=round_no == 0)
                clear_server(server)
                runs.append(result)
                print(
                    f"round {round_no + 1}/{args.rounds} {client:8s} {result['files_per_second']:7.1f} files/s "
                    f"({result['seconds']:.2f} s)  cpu {result['cpu_seconds']:.2f} s  "
                    f"peak RSS {result['peak_rss'] / 1e6:.0f} MB",
                    flush=True,
                )
    finally:
        server.stop()
    medians = {
        c: {
            "files_per_second": median([r["files_per_second"] for r in runs if r["client"] == c]),
            "cpu_seconds": median([r["cpu_seconds"] for r in runs if r["client"] == c]),
            "peak_rss_mb": median([r["peak_rss"] / 1e6 for r in runs if r["client"] == c]),
            "server_cpu_seconds": median(
                [r["server_cpu_seconds"] for r in runs if r["client"] == c]
            ),
        }
        for c in clients
    }
    ratio = medians["upqueue"]["files_per_second"] / medians["tuspy"]["files_per_second"]
    met = ratio >= TARGET_RATIO
    print(f"\nMedians of {args.rounds} rounds, {len(files)} files of {args.size} bytes")
    table = Table(["client", "files/s", "client CPU s", "peak RSS MB", "server CPU s"])
    for client, m in medians.items():
        table.add(
            client,
            f"{m['files_per_second']:.1f}",
            f"{m['cpu_seconds']:.2f}",
            f"{m['peak_rss_mb']:.0f}",
            f"{m['server_cpu_seconds']:.2f}",
        )
    print(table.render())
    print(
        f"upqueue / tuspy loop = {ratio:.2f}x; target >= {TARGET_RATIO:g}x: {'met' if met else 'MISSED'}"
    )
    path = write_results(
        "small-files",
        {
            "machine": machine(),
            "count": len(files),
            "size": args.size,
            "rounds": args.rounds,
            "settings": settings,
            "runs": runs,
            "summary": {"medians": medians, "ratio": ratio, "met": met},
        },
    )
    print(f"raw results: {path}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
