"""Benchmark: the window with 100,000 uploads, 1,000 of them changing at 4 Hz.

Runs the real window (MainWindow, Poller, Background pool, QueueModel, QueueFilter, QueueView)
and its real API client (core.api_client.ApiClient over HTTP) against a synthetic control API
in a separate process: every poll returns the rows changed since the last counter, as the
worker would. The synthetic queue lives in that other process, as the real one lives in the
worker, so the memory figure is the window's alone. Measures:

* first paint: from the process's launch (its start time in /proc) to the first paint of the
  table showing the queue's first page (issue 12: <= 1 s), and from the moment that page
  reached the GUI thread; then when the rest of the queue was in the model;
* event-loop lag: a 10 ms timer measuring its own lateness while progress streams in
  (p50 / p99 / max);
* memory: the process's resident set size at the end (psutil).

Targets: lag p99 < 16 ms (issue 12; 50 ms in issue 3), first paint <= 1 s from launch,
RSS < 400 MB.

Usage: ``.venv/bin/python bench/gui_queue.py [--rows 100000] [--changing 1000] [--seconds 20]``
(offscreen by default; set QT_QPA_PLATFORM=xcb to watch it on a display).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from PySide6.QtCore import QElapsedTimer, QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

STATUSES = ["queued"] * 6 + ["done"] * 3 + ["paused", "failed"]


class SyntheticApi:
    """Answers uploads(since) / stats() / targets() / settings() like the worker would."""

    def __init__(self, rows: int, changing: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.lock = threading.Lock()
        self.seq = rows
        self.rows: list[dict[str, Any]] = []
        for number in range(1, rows + 1):
            status = rng.choice(STATUSES)
            size = rng.randint(10_000, 5_000_000_000)
            self.rows.append(
                {
                    "id": number,
                    "target_id": 1,
                    "target_name": "geo",
                    "path": f"/data/survey/batch-{number // 1000:03d}/scan-{number:06d}.tif",
                    "name": f"scan-{number:06d}.tif",
                    "size": size,
                    "offset": size if status == "done" else rng.randint(0, size // 2),
                    "status": status,
                    "speed": 0.0,
                    "result_url": None,
                    "error_title": "Server refused the file" if status == "failed" else None,
                    "error_message": "413 Request Entity Too Large" if status == "failed" else None,
                    "attempts": 0,
                    "next_attempt_at": None,
                    "created_at": f"2026-11-{1 + number % 28:02d}T10:{number % 60:02d}:00.000Z",
                    "started_at": None,
                    "finished_at": None,
                    "updated_at": "2026-11-23T10:00:00.000Z",
                    "change_seq": number,
                    "batch_id": None,
                    "watch_id": None,
                }
            )
        # The uploading rows are spread over the whole queue: the worst case for ranges.
        self.active = rng.sample(range(rows), changing)
        for index in self.active:
            self.rows[index]["status"] = "uploading"

    def uploads(
        self,
        since: int | None = None,
        limit: int | None = None,
        after_id: int | None = None,
        stats: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        answer = self._uploads(since, limit, after_id)
        if stats:
            answer["stats"] = self.stats()
        return answer

    def _uploads(
        self, since: int | None, limit: int | None, after_id: int | None
    ) -> dict[str, Any]:
        with self.lock:
            if since is None:
                rows = self.rows if after_id is None else self.rows[after_id:]  # ids are 1..n
                return {
                    "seq": self.seq,
                    "uploads": rows if limit is None else rows[:limit],
                    "removed": [],
                    "total": len(rows),
                }
            self.seq += 1
            changed = []
            for index in self.active:
                row = self.rows[index]
                row["offset"] = min(row["size"], row["offset"] + 2_500_000)
                row["speed"] = 10_000_000.0
                row["change_seq"] = self.seq
                changed.append(row)
            return {"seq": self.seq, "uploads": changed, "removed": [], "total": len(changed)}

    def stats(self) -> dict[str, Any]:
        return {
            "counts": {"uploading": len(self.active), "queued": 60_000},
            "speed": 1e10,
            "active": len(self.active),
            "seq": self.seq,
        }

    def targets(self) -> dict[str, Any]:
        return {"targets": [{"id": 1, "name": "geo", "url": "https://example.org/files/"}]}

    def settings(self) -> dict[str, Any]:
        return {"settings": {"notifications": False, "keep_uploading_on_close": True}, "help": {}}


class _Handler(BaseHTTPRequestHandler):
    api: SyntheticApi

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/api/uploads":
            number = {k: int(query[k][0]) for k in ("since", "limit", "after_id") if k in query}
            body = self.api.uploads(**number, stats=query.get("stats") == ["true"])
        elif url.path == "/api/stats":
            body = self.api.stats()
        elif url.path == "/api/targets":
            body = self.api.targets()
        elif url.path == "/api/settings":
            body = self.api.settings()
        else:
            body = {"status": "ok"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


def serve(rows: int, changing: int) -> None:
    """The synthetic control API (run in its own process); prints its port, serves forever."""
    _Handler.api = SyntheticApi(rows, changing)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class PaintWatch(QObject):
    """Notes the first paint of a widget after ``armed`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.armed_at: float | None = None
        self.painted_at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Paint
            and self.armed_at is not None
            and self.painted_at is None
        ):
            self.painted_at = time.perf_counter()
        return False


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--changing", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--group", default="all", help="status filter shown while measuring")
    parser.add_argument("--sort", type=int, default=-1, help="column to sort by (-1: queue order)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--window-for-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.rows, args.changing)
        return 0
    if args.window_for_port:
        # The measured process: launched once the synthetic worker is ready, as a person
        # launches the window with a worker running, so its start time is the launch.
        return run(args, args.window_for_port)
    os.environ["UPQUEUE_HOME"] = tempfile.mkdtemp(prefix="upqueue-bench-")
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--rows",
            str(args.rows),
            "--changing",
            str(args.changing),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        # The launch time is taken here, just before the spawn: /proc's start time of the child
        # is only as exact as the boot time it counts from (whole seconds).
        window = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--window-for-port", str(port)],
            check=False,
            env=dict(os.environ, UPQUEUE_BENCH_LAUNCHED=repr(time.time())),
        )
        return window.returncode
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(args: argparse.Namespace, port: int) -> int:
    from upqueue.core.api_client import ApiClient

    process = psutil.Process()
    rss_start = process.memory_info().rss
    app = QApplication(sys.argv[:1])
    from upqueue.gui.main_window import MainWindow

    api = ApiClient(f"http://127.0.0.1:{port}", "bench-token")
    polls: list[float] = []
    fetch = api.uploads

    def counted(*a: Any, **k: Any) -> dict[str, Any]:
        polls.append(time.perf_counter())
        return fetch(*a, **k)

    api.uploads = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    window = MainWindow(connect=lambda _start: api, start=False)
    window.poller.fast_ms = 250  # 4 Hz, the window's own setting
    watch = PaintWatch()
    window.view.viewport().installEventFilter(watch)
    # When the full answer reaches the GUI thread, before the window's slot takes it in.
    full_at: list[float] = []
    reset_rows = window.model.reset_rows

    def timed_reset(rows: Any) -> None:
        full_at.append(time.perf_counter())
        reset_rows(rows)

    window.model.reset_rows = timed_reset  # type: ignore[method-assign]
    # The rest of the queue, after the first page: how long its insert holds the GUI thread.
    appended_ms: list[float] = []
    append_rows = window.model.append_rows

    def timed_append(rows: Any) -> None:
        t0 = time.perf_counter()
        append_rows(rows)
        appended_ms.append((time.perf_counter() - t0) * 1000)

    window.model.append_rows = timed_append  # type: ignore[method-assign]

    def arm(*_: Any) -> None:
        watch.armed_at = time.perf_counter()

    # Connected after the window's own slot: armed once the model holds the rows.
    window.poller.full.connect(arm)
    window.show()
    window.supervisor.start()

    deadline = time.perf_counter() + 60
    while watch.painted_at is None and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    if watch.painted_at is None:
        print("the queue never painted", file=sys.stderr)
        return 1
    painted_epoch = time.time() - (time.perf_counter() - watch.painted_at)
    first_rows = window.model.rowCount()
    while window.model.rowCount() < args.rows and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    all_loaded = time.perf_counter()
    assert window.model.rowCount() == args.rows, window.model.rowCount()
    first_paint = watch.painted_at - full_at[0]
    from_start = watch.painted_at - started
    launched = float(os.environ.get("UPQUEUE_BENCH_LAUNCHED") or process.create_time())
    from_launch = painted_epoch - launched

    window.sidebar.select_group(args.group)
    if args.sort >= 0:
        window.view.sortByColumn(args.sort, Qt.SortOrder.DescendingOrder)

    # Event-loop lag: a 10 ms timer measuring its own lateness while changes stream in.
    lags: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    tick = QTimer()
    tick.setTimerType(Qt.TimerType.PreciseTimer)
    tick.setInterval(10)

    def measure() -> None:
        now = clock.nsecsElapsed()
        lags.append(max(0.0, (now - last[0]) / 1e6 - 10.0))
        last[0] = now

    tick.timeout.connect(measure)
    polls_before = len(polls)
    applied: list[float] = []
    original = window.model.apply_changes

    def timed_apply(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            applied.append((time.perf_counter() - t0) * 1000)

    window.model.apply_changes = timed_apply  # type: ignore[method-assign]
    tick.start()
    # A local loop: QApplication.quit() would close the window, which asks about the uploads.
    loop = QEventLoop()
    QTimer.singleShot(int(args.seconds * 1000), loop.quit)
    loop.exec()
    tick.stop()
    answered = len(polls) - polls_before
    rss = process.memory_info().rss

    window._quitting = True
    window._shutdown_gui()
    print(
        f"upqueue window benchmark: {args.rows:,} uploads, {args.changing:,} changing, "
        f"{args.seconds:g} s at the window's 250 ms poll ({os.environ['QT_QPA_PLATFORM']}; "
        f"filter {args.group}, sort column {args.sort})"
    )
    print(f"  polls answered            {answered} ({answered / args.seconds:.1f}/s)")
    print(
        f"  first paint of the queue  {from_launch * 1000:.0f} ms from launch ({first_rows:,} rows "
        f"of the first page; {from_start * 1000:.0f} ms from the window's construction, "
        f"{first_paint * 1000:.0f} ms after the page reached the GUI)"
    )
    print(
        f"  all {args.rows:,} rows in the model {(all_loaded - started) * 1000:.0f} ms after the "
        f"window's construction; inserting the rest held the GUI thread "
        f"{sum(appended_ms):.0f} ms"
    )
    print(
        f"    of which: first request {(polls[0] - started) * 1000:.0f} ms after start; answer "
        f"fetched, decoded and built into rows {(full_at[0] - polls[0]) * 1000:.0f} ms later"
    )
    print(
        f"  apply_changes per poll    median {statistics.median(applied):.1f} ms, "
        f"max {max(applied):.1f} ms"
    )
    print(
        f"  event-loop lag            p50 {percentile(lags, 0.5):.1f} ms, "
        f"p99 {percentile(lags, 0.99):.1f} ms, max {max(lags):.1f} ms ({len(lags)} samples)"
    )
    print(
        f"  memory (RSS)              {rss / 1e6:.0f} MB (Python + Qt at start: {rss_start / 1e6:.0f} MB)"
    )
    ok = percentile(lags, 0.99) < 16 and from_launch <= 1.0 and rss < 400e6
    print(
        f"  targets (p99 < 16 ms, paint <= 1 s from launch, RSS < 400 MB): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
