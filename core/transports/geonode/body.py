"""A multipart/form-data body streamed from the dataset's files, with a known Content-Length.

Why not requests' ``files=``: it builds the whole body in memory (a 2 GB GeoTIFF would be held
twice). Why not requests-toolbelt's MultipartEncoder: one more dependency for ~80 lines, and
its reads would bypass what every upqueue body does per block (FileSlice: check_stop, throttle,
the file-changed checks). Why a file-like object with ``__len__`` rather than a generator:
requests sends a generator chunked (no Content-Length), which Django's multipart parser behind
uWSGI/gunicorn does not take; with ``__len__`` it sends Content-Length and reads block by block.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from upqueue.core.filereader import FileSlice
from upqueue.core.transports.base import SendHooks, UploadFile
from upqueue.core.transports.bodies import sent_slice

BLOCK_SIZE = 256 * 1024  # one block must leave within the stall timeout (see TusTransport)


@dataclass(frozen=True)
class FilePart:
    """One file field: GeoNode's field name, the file name GeoNode sees, the local file."""

    field: str
    filename: str
    file: UploadFile


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """File-like body: ``len()`` is the exact size; ``read()`` returns one block at a time.

    ``on_progress`` receives file bytes sent so far scaled to ``progress_total`` (a zip goes
    twice, as ``base_file`` and ``zip_file``: the bar still ends at the dataset's size).
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        files: Sequence[FilePart],
        hooks: SendHooks,
        *,
        progress_total: int,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.boundary = f"upqueue-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._hooks = hooks
        self._block = block_size
        self._progress_total = progress_total
        self._file_bytes = sum(p.file.fingerprint.size for p in files) or 1
        self._sent_file_bytes = 0
        # segments: bytes, or a FilePart streamed through a FileSlice when reached
        self._segments: list[bytes | FilePart] = []
        for name, value in fields:
            self._segments.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"'
                f"\r\n\r\n{value}\r\n".encode()
            )
        for part in files:
            self._segments.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(part.field)}";'
                f' filename="{_quote(part.filename)}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            self._segments.append(part)
            self._segments.append(b"\r\n")
        self._segments.append(f"--{self.boundary}--\r\n".encode())
        self._length = sum(
            len(s) if isinstance(s, bytes) else s.file.fingerprint.size for s in self._segments
        )
        self._index = 0
        self._slice: FileSlice | None = None
        self._slice_done = 0

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        while self._index < len(self._segments):
            segment = self._segments[self._index]
            if isinstance(segment, bytes):
                self._index += 1
                if segment:
                    return segment
                continue
            if self._slice is None:
                self._slice = self._open(segment)
            data = self._slice.read(self._block)
            if data:
                return data
            self._slice.close()
            self._slice = None
            self._index += 1
        return b""

    def _open(self, part: FilePart) -> FileSlice:
        before = self._sent_file_bytes
        scale: Callable[[int], None] = lambda pos: self._progress(before + pos)
        return sent_slice(part.file, self._hooks, progress=scale, block_size=self._block)

    def _progress(self, file_bytes: int) -> None:
        self._sent_file_bytes = file_bytes
        self._hooks.on_progress(file_bytes * self._progress_total // self._file_bytes)

    def close(self) -> None:
        if self._slice is not None:
            self._slice.close()
            self._slice = None
