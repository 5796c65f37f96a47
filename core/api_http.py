"""HTTP for the control API: one kept-alive connection per thread, on a bare socket.

The API is plain HTTP/1.1 on 127.0.0.1 from our own server (uvicorn: every answer carries a
Content-Length or is chunked). requests and urllib3 took ~65 ms to import and http.client
another ~15 ms (it imports ssl and the email package), most of a command's time before its
first request (issue 12: the command line reaches its first request within 100 ms); none of
what they add (proxies, TLS, redirects) applies to a loopback socket. So this module writes
requests and reads answers itself, in ~100 lines.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

from upqueue.core.http_reading import BadAnswer, read_answer_parts


class NoAnswer(Exception):
    """No answer: the connection failed, or the answer did not come in time.

    Attributes:
        timed_out: whether a timeout ended the wait (else the connection failed).
    """

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Answer:
    """An HTTP answer, read whole (a plain class: dataclasses would import inspect, ~6 ms)."""

    def __init__(self, status: int, reason: str, content: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.content = content
        self.headers = headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.interrupted = False

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class Transport:
    """Requests to ``http://host:port`` on a kept-alive connection per calling thread.

    Args:
        host, port: the server.
        headers: sent with every request (e.g. the bearer token).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        self.headers = dict(headers)
        self._local = threading.local()
        # Connections now waiting in an interruptible request (a long poll), for interrupt().
        self._waiting: set[_Connection] = set()
        self._waiting_lock = threading.Lock()

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None,
        content_type: str | None,
        timeout: tuple[float, float],
        *,
        interruptible: bool = False,
    ) -> Answer:
        """Send one request (``target``: path and query) and read its answer.

        A connection the server closed while it sat idle (uvicorn drops idle ones after a few
        seconds) is replaced and the request sent once more: the server never saw it.
        ``interruptible``: :meth:`interrupt` may end the wait (for long polls).

        Raises:
            NoAnswer: no connection, no answer within ``timeout`` (connect, read), or
                interrupted.
        """
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        for attempt in (1, 2):
            connection, reused = self._connection(timeout[0])
            if interruptible:
                with self._waiting_lock:
                    self._waiting.add(connection)
            try:
                connection.sock.settimeout(timeout[1])
                connection.sock.sendall(data)
                answer, keep = _read_answer(connection.reader, method)
            except TimeoutError as exc:
                self._drop()
                raise NoAnswer(f"TimeoutError: {exc}", timed_out=True) from None
            except (BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if connection.interrupted:
                    raise NoAnswer("interrupted", timed_out=False) from None
                if reused and attempt == 1:
                    continue
                raise NoAnswer(f"{exc.__class__.__name__}: {exc}", timed_out=False) from None
            except (OSError, ValueError, BadAnswer) as exc:
                self._drop()
                raise NoAnswer(f"{exc.__class__.__name__}: {exc}", timed_out=False) from None
            finally:
                if interruptible:
                    with self._waiting_lock:
                        self._waiting.discard(connection)
            if not keep:
                self._drop()
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._drop()

    def interrupt(self) -> None:
        """End every interruptible request now waiting (from any thread): they raise NoAnswer.

        The window calls it when it closes, so that a long poll does not hold it open.
        """
        with self._waiting_lock:
            waiting = list(self._waiting)
        for connection in waiting:
            connection.interrupted = True
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _connection(self, connect_timeout: float) -> tuple[_Connection, bool]:
        connection: _Connection | None = getattr(self._local, "connection", None)
        if connection is not None and _closed_by_peer(connection.sock):
            self._drop()
            connection = None
        if connection is not None:
            return connection, True
        try:
            # An ASCII name goes as bytes: a str is encoded with the idna codec, whose import
            # costs every command ~1 ms of start-up.
            host: str | bytes = self.host.encode("ascii") if self.host.isascii() else self.host
            sock = socket.create_connection((host, self.port), timeout=connect_timeout)  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise NoAnswer(f"connect: {exc}", timed_out=True) from None
        except OSError as exc:
            raise NoAnswer(f"{exc.__class__.__name__}: {exc}", timed_out=False) from None
        # Small requests and answers: never wait for a delayed ACK before sending.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(sock)
        self._local.connection = connection
        return connection, False

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed (or broken) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _read_answer(reader: Any, method: str) -> tuple[Answer, bool]:
    """One answer from ``reader``; also whether the connection may be used again."""
    status, reason, headers, content, keep = read_answer_parts(reader, method)
    return Answer(status, reason, content, headers), keep
