"""Whole-process runners for bench/throughput.py ``--whole-process``: each client timed as a
person runs it, from spawning its process(es) to their exit.

* ``upqueue-cli``: ``upqueue add FILE --target bench --wait`` (``python main.py``) against a
  worker that is already running (as one started by the window, systemd or an earlier
  command is); the worker's CPU over the span plus the command's own. Also records the gap
  from the upload's ``finished_at`` to the command's exit (issue 12: within 50 ms).
* ``curl-2``: what upqueue does on the wire, by hand: ``curl -X POST`` to create the upload
  empty, then ``curl -X PATCH -T FILE`` to stream it (two processes, both timed).
* ``tuspy-proc``: bench/tuspy_upload.py (8 MiB chunks), interpreter start-up included.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from bench import peers
from bench.common import MAIN, Worker, add_target, parse_iso
from bench.measure import run_child

if TYPE_CHECKING:
    from bench.throughput import Context

CLIENTS = ("upqueue-cli", "curl-2", "tuspy-proc")
TIMEOUT = 900.0


def run_upqueue_cli(ctx: Context, round_no: int, *, baseline: bool = False) -> dict[str, Any]:
    worker = Worker(
        ctx.work / f"upqueue-home-{round_no}", ctx.baseline_args if baseline else ctx.worker_args
    )
    api = worker.start(ctx.upqueue_settings)
    try:
        add_target(api, ctx.server.url)
        env = dict(os.environ, UPQUEUE_HOME=str(worker.home))
        ctx.meters.start()
        worker_cpu0 = worker.cpu_seconds()
        spawned = time.time()
        child = run_child(
            [sys.executable, str(MAIN), "add", str(ctx.file), "--target", "bench", "--wait"],
            timeout=TIMEOUT,
            env=env,
        )
        exited = time.time()
        worker_cpu = worker.cpu_seconds() - worker_cpu0
        ctx.meters.stop()
        if child.returncode != 0:
            raise RuntimeError(f"upqueue add --wait exited {child.returncode}: {child.stderr}")
        upload_id = int(child.stdout.split()[0])
        upload = api.upload(upload_id)["upload"]
        if upload["status"] != "done":
            raise RuntimeError(f"upqueue's upload ended {upload['status']}")
        return {
            "seconds": child.wall_seconds,
            "cpu_seconds": worker_cpu + child.cpu_seconds,
            "worker_cpu_seconds": worker_cpu,
            "process_cpu_seconds": worker_cpu + child.cpu_seconds,
            "cli_cpu_seconds": child.cpu_seconds,
            "exit_gap": exited - parse_iso(upload["finished_at"]),
            # Where the time went: spawn -> the row exists (start-up, connect, the add call),
            # -> the worker starts it (queue, claim), -> the last byte, -> the command's exit.
            "until_added": parse_iso(upload["created_at"]) - spawned,
            "start_latency": parse_iso(upload["started_at"]) - parse_iso(upload["created_at"]),
            "transfer_seconds": parse_iso(upload["finished_at"]) - parse_iso(upload["started_at"]),
            "peak_rss": worker.peak_rss(),
            "urls": [upload["result_url"]],
        }
    finally:
        worker.stop()


def run_curl_two_requests(ctx: Context, round_no: int) -> dict[str, Any]:
    name = base64.b64encode(ctx.file.name.encode()).decode()
    ctx.meters.start()
    create = run_child([
        "curl", "-sS", "-X", "POST",
        "-H", "Tus-Resumable: 1.0.0",
        "-H", f"Upload-Length: {ctx.size}",
        "-H", f"Upload-Metadata: filename {name}",
        "-o", "/dev/null", "-w", '{"code": %{http_code}, "url": "%header{location}"}',
        ctx.server.url.rstrip("/"),
    ], timeout=TIMEOUT)  # fmt: skip
    created = create.json()
    if created["code"] != 201:
        raise RuntimeError(f"curl's creation POST was answered {created['code']}")
    send = run_child([
        "curl", "-sS", "-X", "PATCH", "-T", str(ctx.file),
        "-H", "Tus-Resumable: 1.0.0",
        "-H", "Upload-Offset: 0",
        "-H", "Content-Type: application/offset+octet-stream",
        "-o", "/dev/null", "-w", '{"code": %{http_code}}',
        created["url"],
    ], timeout=TIMEOUT)  # fmt: skip
    ctx.meters.stop()
    if send.json()["code"] != 204:
        raise RuntimeError(f"curl's PATCH was answered {send.json()['code']}")
    cpu = create.cpu_seconds + send.cpu_seconds
    return {
        "seconds": create.wall_seconds + send.wall_seconds,
        "cpu_seconds": cpu,
        "process_cpu_seconds": cpu,
        "peak_rss": max(create.peak_rss, send.peak_rss),
        "urls": [created["url"]],
    }


def run_tuspy_process(ctx: Context, round_no: int) -> dict[str, Any]:
    result = peers.tuspy(ctx.server.url, ctx.meters, file=ctx.file, chunk_size=8 << 20)
    result["seconds"] = result["process_seconds"]
    result["cpu_seconds"] = result["process_cpu_seconds"]
    return result


def run_baseline_cli(ctx: Context, round_no: int) -> dict[str, Any]:
    """``upqueue-cli`` with the worker run through ``--baseline-wrapper`` (e.g. older code)."""
    return run_upqueue_cli(ctx, round_no, baseline=True)


RUNNERS = {
    "upqueue-cli": run_upqueue_cli,
    "baseline-cli": run_baseline_cli,
    "curl-2": run_curl_two_requests,
    "tuspy-proc": run_tuspy_process,
}
