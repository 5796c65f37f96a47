"""What the benchmarks share: the real tus server, a fresh worker per run, measured child
processes, peak-RSS sampling, verification of stored bytes, medians and the results file.

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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make core/ and tests/ importable
    sys.path.insert(0, str(REPO))

import psutil

from core.api_client import ApiClient
from core.errors import UpqueueError
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


def server_process(server: TusServer) -> psutil.Process:
    return psutil.Process(server._proc.pid)  # type: ignore[union-attr]


class ServerMeter:
    """What the server process spent between construction and ``delta()``: CPU and syscalls.

    The read calls tell how the client's bytes arrived: the same bytes in more, smaller reads
    cost the (single-threaded) server more CPU.
    """

    def __init__(self, server: TusServer) -> None:
        self._ps = server_process(server)
        self._cpu, self._io = self._snapshot()

    def _snapshot(self) -> tuple[float, Any]:
        times = self._ps.cpu_times()
        return times.user + times.system, self._ps.io_counters()

    def delta(self) -> dict[str, float]:
        cpu, io = self._snapshot()
        return {
            "server_cpu_seconds": cpu - self._cpu,
            "server_read_calls": io.read_count - self._io.read_count,
            "server_read_bytes": io.read_chars - self._io.read_chars,
            "server_write_calls": io.write_count - self._io.write_count,
        }


class RunMeters:
    """The server's spending and the machine's busy time over the timed part of one client run.

    A runner calls ``start()`` just before its timed part and ``stop()`` just after, so that
    starting a worker or an interpreter is not counted; ``figures`` then holds the deltas.
    """

    def __init__(self, server: TusServer) -> None:
        self._server = server
        self._meter: ServerMeter | None = None
        self._system: SystemCpu | None = None
        self.figures: dict[str, float] = {}

    def start(self) -> None:
        self._meter, self._system = ServerMeter(self._server), SystemCpu()

    def stop(self) -> None:
        assert self._meter is not None and self._system is not None
        self.figures = {
            **self._meter.delta(),
            "machine_busy_seconds": self._system.busy_seconds(),
        }


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


# -- measured child processes ------------------------------------------------------------------
@dataclass
class ChildResult:
    """One finished child process: its exit code, output, wall time, CPU and peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float
    peak_rss: int  # bytes

    def json(self) -> dict[str, Any]:
        if self.returncode != 0:
            raise RuntimeError(f"peer client exited with {self.returncode}: {self.stderr[-2000:]}")
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_child(
    cmd: Sequence[str], *, cwd: Path | None = None, timeout: float = 900.0
) -> ChildResult:
    """Run ``cmd`` and measure it with wait4: its own CPU time and peak RSS, nobody else's."""
    out_path = DEFAULT_WORK / f"child-{os.getpid()}.out"
    err_path = DEFAULT_WORK / f"child-{os.getpid()}.err"
    DEFAULT_WORK.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w+") as out, open(err_path, "w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        hwm = HwmWatcher(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            hwm.stop()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildResult(
            returncode=proc.returncode,
            stdout=out.read(),
            stderr=err.read(),
            wall_seconds=wall,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            # Not ru_maxrss: Linux carries the forking parent's high-water mark (this Python
            # process, ~60 MB) over exec into the child's, which would hide a small client.
            peak_rss=hwm.peak,
        )


def vm_hwm(pid: int) -> int:
    """VmHWM of a live process (bytes): its highest RSS since its last exec; 0 when gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class HwmWatcher:
    """Reads a child's VmHWM every ``interval`` s until it exits; ``.peak`` is the last seen.

    The high-water mark only grows, so this misses only growth in the child's last interval.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.peak = pid, 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hwm", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, vm_hwm(self.pid))
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


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


class RssSampler:
    """Samples a process's RSS on a thread every ``interval`` seconds; ``.peak`` is the highest."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._ps = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, int(self._ps.memory_info().rss))
                self.samples += 1
            except psutil.Error:
                return
            self._stop.wait(self._interval)


class SystemCpu:
    """Busy CPU seconds of the whole machine from construction to ``busy_seconds()``.

    The machine may be shared: busy time beyond what the client and the server used is
    someone else's load, recorded so that a disturbed run can be recognised.
    """

    def __init__(self) -> None:
        self._start = self._busy()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return float(
            sum(t)
            - t.idle
            - getattr(t, "iowait", 0.0)
            - getattr(t, "guest", 0.0)
            - getattr(t, "guest_nice", 0.0)
        )

    def busy_seconds(self) -> float:
        return self._busy() - self._start


def wait_for_quiet(max_cores: float = 0.3, timeout: float = 60.0, window: float = 0.5) -> float:
    """Wait (at most ``timeout`` s) until the rest of the machine uses under ``max_cores`` cores.

    Call it while the benchmark itself is idle. Returns the load last measured (cores busy), to
    be recorded with the run that follows; a run after a timeout is still made, and its load shows.
    """
    deadline = time.monotonic() + timeout
    while True:
        probe = SystemCpu()
        time.sleep(window)  # the measuring window itself, not a wait for a condition
        cores = probe.busy_seconds() / window
        if cores < max_cores or time.monotonic() > deadline:
            return cores


# -- profiling ---------------------------------------------------------------------------------
class PySpy:
    """py-spy recording one process (all threads) to a collapsed-stacks file, if py-spy exists.

    With ``gil`` only the thread holding the GIL is sampled: where the Python CPU time goes.
    Without it, every thread that is not sleeping: where the wall time goes.
    """

    def __init__(self, pid: int, out: Path, rate: int = 250, *, gil: bool = False) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        if not Path(exe).exists():
            print("py-spy not found (pip install py-spy); not profiling", file=sys.stderr)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "--output",
                str(out),
                *(["--gil"] if gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


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
