"""Protocols without datasets refuse an upload of several files at their own door, each saying
which kind of target it is (the service refuses them first; this is the last guard)."""

from __future__ import annotations

import pytest
from upqueue.core.errors import ErrorKind, TransferError
from upqueue.core.filereader import FileFingerprint
from upqueue.core.settings import SETTINGS
from upqueue.core.transports.base import UploadFile, UploadJob
from upqueue.core.transports.chunked import ChunkedTransport
from upqueue.core.transports.plainhttp import PlainHttpTransport
from upqueue.core.transports.tus.transport import TusTransport


def job(count: int) -> UploadJob:
    files = tuple(
        UploadFile(f"/d/f{i}.bin", f"f{i}.bin", FileFingerprint(1, 1, i + 1)) for i in range(count)
    )
    return UploadJob(7, "f0.bin", files)


def test_one_file_passes_and_several_are_refused_naming_the_target_kind() -> None:
    assert job(1).single_file("A tus target").path == "/d/f0.bin"
    with pytest.raises(TransferError) as refused:
        job(2).single_file("A tus target")
    assert refused.value.kind == ErrorKind.PERMANENT
    assert (
        refused.value.message == "A tus target takes one file per upload; this upload has several."
    )


@pytest.mark.parametrize(
    ("transport", "kind"),
    [
        (TusTransport, "A tus target"),
        (ChunkedTransport, "A chunked-upload target"),
        (PlainHttpTransport, "A plain HTTP target"),
    ],
)
def test_each_protocol_without_datasets_refuses_before_any_request(transport, kind) -> None:
    target = {"id": 1, "name": "t", "url": "http://127.0.0.1:9/up/", "protocol": transport.name}
    sender = transport(target, None, {key: s.default for key, s in SETTINGS.items()})
    with pytest.raises(TransferError) as refused:
        sender.send(job(2), None, None)  # type: ignore[arg-type]  # never reached: no hooks
    assert refused.value.message.startswith(f"{kind} takes one file per upload")
    sender.close()
