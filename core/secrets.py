"""Passwords and tokens: the OS keyring, or an explicit, documented file fallback.

Secrets never go into state.db, a log or an export. On a headless box keyring finds no backend
(NoKeyringError), or only keyrings.alt's ``PlaintextKeyring``, which keeps them merely
base64-encoded in a file outside the data directory; upqueue counts that as no keyring. Then it
refuses to store a secret unless the person chose the fallback by setting
``UPQUEUE_SECRET_STORE=file``: a JSON file ``secrets.json`` in the data directory, mode 0600,
readable only by its owner but not encrypted (and said so).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail

from upqueue.core.errors import UpqueueError
from upqueue.core.paths import private_file

log = logging.getLogger(__name__)

SERVICE = "upqueue"
FALLBACK_ENV = "UPQUEUE_SECRET_STORE"
FALLBACK_FILE = "secrets.json"


# Backends that are no keyring at all, or that keep secrets readable in a file nobody chose:
# they are passed over, as if absent. Compared by exact class, by name (the modules may be absent).
_NOT_A_KEYRING = {
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
}


def _acceptable(backend: KeyringBackend) -> bool:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}" not in _NOT_A_KEYRING


def secure_backend() -> KeyringBackend | None:
    """The keyring backend upqueue may use: the best one that is neither missing nor plaintext."""
    backend = keyring.get_keyring()
    if isinstance(backend, chainer.ChainerBackend):
        usable = [b for b in backend.backends if _acceptable(b)]  # already best first
        return usable[0] if usable else None
    if isinstance(backend, fail.Keyring) or not _acceptable(backend):
        return None
    return backend


def keyring_available() -> bool:
    return secure_backend() is not None


class SecretStore:
    """Secrets keyed by a short name (``target:3``), separated per data directory.

    Args:
        data_dir: the data directory; its path is hashed into the keyring user name so two
            data directories (two test runs, two profiles) never share secrets.
    """

    def __init__(self, data_dir: Path):
        self._data_dir = Path(data_dir)
        self._scope = hashlib.sha256(str(self._data_dir.resolve()).encode()).hexdigest()[:12]
        self._lock = threading.Lock()
        self.use_file = os.environ.get(FALLBACK_ENV, "").lower() == "file"
        self._backend = None if self.use_file else secure_backend()
        if not self.use_file and self._backend is None:
            log.warning(
                "no OS keyring backend (%s does not count: it keeps secrets in plain text); "
                "secrets cannot be stored unless %s=file is set",
                type(keyring.get_keyring()).__name__,
                FALLBACK_ENV,
            )

    @property
    def backend_name(self) -> str:
        if self.use_file:
            return f"file ({self._file})"
        if self._backend is None:
            return "none"
        return type(self._backend).__name__

    def _keyring(self) -> KeyringBackend:
        if self._backend is None:
            raise keyring.errors.NoKeyringError(
                "no keyring backend that keeps secrets encrypted was found"
            )
        return self._backend

    @property
    def _file(self) -> Path:
        return self._data_dir / FALLBACK_FILE

    def _user(self, key: str) -> str:
        return f"{self._scope}:{key}"

    def set(self, key: str, secret: str) -> None:
        if self.use_file:
            with self._lock:
                data = self._read_file()
                data[key] = secret
                self._write_file(data)
            return
        try:
            self._keyring().set_password(SERVICE, self._user(key), secret)
        except keyring.errors.KeyringError as exc:
            raise UpqueueError(
                "No password store available",
                "upqueue keeps passwords and tokens in the system keyring, and none is available "
                f"here ({exc}). Install and unlock one (e.g. gnome-keyring or KWallet), or start "
                f"upqueue with {FALLBACK_ENV}=file to keep them in {self._file}, readable only "
                "by you but not encrypted.",
            ) from None

    def get(self, key: str) -> str | None:
        if self.use_file:
            with self._lock:
                return self._read_file().get(key)
        if self._backend is None:
            return None  # nothing could have been stored
        try:
            secret: str | None = self._keyring().get_password(SERVICE, self._user(key))
            return secret
        except keyring.errors.KeyringError:
            log.warning("could not read secret %s from the keyring", key)
            return None

    def delete(self, key: str) -> None:
        if self.use_file:
            with self._lock:
                data = self._read_file()
                if data.pop(key, None) is not None:
                    self._write_file(data)
            return
        try:
            self._keyring().delete_password(SERVICE, self._user(key))
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError:
            log.warning("could not delete secret %s from the keyring", key)

    def _read_file(self) -> dict[str, str]:
        if not self._file.exists():
            return {}
        stored: dict[str, str] = json.loads(self._file.read_text(encoding="utf-8") or "{}")
        return stored

    def _write_file(self, data: dict[str, str]) -> None:
        tmp = private_file(self._file.with_suffix(".tmp"))
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self._file)
