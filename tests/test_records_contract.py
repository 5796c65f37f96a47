"""The records (core/records.py) are the contract between the worker and its clients: the real
control API (the worker's FastAPI app in-process on a real state.db, through the real
ApiClient) and the window tests' FakeApi go through the same assertions, so the fake cannot
drift from what the worker really sends, and the window keeps every field of both."""

from __future__ import annotations

import csv
import io
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from upqueue.core import paths
from upqueue.core.api_client import ApiClient
from upqueue.core.records import (
    EXPORT_HEADER,
    TARGET_FIELDS,
    UPLOAD_FIELDS,
    AddResult,
    TargetRecord,
    UploadRecord,
)
from upqueue.core.secrets import SecretStore
from upqueue.core.store import Store
from upqueue.gui.models.upload_row import FIELDS as ROW_FIELDS
from upqueue.gui.models.upload_row import UploadRow
from tests.fixtures.gui import FakeApi
from tests.fixtures.tus import make_file
from upqueue.worker.api import PortHolder, create_app, serve
from upqueue.worker.service import Service


@pytest.fixture
def real_api(upqueue_home: Path) -> Iterator[ApiClient]:
    store = Store(upqueue_home / paths.STATE_DB)
    service = Service(store, SecretStore(upqueue_home), upqueue_home)
    holder = PortHolder()
    server, thread = serve(create_app(service, "tok", holder), "127.0.0.1", holder)
    yield ApiClient(f"http://127.0.0.1:{holder.port}", "tok")
    server.should_exit = True
    thread.join(10)
    service.close()
    store.close()


@pytest.fixture
def fake_api_only() -> FakeApi:
    return FakeApi()


@pytest.fixture(params=["real", "fake"])
def api(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("real_api" if request.param == "real" else "fake_api_only")


def conforms(value: Any, hint: Any) -> bool:
    """Is ``value`` what the record's annotation says (JSON-decoded)?"""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(conforms(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin)


def assert_is_record(row: dict[str, Any], record: type) -> None:
    hints = typing.get_type_hints(record)
    assert list(row) == list(hints), f"fields differ from {record.__name__}"
    wrong = {k: v for k, v in row.items() if not conforms(v, hints[k])}
    assert not wrong, f"values that are not what {record.__name__} says: {wrong}"


def test_uploads_targets_and_add_results_have_the_records_shape(api: Any, tmp_path: Path) -> None:
    target = api.add_target(name="t", url="http://127.0.0.1:9/files/")
    assert_is_record(target, TargetRecord)
    assert [t["name"] for t in api.targets()["targets"]] == ["t"]
    for listed in api.targets()["targets"]:
        assert_is_record(listed, TargetRecord)

    good = make_file(tmp_path / "good.bin", 1234)
    missing = tmp_path / "missing.bin"
    answer = api.add_uploads([str(good), str(missing)], "t")
    assert set(answer) == {"added", "ids", "rejected"}
    result = AddResult.from_json(answer)
    assert result.to_json() == answer
    assert [a.path for a in result.added] == [str(good)] and answer["ids"] == result.ids
    assert [(r.path, r.title) for r in result.rejected] == [(str(missing), "File not found")]
    nothing = AddResult.from_json(api.add_uploads([str(missing)], "t"))
    assert nothing.added == () and len(nothing.rejected) == 1

    listing = api.uploads()
    assert set(listing) == {"seq", "uploads", "removed", "total"} and listing["total"] == 1
    uploads = listing["uploads"]
    changed = api.uploads(since=listing["seq"])
    assert (changed["uploads"], changed["removed"]) == ([], [])
    assert [u["id"] for u in uploads] == result.ids
    for row in uploads:
        assert_is_record(row, UploadRecord)
        assert (row["path"], row["name"], row["size"], row["status"], row["target_name"]) == (
            str(good), "good.bin", 1234, "queued", "t"
        )
        # The window's row keeps exactly the record's fields.
        assert UploadRow(row).as_dict() == row
    assert_is_record(api.upload(result.ids[0])["upload"], UploadRecord)

    day = uploads[0]["created_at"][:10]  # the export's days are UTC days, like created_at
    exported = list(csv.reader(io.StringIO(api.export_csv(day, day))))
    assert tuple(exported[0]) == EXPORT_HEADER
    assert [line[:2] for line in exported[1:]] == [[str(result.ids[0]), "good.bin"]]


def test_the_window_and_the_records_name_the_same_fields() -> None:
    assert ROW_FIELDS == UPLOAD_FIELDS
    assert set(UploadRow.__slots__) >= set(UPLOAD_FIELDS)
    assert "has_secret" in TARGET_FIELDS and "secret" not in TARGET_FIELDS


def test_a_fake_row_cannot_carry_a_field_the_worker_does_not_send() -> None:
    fake = FakeApi()
    make: Callable[..., Any] = fake.put
    with pytest.raises(AssertionError, match="not fields of an upload"):
        make(protocol_state="x")
