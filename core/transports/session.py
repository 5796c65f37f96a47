"""HTTP plumbing every HTTP transport shares: per-thread connections, bodies sent in large
blocks, timeouts that detect a stalled send, proxies from the environment (read once per host),
the CA bundle, and failures without an answer turned into classified TransferErrors.

Two paths, one configuration: :meth:`HttpSession.request` goes through one requests.Session per
thread (S3, chunked and plain HTTP: forms, multipart files); :meth:`HttpSession.send` through
core.transports.wire, a lean HTTP/1.1 client with one kept-alive connection per thread and
origin, for the tus client's many small requests (issue 12: requests cost ~0.6 ms of Python per
request).

Timeouts: a request without a body waits ``(connect, read)``; one with a body ``(stall, read)``:
urllib3 keeps the connect timeout on the socket while it sends (and the wire path bounds each
send by ``stall``), so a body that stops leaving for ``stall`` seconds aborts the request (a
transient error).
"""

from __future__ import annotations

import base64
import logging
import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from upqueue.core.connection_errors import (
    classify_exception,
    connection_failure,
    untrusted_certificate,
)
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.transports.wire import Body, InvalidRequest, NoAnswer, Wire
from upqueue.core.transports.wire_answer import Answer
from upqueue.core.transports.wire_proxy import Proxies, ca_bundle

log = logging.getLogger(__name__)

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
        verify: True (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE if set, else the default bundle),
            False, or a CA bundle file or directory.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        block_size: int = BLOCK_SIZE,
        verify: bool | str = True,
    ) -> None:
        self.connect_timeout = float(settings.get("connect_timeout", 10.0))
        self.stall_timeout = float(settings.get("stall_timeout", 30.0))
        self.read_timeout = float(settings.get("read_timeout", 60.0))
        self.headers = dict(headers or {})
        self.auth = auth
        self.block_size = block_size
        self.verify = ca_bundle() if verify is True else verify
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._proxies = Proxies()
        self.wire = Wire(verify=self.verify, proxies=self._proxies, block_size=block_size)
        # The headers every request on the wire path carries (auth as requests encodes it).
        named = {name.lower() for name in self.headers}
        self._wire_headers = {} if "user-agent" in named else {"User-Agent": "upqueue"}
        self._wire_headers.update(self.headers)
        if auth is not None:
            self._wire_headers["Authorization"] = _basic(*auth)

    def send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        headers: Mapping[str, str] | None = None,
        body: Body | None = None,
    ) -> Answer:
        """Send one request on the wire path (the answer read whole; redirects not followed).

        Raises:
            TransferError: no answer (connection, timeout, certificate, a stalled send), or a
                URL or header that cannot be sent, classified.
            Whatever ``body.read`` raises (TransferStopped, a file-changed TransferError).
        """
        all_headers = {**self._wire_headers, **headers} if headers else self._wire_headers
        first_timeout = self.connect_timeout if body is None else self.stall_timeout
        try:
            return self.wire.request(
                method,
                url,
                all_headers,
                body,
                connect_timeout=first_timeout,
                send_timeout=first_timeout,
                read_timeout=self.read_timeout,
            )
        except (NoAnswer, InvalidRequest) as e:
            raise _no_answer(e, url, action, self.stall_timeout) from e

    def send_pipelined(
        self,
        requests: Sequence[tuple[str, str, Mapping[str, str], bytes | None]],
        *,
        action: str,
    ) -> list[Answer | TransferError]:
        """Send small requests to one origin on the wire path, pipelined (Wire.pipeline): each
        gets its answer, or the classified TransferError of a request that got none."""
        prepared = [
            (method, url, {**self._wire_headers, **headers}, body)
            for method, url, headers, body in requests
        ]
        timeout = (
            self.stall_timeout
            if any(body is not None for *_, body in requests)
            else self.connect_timeout
        )
        try:
            answers = self.wire.pipeline(
                prepared,
                connect_timeout=timeout,
                send_timeout=timeout,
                read_timeout=self.read_timeout,
            )
        except (NoAnswer, InvalidRequest) as e:
            error = _no_answer(e, requests[0][1], action, self.stall_timeout)
            return [error] * len(requests)
        return [
            _no_answer(answer, url, action, self.stall_timeout)
            if isinstance(answer, NoAnswer)
            else answer
            for answer, (_, url, _, _) in zip(answers, requests)
        ]

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
        """Close every thread's session and wire connections."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self._local = threading.local()
        self.wire.close()

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
            session.verify = self.verify
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _proxies_for(self, url: str) -> dict[str, str]:
        """HTTP(S)_PROXY / NO_PROXY for this URL's scheme and host, read once per host."""
        return self._proxies.environ_for(url)


def _basic(username: str, password: str) -> str:
    """An Authorization header's value for basic auth, encoded as requests encodes it."""
    try:
        pair = f"{username}:{password}".encode("latin-1")
    except UnicodeEncodeError:
        pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _no_answer(
    e: NoAnswer | InvalidRequest, url: str, action: str, stall_timeout: float
) -> TransferError:
    """A request on the wire path that got no answer, as classify_exception says it for requests."""
    host = urlsplit(url).netloc or url
    if isinstance(e, InvalidRequest):
        return TransferError(
            "Invalid server address",
            f"{url} cannot be used ({e}). Check the target's URL and headers.",
            kind=ErrorKind.PERMANENT,
        )
    cause = e.cause
    if isinstance(cause, ssl.SSLCertVerificationError) or (
        isinstance(cause, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(cause)
    ):
        return untrusted_certificate(host)
    if isinstance(cause, TimeoutError) and e.phase == "connect":
        message = f"{host} did not accept a connection in time while {action}."
    elif isinstance(cause, TimeoutError) and e.phase == "send":
        message = f"The connection to {host} stalled for {stall_timeout:g} s while {action}."
    elif isinstance(cause, TimeoutError):
        message = f"{host} took too long to answer while {action}."
    else:
        message = connection_failure(cause, host, action)
    log.info("connection problem with %s while %s: %s", host, action, e)
    return TransferError("Connection problem", message, kind=ErrorKind.TRANSIENT)
