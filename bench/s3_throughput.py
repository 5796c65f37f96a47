"""S3 multipart throughput: one file (1 GiB by default) to a local SeaweedFS (``weed mini``, the
tests' own fixture), interleaved rounds of upqueue (a real worker), ``rclone copyto`` and
boto3's ``upload_file``, all with the same part size and concurrency.

Reports medians of MB/s, CPU seconds per GiB and peak RSS (VmHWM), and the ratios the issue
sets (upqueue >= 1.0x rclone, >= 1.2x boto3; worker RSS < 150 MB). With equal part sizes the
three clients must produce the same multipart ETag: that is the check that every byte arrived.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python bench/s3_throughput.py [--rounds 3] [--size-mib 1024] [--part-mib 16]
        [--concurrency 4] [--clients upqueue,rclone,boto3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (
    DEFAULT_WORK,
    RESULTS,
    GiB,
    MiB,
    Table,
    Worker,
    isolated_env,
    machine,
    median,
    parse_iso,
    raise_priority,
    wait_all_ended,
    warm,
    write_results,
)
from bench.measure import PySpy, SystemCpu, run_child, wait_for_quiet
from tests.fixtures.s3 import ACCESS_KEY, SECRET_KEY, S3Server, start_seaweedfs
from tests.fixtures.tus import make_file

RSS_LIMIT_MB = 150
TIMEOUT = 1800.0


def run_upqueue(
    server: S3Server,
    bucket: str,
    key: str,
    path: Path,
    args: argparse.Namespace,
    work: Path,
    round_no: int,
) -> dict[str, Any]:
    worker = Worker(work / f"upqueue-home-{round_no}")
    api = worker.start({"concurrency": 1})
    try:
        prefix = key.rsplit("/", 1)[0]
        api.add_target(
            name="bench",
            protocol="s3",
            url=f"{server.endpoint}/{bucket}/{prefix}",
            auth_kind="basic",
            username=ACCESS_KEY,
            secret=SECRET_KEY,
            options={
                "part_size_mib": args.part_mib,
                "parallel_parts": args.concurrency,
                "multipart_threshold_mib": args.part_mib,
            },
        )
        spy = (
            PySpy(worker.pid, RESULTS / f"pyspy-s3-r{round_no}.txt", gil=args.profile == "gil")
            if args.profile
            else None
        )
        cpu0, t0 = worker.cpu_seconds(), time.time()
        upload_id = api.add_uploads([str(path)], "bench")["ids"][0]
        wait_all_ended(api, 1, TIMEOUT)
        if spy is not None:
            spy.stop()
        upload = api.upload(upload_id)["upload"]
        cpu = worker.cpu_seconds() - cpu0
        if upload["status"] != "done":
            raise RuntimeError(f"upqueue ended {upload['status']}: {upload.get('error_message')}")
        return {
            "seconds": parse_iso(upload["finished_at"]) - t0,
            "start_delay": parse_iso(upload["started_at"]) - t0
            if upload.get("started_at")
            else None,
            "cpu_seconds": cpu,
            "peak_rss": worker.peak_rss(),
        }
    finally:
        worker.stop()


def run_rclone(
    server: S3Server,
    bucket: str,
    key: str,
    path: Path,
    args: argparse.Namespace,
    work: Path,
    round_no: int,
) -> dict[str, Any]:
    env = {
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "SeaweedFS",
        "RCLONE_CONFIG_BENCH_ENDPOINT": server.endpoint,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": ACCESS_KEY,
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    os.environ.update(env)
    rclone = shutil.which("rclone", path=str(Path(sys.executable).parent)) or "rclone"
    child = run_child(
        [
            rclone,
            "copyto",
            str(path),
            f"bench:{bucket}/{key}",
            f"--s3-chunk-size={args.part_mib}M",
            f"--s3-upload-cutoff={args.part_mib}M",
            f"--s3-upload-concurrency={args.concurrency}",
            "--config",
            str(work / "no-rclone.conf"),
        ],
        timeout=TIMEOUT,
    )
    if child.returncode != 0:
        raise RuntimeError(f"rclone exited with {child.returncode}: {child.stderr[-2000:]}")
    return {
        "seconds": child.wall_seconds,
        "cpu_seconds": child.cpu_seconds,
        "peak_rss": child.peak_rss,
    }


def run_boto3(
    server: S3Server,
    bucket: str,
    key: str,
    path: Path,
    args: argparse.Namespace,
    work: Path,
    round_no: int,
) -> dict[str, Any]:
    child = run_child(
        [
            sys.executable,
            str(REPO / "bench" / "boto3_upload.py"),
            server.endpoint,
            bucket,
            key,
            str(path),
            str(args.part_mib * MiB),
            str(args.concurrency),
            ACCESS_KEY,
            SECRET_KEY,
        ],
        timeout=TIMEOUT,
    )
    result = child.json()
    return {
        "seconds": result["seconds"],
        "cpu_seconds": child.cpu_seconds,
        "peak_rss": child.peak_rss,
    }


def server_cpu(server: S3Server) -> float:
    """CPU seconds ``weed mini`` (one process: master, volume, filer and S3 gateway) has used."""
    times = psutil.Process(server.proc.pid).cpu_times()
    return float(times.user + times.system)


CLIENTS = {"upqueue": run_upqueue, "rclone": run_rclone, "boto3": run_boto3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--clients", default="upqueue,rclone,boto3")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK / "s3")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="wall",
        choices=("wall", "gil"),
        help="py-spy the upqueue worker (collapsed stacks in bench/results/)",
    )
    args = parser.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c]
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    isolated_env(work)
    # The throwaway worker homes keep the bench's S3 secret in their own file store (there is
    # no encrypted keyring on a headless bench machine, and the key is the bench's own).
    os.environ["UPQUEUE_SECRET_STORE"] = "file"
    nice = raise_priority()
    size = args.size_mib * MiB
    path = make_file(work / "payload.bin", size, seed=11)
    server = start_seaweedfs(work / "seaweedfs")
    runs: list[dict[str, Any]] = []
    try:
        bucket = server.new_bucket()
        client = server.client(bucket)
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(clients)
            order = clients[shift:] + clients[:shift]
            for name in order:
                key = f"r{round_no}-{name}/payload.bin"
                warm(path)
                load = wait_for_quiet()
                server_cpu0, busy = server_cpu(server), SystemCpu()
                figures = CLIENTS[name](server, bucket, key, path, args, work, round_no)
                figures["server_cpu_seconds"] = server_cpu(server) - server_cpu0
                figures["machine_busy_seconds"] = busy.busy_seconds()
                head = client.head_object(key)
                stored_key = key
                if head is None or int(head.headers.get("Content-Length", -1)) != size:
                    raise RuntimeError(f"{name}: the stored object is not {size} bytes")
                figures.update(
                    client=name,
                    round=round_no,
                    load_before=load,
                    etag=head.headers.get("ETag", "").strip('"'),
                )
                client.delete_object(stored_key)
                runs.append(figures)
                print(
                    f"round {round_no} {name:8} {size / MiB / figures['seconds']:7.1f} MB/s "
                    f"cpu {figures['cpu_seconds'] / (size / GiB):5.2f} s/GiB "
                    f"rss {figures['peak_rss'] / MiB:6.1f} MB  "
                    f"server cpu {figures['server_cpu_seconds'] / (size / GiB):5.2f} s/GiB "
                    f"machine {figures['machine_busy_seconds'] / figures['seconds']:4.2f} cores "
                    f"etag {figures['etag']}",
                    flush=True,
                )
    finally:
        server.stop()
    etags = {r["etag"] for r in runs}
    summary: dict[str, Any] = {}
    table = Table(["client", "MB/s", "CPU s/GiB", "server CPU s/GiB", "peak RSS MB"])
    for name in clients:
        mine = [r for r in runs if r["client"] == name]
        summary[name] = {
            "mb_s": median([size / MiB / r["seconds"] for r in mine]),
            "cpu_s_per_gib": median([r["cpu_seconds"] / (size / GiB) for r in mine]),
            "server_cpu_s_per_gib": median([r["server_cpu_seconds"] / (size / GiB) for r in mine]),
            "peak_rss_mb": median([r["peak_rss"] / MiB for r in mine]),
        }
        s = summary[name]
        table.add(
            name,
            f"{s['mb_s']:.1f}",
            f"{s['cpu_s_per_gib']:.2f}",
            f"{s['server_cpu_s_per_gib']:.2f}",
            f"{s['peak_rss_mb']:.1f}",
        )
    print(table.render())
    ok = len(etags) == 1
    print(f"ETags: {'all equal' if ok else 'DIFFER: ' + ', '.join(sorted(etags))}")
    if "upqueue" in summary:
        up = summary["upqueue"]
        for peer, target in (("rclone", 1.0), ("boto3", 1.2)):
            if peer in summary:
                ratio = up["mb_s"] / summary[peer]["mb_s"]
                summary[f"ratio_{peer}"] = ratio
                print(f"upqueue / {peer}: {ratio:.2f}x (target >= {target}x)")
                ok = ok and ratio >= target
        print(f"worker peak RSS {up['peak_rss_mb']:.1f} MB (target < {RSS_LIMIT_MB} MB)")
        ok = ok and up["peak_rss_mb"] < RSS_LIMIT_MB
    out = write_results(
        "s3_throughput",
        {
            "machine": machine(),
            "nice": nice,
            "size": size,
            "part_mib": args.part_mib,
            "concurrency": args.concurrency,
            "runs": runs,
            "summary": summary,
        },
    )
    print(f"results: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
