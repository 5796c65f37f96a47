"""How the benchmarks measure: a child's own CPU and peak RSS, a process's RSS over time, the
server's CPU and read calls, the machine's busy time (others' load included), a quiet machine
before each run, and py-spy profiles of the worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import psutil

if TYPE_CHECKING:
    from tests.fixtures.tus import TusServer


# -- the server --------------------------------------------------------------------------------
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
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = 900.0,
    env: dict[str, str] | None = None,
) -> ChildResult:
    """Run ``cmd`` and measure it with wait4: its own CPU time and peak RSS, nobody else's."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
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
