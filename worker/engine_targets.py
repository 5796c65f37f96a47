"""The engine's targets: per target its row, its transport and the server's capabilities,
read from state.db and the keyring once, and kept until the target or the settings change.

Reading the keyring and probing once per target rather than once per file is what lets
thousands of small files go at the server's pace.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from upqueue.core.store import Store
from upqueue.core.targets import secret_key
from upqueue.core.transports import registry
from upqueue.core.transports.base import Capabilities, Transport
from upqueue.worker.repository import UploadRepository


class Secrets(Protocol):
    def get(self, key: str) -> str | None: ...


class TargetCache:
    def __init__(self, target: dict[str, Any], transport: Transport) -> None:
        self.target, self.transport = target, transport
        self.caps: Capabilities | None = None
        # Uploads (and followers) using the transport now; a forgotten entry is closed by the
        # last of them, never under one: closing its connections would cut a running send.
        self.users = 0
        self.retired = False


class Targets:
    """Args:
    store: state.db (the settings a transport is made with).
    repository: the target rows.
    secrets: the keyring, for the targets' secrets.
    """

    def __init__(self, store: Store, repository: UploadRepository, secrets: Secrets) -> None:
        self.store, self.repository, self.secrets = store, repository, secrets
        self._lock = threading.Lock()
        # Per target: its row, its transport and the server's capabilities (None until known).
        self._targets: dict[int, TargetCache] = {}

    def get(self, target_id: int) -> TargetCache:
        with self._lock:
            cached = self._targets.get(target_id)
        if cached is None:
            target = self.repository.target(target_id)
            secret = self.secrets.get(secret_key(target_id))
            cached = TargetCache(
                target, registry.transport_for(target, secret, self.store.settings())
            )
            with self._lock:
                existing = self._targets.setdefault(target_id, cached)
            if existing is not cached:
                cached.transport.close()
                cached = existing
        return cached

    @contextmanager
    def using(self, target_id: int) -> Iterator[TargetCache]:
        """The target's entry, held for the block: a change of the target or of the settings
        meanwhile makes the next upload's transport anew, and closes this one only after."""
        while True:
            cached = self.get(target_id)
            with self._lock:
                if not cached.retired:  # not forgotten between the lookup and now
                    cached.users += 1
                    break
        try:
            yield cached
        finally:
            self.release(cached)

    def hold(self, cached: TargetCache) -> None:
        """One more user of an entry already held (a follower thread taking an upload over)."""
        with self._lock:
            cached.users += 1

    def release(self, cached: TargetCache) -> None:
        with self._lock:
            cached.users -= 1
            close = cached.retired and cached.users == 0
        if close:
            cached.transport.close()

    def forget(self, target_id: int) -> None:
        """The target changed or went: its next upload reads it, its secret and its server anew."""
        with self._lock:
            cached = self._targets.pop(target_id, None)
        self._retire([cached] if cached else [])

    def forget_all(self) -> None:
        """The settings changed: every target's next upload makes its transport anew."""
        with self._lock:
            cached, self._targets = list(self._targets.values()), {}
        self._retire(cached)

    def _retire(self, entries: list[TargetCache]) -> None:
        with self._lock:
            idle = []
            for entry in entries:
                entry.retired = True
                if entry.users == 0:
                    idle.append(entry)
        for entry in idle:
            entry.transport.close()

    def forget_caps(self, target_id: int) -> None:
        with self._lock:
            cached = self._targets.get(target_id)
        if cached:
            cached.caps = None

    def close(self) -> None:
        """At shutdown: close every transport."""
        for cached in list(self._targets.values()):
            cached.transport.close()
