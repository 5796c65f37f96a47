"""Where upqueue keeps its files: the data directory and the names inside it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "upqueue"
HOME_ENV = "UPQUEUE_HOME"

STATE_DB = "state.db"
QUEUE_DB = "queue.db"
LOCK_FILE = "worker.lock"
TOKEN_FILE = "api.token"
ENDPOINT_FILE = "worker.json"
LOG_FILE = "upqueue.log"
MANIFEST_DIR = "manifests"
BACKUP_DIR = "backups"


def data_dir() -> Path:
    """The data directory: ``$UPQUEUE_HOME`` when set, else the platform's user data dir.

    Created on first use with owner-only permissions, since it holds the API token.
    """
    override = os.environ.get(HOME_ENV)
    path = Path(override).expanduser() if override else _user_data_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _user_data_dir() -> Path:
    """platformdirs' user data directory for upqueue. On Linux its rule (the XDG base directory
    spec) is written out here: importing platformdirs costs every command ~4 ms of start-up
    (tempfile, shutil, random), and the command line finds the worker through this folder."""
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return Path(base) / APP_NAME
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def resource_path(*parts: str) -> Path:
    """A file under resources/, from source and from a PyInstaller bundle alike."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base.joinpath("resources", *parts)


def private_dir(path: Path) -> Path:
    """Make the folder ``path`` exist with mode 0700 (its parents too, if missing)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:  # pragma: no cover - filesystems without POSIX modes
        pass
    return path


def tighten_modes(data_dir: Path) -> None:
    """Owner-only modes on the data directory and what it holds (0700 folders, 0600 files):
    a directory made by an older upqueue (manifests/ 0755, backups 0644) is tightened."""
    for folder in (data_dir, data_dir / MANIFEST_DIR, data_dir / BACKUP_DIR):
        if not folder.is_dir():
            continue
        try:
            os.chmod(folder, 0o700)
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False):
                    os.chmod(entry.path, 0o600)
        except OSError:  # pragma: no cover - not ours to change, or no POSIX modes
            pass


def private_file(path: Path) -> Path:
    """Make ``path`` exist with mode 0600 (no-op on the mode where the OS has no such bits)."""
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    try:
        os.chmod(path, 0o600)
    except OSError:  # pragma: no cover - filesystems without POSIX modes
        pass
    return path
