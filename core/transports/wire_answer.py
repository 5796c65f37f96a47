"""Reading an HTTP/1.x answer from a kept-alive connection (core.transports.wire sends)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from upqueue.core.http_reading import BadAnswer, read_answer_parts, read_line

__all__ = ["Answer", "BadAnswer", "Headers", "Sent", "read_answer", "read_line"]


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
    """An answer, read whole (the shape of requests.Response that core.response_errors reads)."""

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


def read_answer(reader: object, method: str, sent: Sent) -> tuple[Answer, bool]:
    """One answer; also whether the connection may carry another request."""
    status, reason, items, content, keep = read_answer_parts(reader, method)
    return Answer(status, reason, Headers(items), content, sent), keep
