"""Small-files benchmark (issues 2 and 12): 2,000 files of 4 KiB added to upqueue at once,
against a tuspy loop over the same files and against curl making the same two requests per
file; interleaved rounds against the same local @tus/server.

    .venv/bin/python bench/small_files.py                # 2,000 x 4 KiB, 3 rounds
    .venv/bin/python bench/small_files.py --profile      # also py-spy the worker (results/)

upqueue: one add_uploads call with every path, timed from the call to the last upload's
finished_at. tuspy: one client and one uploader per file in a loop, in its own process, timed
inside it (imports excluded). curl (the limit of this server on this machine): every file
costs what it costs upqueue, a creation POST (empty) and a PATCH, on kept-alive connections
at upqueue's concurrency (``curl --parallel --parallel-max N``): one curl process makes every
POST, then one makes every PATCH (a PATCH needs its POST's Location, and one curl command
cannot feed one transfer's answer into another), both timed, spawn to exit. bare-tus:
upqueue's own tus client with nothing around it (no worker, store or checks) on as many
threads, timed inside its process: how near a Python client gets to curl at all, which splits
upqueue's gap into the worker's share and the language's. Every stored
file's size is checked, and its bytes in round 1.

upqueue pipelines (core.transports.tus.small_batch): the same two requests per file on as
many connections, but each connection carries the next requests before the answers come.
curl (which dropped HTTP/1.1 pipelining in 7.62) and bare-tus wait for each answer, so the
"limit" is that of one request at a time per connection, which upqueue now passes.
"""

from __future__ import annotations

import argparse
import base64
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
from bench.measure import PySpy, RunMeters, run_child, wait_for_quiet

TARGET_RATIO = 3.0
TARGET_VS_CURL = 0.9  # issue 12: of the limit that curl making the same requests reaches
DEFAULT_CONCURRENCY = 3  # upqueue's default setting (core/settings.py)
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
    baseline_args: list[str] = field(default_factory=list)
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


def run_upqueue(ctx: Context, round_no: int, *, baseline: bool = False) -> dict[str, Any]:
    worker = Worker(
        ctx.work / f"upqueue-home-small-{round_no}",
        ctx.baseline_args if baseline else ctx.worker_args,
    )
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


def run_bare_tus(ctx: Context, round_no: int) -> dict[str, Any]:
    """upqueue's tus client without the worker: the same two requests per file on as many
    threads as the worker runs, and no store, engine or checks (the Python floor)."""
    listing = ctx.work / "small-files.txt"
    listing.write_text("".join(f"{p}\n" for p in ctx.files), encoding="utf-8")
    concurrency = int(ctx.settings.get("concurrency") or DEFAULT_CONCURRENCY)
    result = peers.bare_tus(ctx.server.url, ctx.meters, listing, concurrency)
    result["urls"] = dict(zip((str(p) for p in ctx.files), result["urls"], strict=True))
    return result


def _curl_config(entries: list[dict[str, str | list[str]]]) -> str:
    """A curl config file (``-K``): one transfer per entry, separated by ``next``."""
    blocks = []
    for entry in entries:
        lines = ["silent", "show-error", 'output = "/dev/null"']
        for key, value in entry.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f'{key} = "{item}"')
        blocks.append("\n".join(lines))
    return "\nnext\n".join(blocks) + "\n"


def run_curl(ctx: Context, round_no: int) -> dict[str, Any]:
    concurrency = int(ctx.settings.get("concurrency") or DEFAULT_CONCURRENCY)
    tus = "Tus-Resumable: 1.0.0"
    creates = _curl_config([
        {
            "url": ctx.server.url.rstrip("/"),
            "request": "POST",
            "header": [tus, f"Upload-Length: {ctx.file_size}",
                       "Upload-Metadata: filename " + base64.b64encode(p.name.encode()).decode()],
            "write-out": "%{urlnum} %{http_code} %header{location}\\n",
        }
        for p in ctx.files
    ])  # fmt: skip
    create_file = ctx.work / "curl-creates.cfg"
    create_file.write_text(creates, encoding="utf-8")
    parallel = ["curl", "--parallel", "--parallel-max", str(concurrency), "-K"]
    ctx.meters.start()
    created = run_child([*parallel, str(create_file)], timeout=TIMEOUT)
    locations: dict[int, str] = {}
    for line in created.stdout.splitlines():
        number, code, location = (line.split() + ["", "", ""])[:3]
        if code != "201":
            ctx.meters.stop()
            raise RuntimeError(f"curl's creation POST was answered {code}: {created.stderr}")
        locations[int(number)] = location
    patches = _curl_config([
        {
            "url": locations[number],
            "request": "PATCH",
            "upload-file": str(path),
            "header": [tus, "Upload-Offset: 0", "Content-Type: application/offset+octet-stream"],
            "write-out": "%{http_code}\\n",
        }
        for number, path in enumerate(ctx.files)
    ])  # fmt: skip
    patch_file = ctx.work / "curl-patches.cfg"
    patch_file.write_text(patches, encoding="utf-8")
    sent = run_child([*parallel, str(patch_file)], timeout=TIMEOUT)
    ctx.meters.stop()
    codes = sent.stdout.split()
    if len(codes) != len(ctx.files) or set(codes) != {"204"}:
        raise RuntimeError(f"curl's PATCHes were answered {sorted(set(codes))}: {sent.stderr}")
    cpu = created.cpu_seconds + sent.cpu_seconds
    return {
        "seconds": created.wall_seconds + sent.wall_seconds,
        "cpu_seconds": cpu,
        "process_cpu_seconds": cpu,
        "peak_rss": max(created.peak_rss, sent.peak_rss),
        "urls": {str(path): locations[n] for n, path in enumerate(ctx.files)},
    }


