"""Throughput benchmark (issue 2): upqueue through its worker against tuspy, tus-js-client and
curl, one interleaved run against the same local @tus/server; and the worker's RSS on 2 GiB.

    .venv/bin/python bench/throughput.py                 # 512 MiB, 5 rounds, all four clients
    .venv/bin/python bench/throughput.py --rss-2g        # worker RSS while uploading 2 GiB
    .venv/bin/python bench/throughput.py --profile       # also py-spy the worker (results/)
    .venv/bin/python bench/throughput.py --whole-process # as a person runs it (bench/whole_process.py)

Each round runs every client once, in an order that rotates from round to round, on a file
already in the page cache. Every upload's stored size is checked, and in the first round the
sha256 of each stored file, so a client that loses bytes cannot win. Reported: medians of MB/s
(10^6 bytes), client CPU seconds per GiB and peak RSS, and upqueue's ratios to the others.
Server and clients share the machine's cores; the server's CPU is recorded too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import peers, whole_process
from bench.common import (
    DEFAULT_WORK,
    RESULTS,
    GiB,
    MiB,
    Table,
    TusServer,
    Worker,
    add_target,
    check_tools,
    clear_server,
    isolated_env,
    machine,
    make_file,
    median,
    parse_iso,
    raise_priority,
    sha256,
    start_server,
    stored_size,
    wait_all_ended,
    warm,
    write_results,
)
from bench.measure import PySpy, RssSampler, RunMeters, wait_for_quiet

CLIENTS = ("upqueue", "tuspy", "tusjs", "curl")
PEER_CHUNK = 8 * MiB
TARGET_VS_CURL = 0.9
TARGET_VS_TUSPY = 1.2
TARGET_VS_TUSPY_WHOLE = 1.3  # issue 12: whole processes
TARGET_CPU_OVER_CURL = 0.1  # issue 12: the worker's CPU s/GiB within this of curl's
RSS_LIMIT_MB = 150
UPLOAD_TIMEOUT = 900.0


@dataclass
class Context:
    """What every client run needs."""

    server: TusServer
    file: Path
    size: int
    work: Path
    upqueue_settings: dict[str, Any]
    profile: str | None
    worker_args: list[str] = field(default_factory=list)
    baseline_args: list[str] = field(default_factory=list)
    meters: RunMeters = field(init=False)

    def __post_init__(self) -> None:
        self.meters = RunMeters(self.server)


# -- the clients: each uploads ctx.file once and returns its raw figures ----------------------
def run_upqueue(ctx: Context, round_no: int) -> dict[str, Any]:
    """Through a fresh worker: add the file over the API, time from the add to finished_at."""
    worker = Worker(ctx.work / f"upqueue-home-{round_no}", ctx.worker_args)
    api = worker.start(ctx.upqueue_settings)
    try:
        target = add_target(api, ctx.server.url)
        baseline_rss = worker.rss()
        spy = (
            PySpy(
                worker.pid, RESULTS / f"pyspy-throughput-r{round_no}.txt", gil=ctx.profile == "gil"
            )
            if ctx.profile
            else None
        )
        ctx.meters.start()
        cpu0, t0 = worker.cpu_seconds(), time.time()
        upload_id = api.add_uploads([str(ctx.file)], target)["ids"][0]
        wait_all_ended(api, 1, UPLOAD_TIMEOUT)
        upload = api.upload(upload_id)["upload"]
        cpu = worker.cpu_seconds() - cpu0
        ctx.meters.stop()
        if spy:
            spy.stop()
        if upload["status"] != "done":
            raise RuntimeError(
                f"upqueue upload ended {upload['status']}: {upload.get('error_message')}"
            )
        return {
            "seconds": parse_iso(upload["finished_at"]) - t0,
            # From the add call until the worker marked it uploading: API, queue and claim.
            "start_latency": parse_iso(upload["started_at"]) - t0,
            "cpu_seconds": cpu,
            "peak_rss": worker.peak_rss(),
            "baseline_rss": baseline_rss,
            "urls": [upload["result_url"]],
        }
    finally:
        worker.stop()


def run_tuspy(ctx: Context, round_no: int) -> dict[str, Any]:
    return peers.tuspy(ctx.server.url, ctx.meters, file=ctx.file, chunk_size=PEER_CHUNK)


def run_tusjs(ctx: Context, round_no: int) -> dict[str, Any]:
    return peers.tusjs(ctx.server.url, ctx.meters, ctx.file, chunk_size=PEER_CHUNK)


def run_curl(ctx: Context, round_no: int) -> dict[str, Any]:
    return peers.curl(ctx.server.url, ctx.meters, ctx.file)


RUNNERS: dict[str, Callable[[Context, int], dict[str, Any]]] = {
    "upqueue": run_upqueue,
    "tuspy": run_tuspy,
    "tusjs": run_tusjs,
    "curl": run_curl,
    **whole_process.RUNNERS,
}
# Whose figures the ratios are of, and against which peers the targets are set.
OURS = ("upqueue-cli", "upqueue")  # with both, the engine-only run is one of the peers
CURL = ("curl", "curl-2")
TUSPY = ("tuspy", "tuspy-proc")


# -- the interleaved run ---------------------------------------------------------------------
def compare(
    ctx: Context, rounds: int, clients: list[str], verify_all: bool
) -> list[dict[str, Any]]:
    source_sha = sha256(ctx.file)
    runs: list[dict[str, Any]] = []
    # The server's first upload pays for V8's warm-up (and upqueue, first in round 1, paid it:
    # its round-1 runs were 0.4-0.8x curl against ~0.9 after). One untimed upload first.
    if shutil.which("curl"):
        warm(ctx.file)
        peers.curl(ctx.server.url, ctx.meters, ctx.file)
        clear_server(ctx.server)
    for round_no in range(rounds):
        shift = round_no % len(clients)
        for client in clients[shift:] + clients[:shift]:
            warm(ctx.file)
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
            result.update(client=client, round=round_no, bytes=ctx.size)
            result["mb_s"] = ctx.size / result["seconds"] / 1e6
            result["cpu_s_per_gib"] = result["cpu_seconds"] / (ctx.size / GiB)
            _verify(ctx, result, source_sha if (round_no == 0 or verify_all) else None)
            clear_server(ctx.server)
            runs.append(result)
            print(
                f"round {round_no + 1}/{rounds} {client:8s} {result['mb_s']:8.1f} MB/s  "
                f"cpu {result['cpu_s_per_gib']:.2f} s/GiB  peak RSS {result['peak_rss'] / 1e6:.0f} MB"
                f"{'  (sha256 ok)' if result.get('sha256_ok') else ''}",
                flush=True,
            )
    return runs


def _verify(ctx: Context, result: dict[str, Any], source_sha: str | None) -> None:
    result["url"] = result.pop("urls")[0]
    stored = stored_size(ctx.server, result["url"])
    result["stored_bytes"] = stored
    if stored != ctx.size:
        raise RuntimeError(
            f"{result['client']} stored {stored} bytes of {ctx.size} at {result['url']}"
        )
    if source_sha is not None:
        result["sha256_ok"] = sha256(ctx.server.stored_path(result["url"])) == source_sha
        if not result["sha256_ok"]:
            raise RuntimeError(f"{result['client']}'s stored file differs from the source")


def summarize(runs: list[dict[str, Any]], clients: list[str]) -> dict[str, Any]:
    medians: dict[str, dict[str, float]] = {}
    for client in clients:
        mine = [r for r in runs if r["client"] == client]
        medians[client] = {
            "mb_s": median([r["mb_s"] for r in mine]),
            "cpu_s_per_gib": median([r["cpu_s_per_gib"] for r in mine]),
            "peak_rss_mb": median([r["peak_rss"] / 1e6 for r in mine]),
            "server_cpu_s_per_gib": median(
                [r["server_cpu_seconds"] / (r["bytes"] / GiB) for r in mine]
            ),
        }
        if any("worker_cpu_seconds" in r for r in mine):
            medians[client]["worker_cpu_s_per_gib"] = median(
                [r["worker_cpu_seconds"] / (r["bytes"] / GiB) for r in mine]
            )
    summary: dict[str, Any] = {"medians": medians, "ratios": {}, "targets": {}, "per_round": {}}
    ours_name = next((c for c in OURS if c in medians), None)
    if ours_name is not None:
        ours = medians[ours_name]["mb_s"]
        mb_s = {(r["client"], r["round"]): r["mb_s"] for r in runs}
        rounds = sorted({r["round"] for r in runs})
        for peer in clients:
            if peer != ours_name:
                summary["ratios"][f"{ours_name}/{peer}"] = ours / medians[peer]["mb_s"]
                # The ratio within each round too: both ran seconds apart on the same machine.
                summary["per_round"][f"{ours_name}/{peer}"] = [
                    mb_s[(ours_name, n)] / mb_s[(peer, n)] for n in rounds
                ]
        whole = ours_name == "upqueue-cli"
        for curl in (c for c in CURL if c in medians):
            ratio = summary["ratios"][f"{ours_name}/{curl}"]
            summary["targets"][f"{ours_name} >= {TARGET_VS_CURL}x {curl}"] = ratio >= TARGET_VS_CURL
            if whole:
                ours_cpu = medians[ours_name]["worker_cpu_s_per_gib"]
                summary["targets"][
                    f"worker CPU s/GiB within {TARGET_CPU_OVER_CURL} of {curl}'s"
                ] = ours_cpu - medians[curl]["cpu_s_per_gib"] <= TARGET_CPU_OVER_CURL
        for tuspy in (c for c in TUSPY if c in medians):
            ratio = summary["ratios"][f"{ours_name}/{tuspy}"]
            wanted = TARGET_VS_TUSPY_WHOLE if whole else TARGET_VS_TUSPY
            summary["targets"][f"{ours_name} >= {wanted}x {tuspy}"] = ratio >= wanted
    gaps = [r["exit_gap"] for r in runs if "exit_gap" in r]
    if gaps:
        summary["exit_gap_ms"] = sorted(gap * 1000 for gap in gaps)
        summary["breakdown_ms"] = {
            part: median([r[part] * 1000 for r in runs if part in r])
            for part in ("until_added", "start_latency", "transfer_seconds", "exit_gap")
        }
    return summary


def print_summary(summary: dict[str, Any], rounds: int, size: int) -> None:
    print(f"\nMedians of {rounds} rounds, {size / MiB:.0f} MiB file")
    table = Table(
        ["client", "MB/s", "CPU s/GiB", "peak RSS MB", "server CPU s/GiB", "upqueue ÷ it"]
    )
    ours_name = next((c for c in OURS if c in summary["medians"]), "upqueue")
    for client, m in summary["medians"].items():
        ratio = summary["ratios"].get(f"{ours_name}/{client}")
        table.add(
            client,
            f"{m['mb_s']:.1f}",
            f"{m['cpu_s_per_gib']:.2f}",
            f"{m['peak_rss_mb']:.0f}",
            f"{m['server_cpu_s_per_gib']:.2f}",
            f"{ratio:.2f}x" if ratio else "",
        )
    print(table.render())
    for name, ratios in summary["per_round"].items():
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"{name} per round: {listed} (median {median(ratios):.2f})")
    for name in ("upqueue-cli", "baseline-cli"):
        worker_cpu = summary["medians"].get(name, {}).get("worker_cpu_s_per_gib")
        if worker_cpu is not None:
            print(f"{name}: the worker's CPU {worker_cpu:.2f} s/GiB (the command's own on top)")
    if summary.get("exit_gap_ms"):
        gaps = ", ".join(f"{gap:.0f}" for gap in summary["exit_gap_ms"])
        print(f"upqueue add --wait exited this long after the upload's finished_at (ms): {gaps}")
    if summary.get("breakdown_ms"):
        parts = ", ".join(f"{k} {v:.0f}" for k, v in summary["breakdown_ms"].items())
        print(f"upqueue add --wait, medians in ms: {parts}")
    for name, ok in summary["targets"].items():
        print(f"target {name}: {'met' if ok else 'MISSED'}")


# -- the 2 GiB RSS step ----------------------------------------------------------------------
def rss_2g(
    server: TusServer, work: Path, settings: dict[str, Any], profile: str | None
) -> dict[str, Any]:
    """Upload a 2 GiB file through a fresh worker while sampling its RSS every 50 ms."""
    size = 2 * GiB
    path = work / "rss-2g.bin"
    if not path.exists() or path.stat().st_size != size:
        print("writing the 2 GiB file...", flush=True)
        make_file(path, size, seed=2)
        os.sync()  # so that writing it back does not slow the upload
    warm(path)
    worker = Worker(work / "upqueue-home-rss")
    api = worker.start(settings)
    try:
        target = add_target(api, server.url)
        baseline = worker.rss()
        spy = (
            PySpy(worker.pid, RESULTS / "pyspy-rss-2g.txt", gil=profile == "gil")
            if profile
            else None
        )
        t0 = time.time()
        with RssSampler(worker.pid, 0.05) as sampler:
            upload_id = api.add_uploads([str(path)], target)["ids"][0]
            wait_all_ended(api, 1, UPLOAD_TIMEOUT)
            upload = api.upload(upload_id)["upload"]
        if spy:
            spy.stop()
        if upload["status"] != "done":
            raise RuntimeError(f"upload ended {upload['status']}: {upload.get('error_message')}")
        stored = stored_size(server, upload["result_url"])
        if stored != size:
            raise RuntimeError(f"the server stored {stored} bytes of {size}")
        seconds = parse_iso(upload["finished_at"]) - t0
        result = {
            "bytes": size,
            "seconds": seconds,
            "mb_s": size / seconds / 1e6,
            "baseline_rss_mb": baseline / 1e6,
            "sampled_peak_rss_mb": sampler.peak / 1e6,
            "samples": sampler.samples,
            "vmhwm_mb": worker.peak_rss() / 1e6,
        }
    finally:
        worker.stop()
        clear_server(server)
    result["limit_mb"] = RSS_LIMIT_MB
    result["met"] = max(result["sampled_peak_rss_mb"], result["vmhwm_mb"]) < RSS_LIMIT_MB
    print(
        f"2 GiB through the worker: {result['mb_s']:.1f} MB/s; worker RSS at start "
        f"{result['baseline_rss_mb']:.0f} MB, sampled peak {result['sampled_peak_rss_mb']:.0f} MB "
        f"({result['samples']} samples), VmHWM {result['vmhwm_mb']:.0f} MB; target < {RSS_LIMIT_MB} MB: "
        f"{'met' if result['met'] else 'MISSED'}"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="test file size (MiB)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", default=None, help="comma list of " + ",".join(RUNNERS))
    parser.add_argument(
        "--whole-process",
        action="store_true",
        help="time whole processes as a person runs them: "
        + ", ".join(whole_process.CLIENTS)
        + " (bench/whole_process.py)",
    )
    parser.add_argument("--rss-2g", action="store_true", help="only the 2 GiB worker RSS step")
    parser.add_argument(
        "--upqueue-chunk",
        type=int,
        default=0,
        help="upqueue's chunk_size setting (bytes; 0 = its default, one PATCH)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="wall",
        choices=["wall", "gil"],
        help="py-spy the worker into bench/results/ (gil: Python CPU only)",
    )
    parser.add_argument(
        "--verify-all", action="store_true", help="sha256 every stored file, not round 1's"
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
        help="with --whole-process: add a client 'baseline-cli', upqueue-cli with the worker "
        "run through this wrapper (e.g. the code before a change), interleaved with the others",
    )
    args = parser.parse_args(argv)
    default = whole_process.CLIENTS if args.whole_process else CLIENTS
    clients = [c for c in (args.clients or ",".join(default)).split(",") if c]
    if args.baseline_wrapper and "baseline-cli" not in clients:
        clients.append("baseline-cli")
    unknown = set(clients) - set(RUNNERS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    check_tools(node_peer="tusjs" in clients and not args.rss_2g)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    isolated_env(work)
    raise_priority()
    settings = {"chunk_size": args.upqueue_chunk} if args.upqueue_chunk else {}
    server = start_server(work)
    try:
        if args.rss_2g:
            result = rss_2g(server, work, settings, args.profile)
            path = write_results(
                "rss-2g", {"machine": machine(), "result": result, "settings": settings}
            )
            print(f"raw results: {path}")
            return 0 if result["met"] else 1
        size = args.size_mib * MiB
        file = work / f"throughput-{args.size_mib}M.bin"
        if not file.exists() or file.stat().st_size != size:
            make_file(file, size, seed=1)
        wrapper = [str(args.worker_wrapper.resolve())] if args.worker_wrapper else []
        ctx = Context(server, file, size, work, settings, args.profile, wrapper)
        if args.baseline_wrapper:
            ctx.baseline_args = [str(args.baseline_wrapper.resolve())]
        runs = compare(ctx, args.rounds, clients, args.verify_all)
        summary = summarize(runs, clients)
        print_summary(summary, args.rounds, size)
        path = write_results(
            "throughput",
            {
                "machine": machine(),
                "rounds": args.rounds,
                "bytes": size,
                "settings": settings,
                "peer_chunk": PEER_CHUNK,
                "summary": summary,
                "runs": runs,
            },
        )
        print(f"raw results: {path}")
        return 0 if all(summary["targets"].values()) else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
