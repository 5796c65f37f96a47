"""A multipart/form-data body streamed from disk: fields and one file part, never the whole file
in memory (requests' ``files=`` builds the body in memory first)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from upqueue.core.filereader import FileSlice


def _quote(value: str) -> str:
    # RFC 7578: the name and filename are quoted strings; escape what would end them.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class FormBody:
    """``fields`` as text parts, then ``file`` as the part named ``file_field``.

    File-like for requests: ``len()`` is the whole body's length (a Content-Length is sent),
    ``read(n)`` returns the head, then the file slice's blocks (with its hooks), then the tail.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        file_field: str,
        filename: str,
        file: FileSlice,
        content_type: str = "application/octet-stream",
    ) -> None:
        self.boundary = f"upqueue-{uuid.uuid4().hex}"
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(k)}"\r\n\r\n'.encode()
            + str(v).encode("utf-8")
            + b"\r\n"
            for k, v in fields.items()
        )
        head += (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quote(file_field)}"; filename="{_quote(filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._head = head
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._file = file
        self._stage = 0  # 0 head, 1 file, 2 tail, 3 done

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + len(self._file) + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        while self._stage < 3:
            if self._stage == 0:
                self._stage = 1
                return self._head
            if self._stage == 1:
                block = self._file.read(n)
                if block:
                    return block
                self._stage = 2
            if self._stage == 2:
                self._stage = 3
                return self._tail
        return b""

    def close(self) -> None:
        self._file.close()