def run_baseline(ctx: Context, round_no: int) -> dict[str, Any]:
    """upqueue's worker run through ``--baseline-wrapper`` (e.g. the code before a change)."""
    return run_upqueue(ctx, round_no, baseline=True)


RUNNERS = {"upqueue": run_upqueue, "tuspy": run_tuspy, "curl": run_curl, "bare-tus": run_bare_tus}
EXTRA_RUNNERS = {"baseline": run_baseline}


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
    parser.add_argument(
        "--baseline-wrapper",
        type=Path,
        help="add a client 'baseline': the worker run as `python WRAPPER main.py worker` "
        "(e.g. one that runs the code before a change), interleaved with the others",
    )
    parser.add_argument(
        "--clients", default=",".join(RUNNERS), help="comma list of " + ",".join(RUNNERS)
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
    clients = [c for c in args.clients.split(",") if c]
    if args.baseline_wrapper:
        ctx.baseline_args = [str(args.baseline_wrapper.resolve())]
        RUNNERS.update(EXTRA_RUNNERS)
        if "baseline" not in clients:
            clients.append("baseline")
    unknown = set(clients) - set(RUNNERS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    runs: list[dict[str, Any]] = []
    try:
        for round_no in range(args.rounds):
            shift = round_no % len(clients)
            order = clients[shift:] + clients[:shift]
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
    rate = {c: m["files_per_second"] for c, m in medians.items()}
    ratio = rate["upqueue"] / rate["tuspy"] if "upqueue" in rate and "tuspy" in rate else None
    of_limit = rate["upqueue"] / rate["curl"] if "upqueue" in rate and "curl" in rate else None
    met = (ratio is None or ratio >= TARGET_RATIO) and (
        of_limit is None or of_limit >= TARGET_VS_CURL
    )
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
    by_round = {(r["client"], r["round"]): r["files_per_second"] for r in runs}
    for peer, value, target in (("tuspy", ratio, TARGET_RATIO), ("curl", of_limit, TARGET_VS_CURL)):
        if value is None:
            continue
        per_round = ", ".join(
            f"{by_round[('upqueue', n)] / by_round[(peer, n)]:.2f}" for n in range(args.rounds)
        )
        name = "tuspy loop" if peer == "tuspy" else "the curl limit (same two requests)"
        print(
            f"upqueue / {name} = {value:.2f}x (per round {per_round}); "
            f"target >= {target:g}x: {'met' if value >= target else 'MISSED'}"
        )
    if "bare-tus" in rate and "curl" in rate:
        # The floor of a Python client: upqueue's tus client alone, against the curl limit.
        print(f"bare tus client / the curl limit = {rate['bare-tus'] / rate['curl']:.2f}x")
    if "bare-tus" in rate and "upqueue" in rate:
        print(f"upqueue / bare tus client = {rate['upqueue'] / rate['bare-tus']:.2f}x")
    if "baseline" in rate and "upqueue" in rate:
        print(f"upqueue / baseline = {rate['upqueue'] / rate['baseline']:.2f}x")
    path = write_results(
        "small-files",
        {
            "machine": machine(),
            "count": len(files),
            "size": args.size,
            "rounds": args.rounds,
            "settings": settings,
            "runs": runs,
            "summary": {"medians": medians, "ratio": ratio, "of_curl_limit": of_limit, "met": met},
        },
    )
    print(f"raw results: {path}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
