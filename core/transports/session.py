"""HTTP plumbing the S3, chunked and plain HTTP transports share: one requests.Session per
thread, bodies sent in large blocks, timeouts that detect a stalled send, proxies from the
environment, and requests' exceptions turned into classified TransferErrors.

Timeouts (as in the tus client): a request without a body waits ``(connect, read)``; one with a
body ``(stall, read)``, because urllib3 keeps the connect timeout on the socket while it sends,
so a block that cannot leave within ``stall`` seconds aborts the request (a transient error).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from upqueue.core.errors import classify_exception

# A whole block must leave within the stall timeout; 256 KiB keeps links down to ~9 KB/s alive
# at the default 30 s while costing nothing measurable in throughput.
BLOCK_SIZE = 256 * 1024


class StreamedBody(Protocol):
    """A request body read in blocks (FileSlice, FormBody): its length is known up front."""

    def __len__(self) -> int: ...
    def read(self, n: int = -1) -> bytes: ...


class _BlockSizeAdapter(HTTPAdapter):
    """HTTPAdapter whose connections send bodies in ``block_size`` pieces (urllib3's is 16 KiB)."""

    def __init__(self, block_size: int, pool_size: int) -> None:
        self._block_size = block_size
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size)

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        pool_kwargs["blocksize"] = self._block_size
        super().init_poolmanager(*args, **pool_kwargs)


class HttpSession:
    """Thread-safe: each thread gets its own requests.Session (parallel S3 parts use several).

    Args:
        settings: the worker's settings (``connect_timeout``, ``stall_timeout``, ``read_timeout``).
        headers: sent with every request (a target's custom headers, auth headers).
        auth: requests-style basic auth.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.connect_timeout = float(settings.get("connect_timeout", 10.0))
        self.stall_timeout = float(settings.get("stall_timeout", 30.0))
        self.read_timeout = float(settings.get("read_timeout", 60.0))
        self.headers = dict(headers or {})
        self.auth = auth
        self.block_size = block_size
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._proxies: dict[str, dict[str, str]] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        headers: Mapping[str, str] | None = None,
        body: StreamedBody | bytes | None = None,
        files: Any = None,
        data: Any = None,
    ) -> requests.Response:
        """Send one request (never following redirects: a streamed body cannot be replayed).

        Raises:
            TransferError: no answer (connection, timeout, certificate), classified.
        """
        all_headers = dict(headers or {})
        sending = body is not None or files is not None or data is not None
        if body is not None:
            # Set explicitly: requests would omit it for an empty body (a falsy one).
            all_headers["Content-Length"] = str(len(body))
        timeout = (
            (self.stall_timeout, self.read_timeout)
            if sending
            else (self.connect_timeout, self.read_timeout)
        )
        try:
            return self._session().request(
                method,
                url,
                headers=all_headers,
                data=(body if body is not None and len(body) else data),
                files=files,
                timeout=timeout,
                proxies=self._proxies_for(url),
                allow_redirects=False,
            )
        except requests.RequestException as e:
            raise classify_exception(e, url, action, stall_timeout=self.stall_timeout) from e

    def close(self) -> None:
        """Close every thread's session (their pooled connections)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _BlockSizeAdapter(self.block_size, pool_size=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self.headers)
            session.auth = self.auth
            # Proxies are read once per host below; REQUESTS_CA_BUNDLE is honoured there too.
            session.trust_env = False
            session.verify = _ca_bundle()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _proxies_for(self, url: str) -> dict[str, str]:
        """HTTP(S)_PROXY / NO_PROXY for this URL's scheme and host, read once per host."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        proxies = self._proxies.get(key)
        if proxies is None:
            proxies = requests.utils.get_environ_proxies(key)
            self._proxies[key] = proxies
        return proxies


def _ca_bundle() -> bool | str:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
