"""Reading one HTTP/1.x answer from a kept-alive connection, for the two small HTTP clients
that skip requests: the control API's (core.api_http) and the tus transport's
(core.transports.wire). Light on purpose: the command line imports it before its first request.
"""

from __future__ import annotations

import errno

_MAX_LINE = 65536
_MAX_HEADERS = 100


class BadAnswer(Exception):
    """The answer was not HTTP/1.x as expected (or a proxy refused a tunnel)."""


def read_line(reader: object) -> bytes:
    line: bytes = reader.readline(_MAX_LINE + 1)  # type: ignore[attr-defined]
    if len(line) > _MAX_LINE:
        raise BadAnswer("a line of the answer is too long")
    return line


def read_answer_parts(reader: object, method: str) -> tuple[int, str, dict[str, str], bytes, bool]:
    """``(status, reason, headers, content, keep)`` of one answer: headers by lower-case name
    (repeated ones joined with ", "), and whether the connection may carry another request.

    Raises:
        ConnectionResetError: the server closed the connection before its answer began.
        BadAnswer: what came is not an HTTP/1.x answer, or stopped in the middle.
    """
    while True:
        line = read_line(reader)
        if not line:
            raise ConnectionResetError(errno.ECONNRESET, "the server closed the connection")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP answer: {line[:80]!r}")
        status = int(code)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = read_line(reader)
            if not line:
                raise BadAnswer("the connection closed in the answer's headers")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            raise BadAnswer("too many header lines")
        if not 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            break
    connection = headers.get("connection", "").lower()
    keep = (version == "HTTP/1.1" and "close" not in connection) or "keep-alive" in connection
    read = reader.read  # type: ignore[attr-defined]
    if method == "HEAD" or status in (204, 304):
        content = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        content = _read_chunked(reader)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        content = read(length)
        if len(content) < length:
            raise BadAnswer("the connection closed in the middle of the answer")
    else:
        content = read()  # the body ends when the connection does
        keep = False
    return status, reason, headers, content, keep


def _read_chunked(reader: object) -> bytes:
    parts: list[bytes] = []
    read = reader.read  # type: ignore[attr-defined]
    while True:
        size = int(read_line(reader).split(b";", 1)[0].strip() or b"x", 16)
        if size == 0:
            while read_line(reader) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        chunk = read(size)
        if len(chunk) < size:
            raise BadAnswer("the connection closed in the middle of a chunk")
        parts.append(chunk)
        read_line(reader)
