"""Reading an HTTP/1.x answer from a kept-alive connection (core.transports.wire sends)."""

from __future__ import annotations

import errno
from collections.abc import Iterator, Mapping

_MAX_LINE = 65536
_MAX_HEADERS = 100


class BadAnswer(Exception):
    """The answer was not HTTP/1.x as expected, or a proxy refused the tunnel."""


class Headers(Mapping[str, str]):
    """An answer's headers, looked up without regard to case."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items  # lower-case names

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._items.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Sent:
    """What was asked (for messages and for redacting the credentials it carried)."""

    def __init__(self, method: str, url: str, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.headers = headers


class Answer:
    """An answer, read whole (the shape of requests.Response that core.errors reads)."""

    def __init__(
        self, status: int, reason: str, headers: Headers, content: bytes, request: Sent
    ) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content = content
        self.request = request

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in (self.headers.get("Content-Type") or "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"' ")
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")


def read_line(reader: object) -> bytes:
    line: bytes = reader.readline(_MAX_LINE + 1)  # type: ignore[attr-defined]
    if len(line) > _MAX_LINE:
        raise BadAnswer("a line of the answer is too long")
    return line


def read_answer(reader: object, method: str, sent: Sent) -> tuple[Answer, bool]:
    """One answer; also whether the connection may carry another request."""
    while True:
        line = read_line(reader)
        if not line:
            raise ConnectionResetError(errno.ECONNRESET, "the server closed the connection")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP answer: {line[:80]!r}")
        status = int(code)
        items: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            line = read_line(reader)
            if not line:
                raise BadAnswer("the connection closed in the answer's headers")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            value = value.strip()
            items[name] = f"{items[name]}, {value}" if name in items else value
        else:
            raise BadAnswer("too many header lines")
        if not 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            break
    connection = items.get("connection", "").lower()
    keep = (version == "HTTP/1.1" and "close" not in connection) or "keep-alive" in connection
    read = reader.read  # type: ignore[attr-defined]
    if method == "HEAD" or status in (204, 304):
        content = b""
    elif "chunked" in items.get("transfer-encoding", "").lower():
        content = _read_chunked(reader)
    elif "content-length" in items:
        length = int(items["content-length"])
        content = read(length)
        if len(content) < length:
            raise BadAnswer("the connection closed in the middle of the answer")
    else:
        content = read()  # the body ends when the connection does
        keep = False
    return Answer(status, reason, Headers(items), content, sent), keep


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
