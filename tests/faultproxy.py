"""A threaded fault-injecting HTTP/1.1 proxy for tests, in front of the real tus server.

Why raw sockets: the faults that matter (a reset after exactly N body bytes, a peer that stops
reading) need control below what http.server offers.

Model:
  * One request per client connection. The proxy opens a fresh upstream connection for each
    request, forwards it with ``Connection: close``, and answers the client with
    ``Connection: close`` too, so requests never reuses a connection the proxy killed.
    The ``Host`` header is forwarded unchanged, so @tus/server builds Location URLs that point
    back at the proxy.
  * Request bodies need ``Content-Length`` (tus clients send it); chunked bodies get 501.
  * Rules are checked in the order added; the first that matches a request applies to it.
    A rule matches on ``method`` (None = any) and, optionally, ``nth`` (the n-th request with
    that method since the rule was added, 1-based). ``times`` is how often it fires (None =
    every matching request). Actions:

      - ``respond(method, status, headers=, body=)``: answer instead of forwarding. The request
        body is read and dropped first, so the client reliably gets the answer.
      - ``reset_after(method, nbytes)``: forward the head and the first ``nbytes`` body bytes,
        then reset the client connection (RST) and close the upstream one. When ``nbytes``
        covers the whole body, the server's answer is awaited (and dropped) before the reset.
      - ``hold_answer(method, seconds)``: forward the whole request, then keep the server's
        answer from the client for ``seconds`` (None = until the proxy closes): a reply lost
        after the last byte, as when the client dies waiting for it.
      - ``stall(method, seconds, after_bytes=0)``: forward ``after_bytes`` of the body, then stop
        reading the request for ``seconds`` (None = until the proxy closes), then carry on.
      - ``corrupt_at(method, offset)``: forward the body with the byte at ``offset`` flipped
        (damage in transit that a checksum must catch).

  * ``checksum = True`` makes the proxy a checksum-capable server: OPTIONS answers get
    ``checksum`` added to ``Tus-Extension`` and ``Tus-Checksum-Algorithm: sha1,sha256``; a PATCH
    with ``Upload-Checksum`` is buffered whole, verified, answered 460 on a mismatch (or an
    unsupported algorithm: 400), and forwarded without the header otherwise.
  * Counters: ``patch_bytes_forwarded`` (PATCH body bytes sent upstream), ``checksums_verified``,
    and ``log``, one :class:`Seen` per request (method, path, headers, status, body bytes).

Usage::

    proxy = FaultProxy("127.0.0.1", server_port).start()
    proxy.respond("PATCH", 503, body="maintenance", times=1)
    ... client talks to proxy.base_url + "/files/" ...
    proxy.close()
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from dataclasses import dataclass, field

_HEAD_LIMIT = 64 * 1024
_BUF = 256 * 1024
# The proxy's receive buffer per client connection: small, so that a stalled proxy makes the
# client's send block soon instead of after megabytes of kernel buffering.
_CLIENT_RCVBUF = 64 * 1024
_CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 409: "Conflict", 410: "Gone", 413: "Payload Too Large",
    423: "Locked", 429: "Too Many Requests", 460: "Checksum Mismatch", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


@dataclass
class Rule:
    """One fault; see the module docstring."""

    method: str | None
    action: str  # "respond" | "reset" | "stall" | "hold" | "corrupt"
    nth: int | None = None
    times: int | None = 1
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    nbytes: int = 0
    seconds: float | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, method: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.nth is not None and self.seen != self.nth:
            return False
        self.fired += 1
        return True


@dataclass
class Seen:
    """One request that reached the proxy."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int | None = None  # what the client was answered, None if it got a reset
    body_forwarded: int = 0


class _Reset(Exception):
    """Raised to end a connection with an RST."""


