"""What the benchmarks share: the environment, the real tus server, a fresh worker per run,
verification of stored bytes, medians, tables and the results file (measuring: bench/measure.py).

The tus server and the test-file writer are the tests' own (tests/fixtures/tus.py), so the
benchmarks upload to exactly the server the tests use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make core/ and tests/ importable
    sys.path.insert(0, str(REPO))

import psutil

from bench.measure import vm_hwm
from upqueue.core.api_client import ApiClient
from upqueue.core.errors import UpqueueError
from tests.fixtures.tus import SERVER_DIR, TusServer, make_file  # noqa: F401 (re-exported)

BENCH = REPO / "bench"
RESULTS = BENCH / "results"
DEFAULT_WORK = BENCH / ".work"
MAIN = REPO / "main.py"
MiB = 1 << 20
GiB = 1 << 30
START_TIMEOUT = 30.0


# -- environment -------------------------------------------------------------------------------
def check_tools(*, node_peer: bool = False) -> None:
    """Fail early, with the command that fixes it, when a piece the benchmark runs is missing."""
    if shutil.which("node") is None:
        sys.exit("node is needed (apt-get install nodejs npm)")
    if not (SERVER_DIR / "node_modules" / "@tus" / "server").is_dir():
        sys.exit(f"the tus server's packages are missing: (cd {SERVER_DIR} && npm ci)")
    if node_peer and not (BENCH / "node_modules" / "tus-js-client").is_dir():
        sys.exit(f"tus-js-client is missing: (cd {BENCH} && npm ci)")
    try:
        import tusclient  # noqa: F401
    except ImportError:
        sys.exit("tuspy is missing: .venv/bin/pip install -e '.[bench]'")


def isolated_env(base: Path) -> None:
    """Point this process (and every worker it starts) away from the real user's files."""
    xdg = base / "xdg-data"
    xdg.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_DATA_HOME"] = str(xdg)
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    os.environ.pop("UPQUEUE_SECRET_STORE", None)


def raise_priority(nice: int = -10) -> int:
    """Run this process and everything it starts at ``nice`` when allowed; returns the nice value.

    The machine may be shared (other test runs, builds): a higher priority for every process
    of the benchmark, clients and server alike, keeps others' load from deciding the figures
    without favouring any client.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (PermissionError, OSError):
        pass
    return os.getpriority(os.PRIO_PROCESS, 0)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / GiB, 1),
        "python": platform.python_version(),
        "node": subprocess.run(
            ["node", "--version"], check=False, capture_output=True, text=True
        ).stdout.strip(),
        "platform": platform.platform(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "load_average": os.getloadavg(),
    }


# -- the tus server ----------------------------------------------------------------------------
def start_server(work: Path) -> TusServer:
    """A fresh @tus/server with its storage under ``work``."""
    store = work / "server-store"
    shutil.rmtree(store, ignore_errors=True)
    return TusServer(store, work / "server.log").start()


def clear_server(server: TusServer) -> None:
    """Delete every stored upload, and flush, so one run's writeback does not slow the next."""
    for entry in server.dir.iterdir():
        entry.unlink()
    os.sync()


def stored_size(server: TusServer, url: str) -> int:
    path = server.stored_path(url)
    return path.stat().st_size if path.exists() else -1


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            h.update(block)
    return h.hexdigest()


def warm(path: Path) -> None:
    """Read a file once so that every client reads it from the page cache alike."""
    with open(path, "rb") as f:
        while f.read(8 * MiB):
            pass


# -- the worker --------------------------------------------------------------------------------
class Worker:
    """A real ``main.py worker`` for its own fresh data directory.

    Args:
        home: the data directory (UPQUEUE_HOME); created empty.
        python_args: put before main.py, e.g. ``["-X", "importtime"]``.
    """

    def __init__(self, home: Path, python_args: Sequence[str] = ()) -> None:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        self.home = home
        self.python_args = list(python_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.api: ApiClient | None = None
        self.ps: psutil.Process | None = None

    def start(self, settings: dict[str, Any] | None = None) -> ApiClient:
        env = dict(os.environ, UPQUEUE_HOME=str(self.home))
        with open(self.home / "worker-output.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.python_args, str(MAIN), "worker"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.ps = psutil.Process(self.proc.pid)
        self.api = poll(self._answering, START_TIMEOUT, "the worker's API")
        if settings:
            self.api.update_settings(**settings)
        return self.api

    def _answering(self) -> ApiClient | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.home}")
        client = ApiClient.from_files(self.home)
        if client is None:
            return None
        try:
            return client if client.health()["pid"] == self.proc.pid else None
        except UpqueueError:  # not answering yet, or a stale worker.json
            return None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        assert self.ps is not None
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        assert self.ps is not None
        return int(self.ps.memory_info().rss)

    def peak_rss(self) -> int:
        """VmHWM: the highest RSS this process has had since it started."""
        return vm_hwm(self.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            assert self.api is not None
            self.api.shutdown()
            self.proc.wait(timeout=20)
        except (UpqueueError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


def add_target(api: ApiClient, url: str, **options: Any) -> int:
    return int(api.add_target(name="bench", url=url, **options)["id"])


def parse_iso(text: str) -> float:
    """The worker's UTC ISO timestamps (milliseconds) as epoch seconds."""
    return dt.datetime.fromisoformat(text).timestamp()


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Call ``predicate`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def wait_all_ended(api: ApiClient, total: int, timeout: float) -> None:
    """Poll as the window does (stats every 250 ms) until ``total`` uploads have ended.

    Timings come from the uploads' own started_at/finished_at, so the interval only costs the
    worker one request (about 2 ms of its CPU) every 250 ms, as a watching window would.
    """

    def ended() -> bool:
        counts = api.stats()["counts"]
        return counts["done"] + counts["failed"] + counts["cancelled"] >= total

    poll(ended, timeout, f"{total} uploads to end", interval=0.25)


# -- reporting ---------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass
class Table:
    """A plain-text table: a header row and rows of already formatted cells."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))
        ]
        lines = [
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in [self.header, *self.rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write raw results as JSON to bench/results/NAME-<UTC time>.json; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
