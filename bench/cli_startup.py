"""Benchmark: the command line's start-up, from process start to its first request.

A stand-in worker (a listening socket named in a temporary data directory's worker.json, as a
real worker's) notes when the first bytes of a request arrive; the time runs from just before
the process is spawned. Measures ``upqueue ls`` (connect: ``GET /api/health``) that way, and
``upqueue --help`` from spawn to exit, N interleaved runs each, medians and p90.

Target (issue 12): first request <= 100 ms, ``--help`` as fast.

Usage: ``.venv/bin/python bench/cli_startup.py [--runs 20] [--entry main.py|upqueue|PATH]``
(``--entry upqueue`` runs the installed console script ``.venv/bin/upqueue`` instead of
``python main.py``; a PATH runs that executable, e.g. the frozen ``dist/upqueue/upqueue``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StandInWorker:
    """Accepts connections; records when each request's first bytes arrive; answers health."""

    def __init__(self, home: Path) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        port = self.sock.getsockname()[1]
        (home / "worker.json").write_text(json.dumps({"port": port, "pid": os.getpid()}))
        (home / "api.token").write_text("bench-token")
        self.first_bytes: list[float] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = conn.recv(65536)
            if not data:
                return
            self.first_bytes.append(time.monotonic())
            path = data.split(b" ", 2)[1].decode()
            body: dict[str, object] = {"status": "ok", "seq": 0, "pid": os.getpid()}
            if path.startswith("/api/uploads"):
                body = {"seq": 0, "uploads": [], "removed": [], "total": 0}
            payload = json.dumps(body).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
                + payload
            )

    def close(self) -> None:
        self.sock.close()


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--entry", default="main.py", help="main.py, upqueue, or an executable")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="upqueue-cli-bench-"))
    env = dict(os.environ, UPQUEUE_HOME=str(home))
    if args.entry == "upqueue":
        command = [str(Path(sys.executable).parent / "upqueue")]
    elif args.entry == "main.py":
        command = [sys.executable, str(ROOT / "main.py")]
    else:
        command = [str(Path(args.entry).resolve())]
    worker = StandInWorker(home)
    first_request: list[float] = []
    help_total: list[float] = []
    try:
        for _ in range(args.runs):
            # ls: spawn -> first bytes of its first request at the stand-in worker.
            count = len(worker.first_bytes)
            started = time.monotonic()
            subprocess.run(
                [*command, "ls"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                check=False, timeout=30,
            )
            if len(worker.first_bytes) > count:
                first_request.append(worker.first_bytes[count] - started)
            # --help: spawn -> exit. No timeout: Popen.wait(timeout) polls with sleeps of up
            # to 50 ms, which would be measured as start-up.
            started = time.monotonic()
            subprocess.run([*command, "--help"], env=env, stdout=subprocess.DEVNULL, check=True)
            help_total.append(time.monotonic() - started)
    finally:
        worker.close()
    if not first_request:
        print("no request ever reached the stand-in worker", file=sys.stderr)
        return 1
    med, med_help = statistics.median(first_request), statistics.median(help_total)
    print(f"upqueue CLI start-up ({' '.join(Path(c).name for c in command)}), {args.runs} runs")
    print(
        f"  spawn -> first request (ls)  median {med * 1000:.0f} ms, "
        f"p90 {p90(first_request) * 1000:.0f} ms, min {min(first_request) * 1000:.0f} ms"
    )
    print(
        f"  --help, spawn -> exit        median {med_help * 1000:.0f} ms, "
        f"p90 {p90(help_total) * 1000:.0f} ms, min {min(help_total) * 1000:.0f} ms"
    )
    ok = med <= 0.100 and med_help <= 0.100
    print(f"  target (both <= 100 ms, medians): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
