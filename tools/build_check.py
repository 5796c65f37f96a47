"""Build the PyInstaller bundle in a temporary folder and check that the frozen program works.

The checks use real parts only: the frozen ``upqueue`` executable, a real @tus/server
(tests/tus_server), a real file, and Qt's offscreen platform for the window. They cover what
a build can break and a source checkout cannot: hidden imports (Huey tasks, uvicorn's
protocol classes, keyring backends), bundled resources, and the worker being started as
``<executable> worker``.

Usage::

    .venv/bin/python tools/build_check.py                 # build into a temp folder, then check
    .venv/bin/python tools/build_check.py --dist DIR      # check an existing dist/upqueue folder
    .venv/bin/python tools/build_check.py --keep          # keep the temp folder to look inside

Exit code 0 when every check passed; the last lines say what failed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build.spec"
TUS_SERVER_DIR = ROOT / "tests" / "tus_server"
APP_NAME = "upqueue"
UPLOAD_SIZE = 12 * 1024 * 1024 + 12345  # more than one chunk, and not a round number
WINDOW_SECONDS = 6.0
START_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 120.0


class CheckFailed(Exception):
    """A check of the frozen program failed; the message says which and why."""


def build(dist: Path, work: Path) -> float:
    """Run PyInstaller on build.spec into ``dist``; return the seconds it took."""
    pyinstaller = shutil.which("pyinstaller", path=str(Path(sys.executable).parent))
    if pyinstaller is None:
        raise CheckFailed(
            "PyInstaller is not installed in this environment: "
            f"{sys.executable} -m pip install 'pyinstaller>=6,<7'"
        )
    started = time.monotonic()
    result = subprocess.run(
        [pyinstaller, "--noconfirm", "--distpath", str(dist), "--workpath", str(work), str(SPEC)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"PyInstaller failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    return time.monotonic() - started


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def isolated_env(base: Path) -> dict[str, str]:
    """An environment that never touches the real data directory or keyring."""
    env = dict(os.environ)
    for name in ("home", "xdg"):
        (base / name).mkdir(parents=True, exist_ok=True)
    env.update(
        UPQUEUE_HOME=str(base / "home"),
        XDG_DATA_HOME=str(base / "xdg"),
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        QT_QPA_PLATFORM="offscreen",
    )
    env.pop("UPQUEUE_SECRET_STORE", None)
    return env


def run(exe: Path, args: list[str], env: dict[str, str], timeout: float = 60.0) -> str:
    """Run the frozen executable; return its stdout, or fail with what it printed."""
    result = subprocess.run(
        [str(exe), *args], check=False, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise CheckFailed(
            f"`upqueue {' '.join(args)}` exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result.stdout


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def tus_server(storage: Path) -> Iterator[int]:
    """A real @tus/server on a free port; yields the port."""
    if not (TUS_SERVER_DIR / "node_modules" / "@tus" / "server").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TUS_SERVER_DIR, check=True)
    storage.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["node", "server.mjs", "--port", "0", "--dir", str(storage)],
        cwd=TUS_SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip():
            raise CheckFailed("the tus server (node tests/tus_server/server.mjs) did not start")
        yield int(json.loads(line)["port"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def worker_pid(home: Path) -> int | None:
    try:
        return int(json.loads((home / "worker.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def check_cli_and_worker(exe: Path, env: dict[str, str], base: Path) -> None:
    """--help, a foreground worker, a real upload, stop, and the worker auto-started frozen."""
    home = Path(env["UPQUEUE_HOME"])
    if "worker" not in run(exe, ["--help"], env):
        raise CheckFailed("`upqueue --help` does not list the worker command")
    print("ok  upqueue --help")

    worker = subprocess.Popen(
        [str(exe), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(
            lambda: worker_pid(home) == worker.pid or worker.poll() is not None,
            START_TIMEOUT,
            "the frozen worker's worker.json",
        )
        if worker.poll() is not None:
            raise CheckFailed(
                f"`upqueue worker` exited {worker.returncode}: {worker.stderr.read()}"
            )  # type: ignore[union-attr]
        print(f"ok  upqueue worker (pid {worker.pid}) serves the control API")

        payload = os.urandom(UPLOAD_SIZE)
        source = base / "payload.bin"
        source.write_bytes(payload)
        with tus_server(base / "tus") as port:
            run(exe, ["target", "add", "t", "--url", f"http://127.0.0.1:{port}/files/"], env)
            run(exe, ["add", str(source), "--target", "t", "--wait"], env, timeout=UPLOAD_TIMEOUT)
            stored = [p for p in (base / "tus").iterdir() if p.suffix != ".json"]
            if len(stored) != 1 or stored[0].read_bytes() != payload:
                raise CheckFailed("the file the tus server stored differs from the one sent")
            print(f"ok  upload of {UPLOAD_SIZE:,} bytes to a real @tus/server, content identical")

        run(exe, ["stop"], env)
        worker.wait(timeout=START_TIMEOUT)
        if worker.returncode != 0:
            raise CheckFailed(f"the worker exited {worker.returncode} after `upqueue stop`")
        print("ok  upqueue stop: the worker exited 0")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    # A command with no worker running starts one as `<frozen executable> worker`.
    if "payload.bin" not in run(exe, ["ls"], env, timeout=START_TIMEOUT):
        raise CheckFailed("`upqueue ls` after a restart does not list the finished upload")
    pid = worker_pid(home)
    try:
        proc_file = Path(f"/proc/{pid}/cmdline")
        cmdline = proc_file.read_bytes().split(b"\0") if pid and proc_file.exists() else []
        if cmdline and (
            Path(cmdline[0].decode()).resolve() != exe.resolve() or cmdline[1:2] != [b"worker"]
        ):
            raise CheckFailed(f"the auto-started worker runs {cmdline!r}, not `{exe} worker`")
        print(f"ok  a command auto-started the worker as `{exe.name} worker` (pid {pid})")
    finally:
        run(exe, ["stop"], env)


def check_window(exe: Path, env: dict[str, str]) -> None:
    """The window opens offscreen and keeps running (no import error, no crash)."""
    window = subprocess.Popen(
        [str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        window.wait(timeout=WINDOW_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"ok  the window ran {WINDOW_SECONDS:g} s offscreen without exiting")
        return
    finally:
        if window.poll() is None:
            window.terminate()
            try:
                window.wait(timeout=10)
            except subprocess.TimeoutExpired:
                window.kill()
                window.wait()
        # The window starts a worker; leave none behind.
        subprocess.run([str(exe), "stop"], check=False, env=env, capture_output=True, timeout=60)
    out, err = window.communicate()
    raise CheckFailed(
        f"the window exited {window.returncode} within {WINDOW_SECONDS:g} s:\n{out}{err}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="check this existing dist folder, do not build")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    temp = Path(tempfile.mkdtemp(prefix="upqueue-build-check-"))
    try:
        if args.dist:
            dist = args.dist
        else:
            dist = temp / "dist"
            seconds = build(dist, temp / "work")
            print(f"ok  built in {seconds:.0f} s")
        bundle = dist / APP_NAME if (dist / APP_NAME).is_dir() else dist
        exe = bundle / (APP_NAME + (".exe" if os.name == "nt" else ""))
        if not exe.is_file():
            raise CheckFailed(f"no executable at {exe}")
        print(f"ok  {bundle}: {folder_size(bundle) / 1e6:.0f} MB")
        env = isolated_env(temp / "run")
        check_cli_and_worker(exe, env, temp / "run")
        check_window(exe, env)
    except (CheckFailed, subprocess.SubprocessError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)
    print("all build checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
