"""HTTP/1.1 on a bare socket for small, frequent requests: one kept-alive connection per thread
and origin, bodies streamed from a reader in its own blocks, no redirects followed.

Why not requests: a 4 KiB tus upload is two requests, and ``Session.request`` spent ~0.6 ms of
Python per request (preparing, merging settings, urllib3's pool, http.client's header parsing)
where the server needs ~0.9 ms: a third of what the worker could do on two cores went there
(issue 12). Here a request is one ``send`` of its head (with the first block of its body) and a
few ``readline`` calls for the answer. What requests gave that matters here is kept: proxies
(HTTP(S)_PROXY / NO_PROXY, read once per host, CONNECT for https), TLS with a CA bundle
(REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's, as requests used), and classified errors.

Timeouts: connecting waits ``connect``; each ``send`` of the request waits at most ``send``
seconds for the socket to take more bytes (a stalled peer ends the request within that, however
large the block); the answer waits ``read``.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import quote, urlsplit

from upqueue.core.transports.wire_answer import Answer, BadAnswer, Sent, read_answer
from upqueue.core.transports.wire_proxy import Proxies, proxy_auth, tunnel

_PATH_SAFE = "!#$%&'()*+,/:;=?@[]~"  # what requests leaves unquoted (requote_uri)


class Body(Protocol):
    """A request body read in blocks (FileSlice): its length is known up front."""

    def __len__(self) -> int: ...
    def read(self, n: int = -1) -> bytes: ...


class NoAnswer(Exception):
    """No answer: ``phase`` is where it failed ("connect", "send", "answer"); the cause is the
    OSError (or a BadAnswer) in ``__cause__``."""

    def __init__(self, phase: str, cause: BaseException) -> None:
        super().__init__(f"{phase}: {cause.__class__.__name__}: {cause}")
        self.phase = phase
        self.cause = cause


class InvalidRequest(ValueError):
    """The URL or a header cannot be sent (no scheme or host, a line break in a value...)."""


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


class Wire:
    """Kept-alive connections, one per thread and origin (scheme, host, port, proxy).

    Args:
        verify: True (certifi's bundle, as requests), False (no verification), or a CA file or
            directory.
        proxies: where to look up each origin's proxy (shared with a requests session).
        block_size: how much of a body to ask its reader for at a time.
    """

    def __init__(
        self,
        *,
        verify: bool | str = True,
        proxies: Proxies | None = None,
        block_size: int = 256 * 1024,
    ) -> None:
        self.verify = verify
        self.block_size = block_size
        self.proxies = proxies or Proxies()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: set[_Connection] = set()
        self._tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body | None,
        *,
        connect_timeout: float,
        send_timeout: float,
        read_timeout: float,
    ) -> Answer:
        """Send one request and read its answer (never following a redirect).

        Raises:
            InvalidRequest: the URL or a header cannot be sent.
            NoAnswer: no connection, the send stalled, or no (readable) answer in time.
            Whatever ``body.read`` raises (TransferStopped, a file-changed TransferError);
            the connection is dropped then.
        """
        head, key, sent = self._head(method, url, headers, None if body is None else len(body))
        connection = self._connection(key, connect_timeout)
        try:
            try:
                connection.sock.settimeout(send_timeout)
                self._send(connection.sock, head, body)
            except (BrokenPipeError, ConnectionResetError) as e:
                # The server may have answered early (a 413 or 401 before the body) and closed:
                # read that answer if it is there, as urllib3 does.
                try:
                    connection.sock.settimeout(min(read_timeout, 5.0))
                    answer, _ = read_answer(connection.reader, method, sent)
                except (OSError, BadAnswer, ValueError):
                    raise NoAnswer("send", e) from e
                self._drop(key)
                return answer
            except OSError as e:
                raise NoAnswer("send", e) from e
            try:
                connection.sock.settimeout(read_timeout)
                answer, keep = read_answer(connection.reader, method, sent)
            except (OSError, BadAnswer, ValueError) as e:
                raise NoAnswer("answer", e) from e
        except BaseException:
            self._drop(key)
            raise
        if not keep:
            self._drop(key)
        return answer

    def pipeline(
        self,
        requests: Sequence[tuple[str, str, Mapping[str, str], bytes | None]],
        *,
        connect_timeout: float,
        send_timeout: float,
        read_timeout: float,
    ) -> list[Answer | NoAnswer]:
        """Send several requests to one origin, every one before the first answer is read
        (HTTP/1.1 pipelining), then read the answers in order: one round trip for them all,
        and a server that always has the next request at hand.

        For small requests only (their bodies are in memory): a server reads a pipelined
        request only after answering the one before, so everything sent must fit in the
        socket buffers. An answer that closes the connection ends the pipeline: the requests
        after it get NoAnswer, and whether the server acted on them is unknown to the caller.

        Raises:
            InvalidRequest: a URL or header cannot be sent, or the requests go to several origins.
            NoAnswer: no connection could be made.
        """
        heads = [self._head(m, u, h, None if b is None else len(b)) for m, u, h, b in requests]
        key = heads[0][1]
        if any(other != key for _, other, _ in heads):
            raise InvalidRequest("pipelined requests must go to one origin")
        data = b"".join(
            head + (request[3] or b"") for (head, _, _), request in zip(heads, requests)
        )
        connection = self._connection(key, connect_timeout)
        answers: list[Answer | NoAnswer] = []
        try:
            try:
                connection.sock.settimeout(send_timeout)
                view = memoryview(data)
                while view:  # one send per call, each within the socket's timeout
                    view = view[connection.sock.send(view) :]
            except OSError as e:
                self._drop(key)
                return [NoAnswer("send", e)] * len(requests)
            connection.sock.settimeout(read_timeout)
            for index, (_, _, sent) in enumerate(heads):
                try:
                    answer, keep = read_answer(connection.reader, sent.method, sent)
                except (OSError, BadAnswer, ValueError) as e:
                    self._drop(key)
                    return answers + [NoAnswer("answer", e)] * (len(requests) - index)
                answers.append(answer)
                if not keep:
                    self._drop(key)
                    closed = ConnectionAbortedError("the server closed the connection before")
                    return answers + [NoAnswer("answer", closed)] * (len(requests) - index - 1)
        except BaseException:
            self._drop(key)
            raise
        return answers

    def _head(
        self, method: str, url: str, headers: Mapping[str, str], body_length: int | None
    ) -> tuple[bytes, tuple[str, str, int, str | None], Sent]:
        """A request's head as bytes, its connection's key, and what it asked (for messages)."""
        scheme, host, port, target, host_header = _parse(url)
        proxy = self.proxies.for_url(url)
        # Through a proxy, an http:// request names the whole URL (https goes through CONNECT).
        shown = f"{scheme}://{host_header}{target}" if proxy and scheme == "http" else target
        lines = [f"{method} {shown} HTTP/1.1"]
        lines.append(f"Host: {host_header}")
        all_headers = dict(headers)
        if proxy and scheme == "http":
            all_headers.update(proxy_auth(proxy))
        for name, value in all_headers.items():
            if "\n" in name or "\r" in name or "\n" in value or "\r" in value or ":" in name:
                raise InvalidRequest(f"the header {name!r} cannot be sent")
            lines.append(f"{name}: {value}")
        if body_length is not None:
            lines.append(f"Content-Length: {body_length}")
        elif method not in ("GET", "HEAD"):
            lines.append("Content-Length: 0")  # as requests sends it
        try:
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError as e:
            raise InvalidRequest(f"a header holds characters HTTP cannot carry ({e})") from None
        sent = Sent(method, url, all_headers)
        key = (scheme, host, port, proxy)
        return head, key, sent

    def connections(self) -> int:
        """How many connections are open (every thread's)."""
        with self._lock:
            return len(self._all)

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            connections, self._all = self._all, set()
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, sock: socket.socket, head: bytes, body: Body | None) -> None:
        first = body.read(self.block_size) if body is not None and len(body) else b""
        data = memoryview(head + first)
        while True:
            while data:
                # One send per call, each within the socket's timeout: a peer that stops
                # taking bytes for that long ends the request, whatever the block size.
                data = data[sock.send(data) :]
            if body is None or not first:
                return
            send_rest = getattr(body, "send_rest", None)
            if send_rest is not None:
                # The head went with the first block (one packet for a small file); the rest
                # goes through one reused buffer rather than a bytes object per block.
                send_rest(sock)
                return
            first = body.read(self.block_size)
            data = memoryview(first)

    def _connection(self, key: tuple[str, str, int, str | None], timeout: float) -> _Connection:
        pool: dict[tuple[str, str, int, str | None], _Connection] | None = getattr(
            self._local, "pool", None
        )
        if pool is None:
            pool = self._local.pool = {}
        connection = pool.get(key)
        if connection is not None:
            if not _closed_by_peer(connection.sock):
                return connection
            self._drop(key)
        scheme, host, port, proxy = key
        try:
            connection = self._connect(scheme, host, port, proxy, timeout)
        except (OSError, BadAnswer) as e:
            raise NoAnswer("connect", e) from e
        pool[key] = connection
        with self._lock:
            self._all.add(connection)
        return connection

    def _connect(
        self, scheme: str, host: str, port: int, proxy: str | None, timeout: float
    ) -> _Connection:
        if proxy:
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if parts.scheme != "http" or not parts.hostname:
                raise InvalidRequest(
                    f"the proxy {parts.scheme}://{parts.hostname} cannot be used "
                    "(upqueue speaks to http:// proxies only)"
                )
            sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy and scheme == "https":
                tunnel(sock, host, port, proxy)
            if scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            if self.verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(self.verify, str):
                if os.path.isdir(self.verify):
                    context = ssl.create_default_context(capath=self.verify)
                else:
                    context = ssl.create_default_context(cafile=self.verify)
            else:
                try:
                    import certifi  # requests' default bundle, kept so that nothing changes

                    context = ssl.create_default_context(cafile=certifi.where())
                except ImportError:
                    context = ssl.create_default_context()
            self._tls = context
        return self._tls

    def _drop(self, key: tuple[str, str, int, str | None]) -> None:
        pool = getattr(self._local, "pool", None)
        connection = pool.pop(key, None) if pool else None
        if connection is not None:
            with self._lock:
                self._all.discard(connection)
            connection.close()


def _parse(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, request target, Host header) of an http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InvalidRequest(str(e)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidRequest(f"no http:// or https:// address: {url!r}")
    if not parts.hostname:
        raise InvalidRequest(f"no host in {url!r}")
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise InvalidRequest(f"the host name cannot be used ({e})") from None
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port in (None, default) else f"{shown}:{port}"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return scheme, host, port or default, quote(target, safe=_PATH_SAFE), host_header


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed (or broken) by the server."""
    try:
        poller = select.poll()  # not select(): it cannot watch a descriptor above 1023
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