class FaultProxy:
    """The proxy. Thread-safe to configure while requests are in flight."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.checksum = False
        self.patch_bytes_forwarded = 0
        self.checksums_verified = 0
        self.log: list[Seen] = []
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Set on the listener so accepted sockets inherit it before the window is advertised.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _CLIENT_RCVBUF)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self._conns: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)

    # -- configuration -----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: prefix a path to reach the server through the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def respond(
        self,
        method: str | None,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: str = "",
        nth: int | None = None,
        times: int | None = 1,
    ) -> Rule:
        return self._add(Rule(method, "respond", nth, times, status, dict(headers or {}), body))

    def reset_after(
        self, method: str | None, nbytes: int, *, nth: int | None = None, times: int | None = 1
    ) -> Rule:
        return self._add(Rule(method, "reset", nth, times, nbytes=nbytes))

    def stall(
        self,
        method: str | None,
        seconds: float | None,
        *,
        after_bytes: int = 0,
        nth: int | None = None,
        times: int | None = 1,
    ) -> Rule:
        return self._add(Rule(method, "stall", nth, times, nbytes=after_bytes, seconds=seconds))

    def hold_answer(
        self,
        method: str | None,
        seconds: float | None,
        *,
        nth: int | None = None,
        times: int | None = 1,
    ) -> Rule:
        return self._add(Rule(method, "hold", nth, times, seconds=seconds))

    def corrupt_at(
        self, method: str | None, offset: int, *, nth: int | None = None, times: int | None = 1
    ) -> Rule:
        return self._add(Rule(method, "corrupt", nth, times, nbytes=offset))

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def requests(self, method: str | None = None) -> list[Seen]:
        """The requests seen so far (optionally only one method)."""
        with self._lock:
            return [s for s in self.log if method is None or s.method == method]

    def close(self) -> None:
        """Stop accepting, end stalls, and close every connection."""
        self._closed.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                # shutdown wakes a thread blocked in recv on it; close alone may not.
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    # -- internals ---------------------------------------------------------------------------

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def _match(self, method: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method):
                    return rule
        return None

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.add(s)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        upstream: socket.socket | None = None
        reset = False
        try:
            head, rest = _read_head(client)
            if head is None:
                return
            method, target, headers, raw_lines = _parse_request(head)
            seen = Seen(method, target, headers)
            with self._lock:
                self.log.append(seen)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                seen.status = 501
                client.sendall(_response(501, {}, "faultproxy: chunked bodies not supported\n"))
                return
            length = int(headers.get("content-length", "0") or 0)
            rule = self._match(method)
            if rule is not None and rule.action == "respond":
                _drain(client, rest, length)
                seen.status = rule.status
                client.sendall(_response(rule.status, rule.headers, rule.body))
                return
            checksum = headers.get("upload-checksum") if self.checksum else None
            if method == "PATCH" and checksum is not None:
                body = _read_exact(client, rest, length)
                problem = _verify_checksum(checksum, body)
                if problem is not None:
                    seen.status = problem[0]
                    client.sendall(_response(problem[0], {}, problem[1]))
                    return
                with self._lock:
                    self.checksums_verified += 1
                raw_lines = [
                    ln for ln in raw_lines if not ln.lower().startswith("upload-checksum:")
                ]
                rest, length = body, len(body)
            upstream = socket.create_connection(self.upstream, timeout=30)
            self._track(upstream)
            upstream.sendall(_request_head(raw_lines))
            held = rule is not None and rule.action == "hold"
            self._forward_body(client, upstream, rest, length, method, seen, None if held else rule)
            if held and rule is not None:
                self._closed.wait(rule.seconds)
            self._relay_response(upstream, client, method, seen)
        except _Reset:
            reset = True
        except OSError:
            pass
        finally:
            if reset:
                _reset(client)
            for s in (client, upstream):
                if s is not None:
                    _close(s)
                    with self._lock:
                        self._conns.discard(s)

    def _forward_body(
        self,
        client: socket.socket,
        upstream: socket.socket,
        rest: bytes,
        length: int,
        method: str,
        seen: Seen,
        rule: Rule | None,
    ) -> None:
        sent = 0
        pending = rest
        while sent < length:
            if rule is not None and rule.action == "stall" and sent >= rule.nbytes:
                # Stop reading the client: its send buffer fills and its send blocks.
                self._closed.wait(rule.seconds)
                rule = None
                if self._closed.is_set():
                    raise _Reset
            if not pending:
                pending = client.recv(min(_BUF, length - sent))
                if not pending:
                    raise _Reset  # the client went away mid-body
            piece = pending[: length - sent]
            if rule is not None and rule.action == "corrupt" and sent == rule.nbytes:
                piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
                rule = None
            if rule is not None:
                piece = piece[: rule.nbytes - sent]  # stop exactly at the fault's byte
            upstream.sendall(piece)
            sent += len(piece)
            pending = pending[len(piece) :]
            seen.body_forwarded = sent
            if method == "PATCH":
                with self._lock:
                    self.patch_bytes_forwarded += len(piece)
            if rule is not None and rule.action == "reset" and rule.nbytes <= sent < length:
                raise _Reset
        if rule is not None and rule.action == "reset":
            # nbytes >= the body: the server got it all; only its answer is lost. Wait for that
            # answer (the server has stored every byte by then), then reset the client, so a
            # test that reads the stored file does not race the server's write.
            upstream.settimeout(30)
            while upstream.recv(_BUF):
                pass
            raise _Reset

    def _relay_response(
        self, upstream: socket.socket, client: socket.socket, method: str, seen: Seen
    ) -> None:
        head, rest = _read_head(upstream)
        if head is None:
            raise _Reset
        lines = head.decode("latin-1").split("\r\n")
        seen.status = int(lines[0].split()[1])
        advertise = self.checksum and method == "OPTIONS"
        out = [lines[0]]
        for line in lines[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if name == "connection" or (advertise and name == "tus-checksum-algorithm"):
                continue
            if advertise and name == "tus-extension":
                line += ",checksum"
            out.append(line)
        if advertise:
            out.append("Tus-Checksum-Algorithm: " + ",".join(_CHECKSUM_ALGORITHMS))
        out.append("Connection: close")
        client.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + rest)
        while data := upstream.recv(_BUF):
            client.sendall(data)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(_BUF)
        if not data:
            return None, b""
        buf += data
        if len(buf) > _HEAD_LIMIT and b"\r\n\r\n" not in buf:
            raise _Reset
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _parse_request(head: bytes) -> tuple[str, str, dict[str, str], list[str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers, lines


def _request_head(lines: list[str]) -> bytes:
    kept = [ln for ln in lines if not ln.lower().startswith(("connection:", "keep-alive:"))]
    return ("\r\n".join([*kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def _response(status: int, headers: dict[str, str], body: str) -> bytes:
    data = body.encode("utf-8")
    # A canned answer speaks tus unless the rule says otherwise ({"Tus-Resumable": ""} omits it).
    headers = {"Tus-Resumable": "1.0.0", **headers}
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if v != ""]
    if status not in (204, 304):
        lines.append(f"Content-Length: {len(data)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (data if status != 204 else b"")


def _drain(sock: socket.socket, rest: bytes, length: int) -> None:
    left = length - len(rest)
    while left > 0:
        data = sock.recv(min(_BUF, left))
        if not data:
            raise _Reset
        left -= len(data)


def _read_exact(sock: socket.socket, rest: bytes, length: int) -> bytes:
    parts, have = [rest], len(rest)
    while have < length:
        data = sock.recv(min(_BUF, length - have))
        if not data:
            raise _Reset
        parts.append(data)
        have += len(data)
    return b"".join(parts)[:length]


def _verify_checksum(header: str, body: bytes) -> tuple[int, str] | None:
    algorithm, _, value = header.strip().partition(" ")
    factory = _CHECKSUM_ALGORITHMS.get(algorithm.lower())
    if factory is None:
        return 400, "Unsupported checksum algorithm\n"
    try:
        claimed = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        return 400, "Invalid upload-checksum\n"
    if factory(body).digest() != claimed:
        return 460, "Checksum mismatch\n"
    return None


def _reset(sock: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
