"""The target form shows each protocol's own fields (from its transport), and Test Connection
checks each protocol for real: the window, the real worker, SeaweedFS, the drf-chunked-upload
site and nginx."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import Any

import pytest

from tests.fixtures.chunked import PASSWORD, USER, ChunkedSite
from tests.fixtures.plain_http import PlainServer
from tests.fixtures.s3 import ACCESS_KEY, SECRET_KEY, S3Bucket

pytestmark = [pytest.mark.slow, pytest.mark.qt_log_ignore("^This plugin does not support")]


def label_of(dialog: Any, field: Any) -> str:
    return str(dialog.form.labelForField(field).text())


def choose(dialog: Any, protocol: str) -> None:
    dialog.protocol.setCurrentIndex(dialog.protocol.findData(protocol))


def test_s3_form_asks_for_key_secret_and_region_and_tests_the_bucket(
    qtbot: Any, worker: Any, make_window: Any, s3_bucket: S3Bucket
) -> None:
    window = make_window(worker.api)
    window.commands["targets"].trigger()
    dialog = window.dialog_host.dialogs["targets"]
    # Each protocol its own rows: plain HTTP has a method and no chunk size; chunked HTTP
    # takes every kind of authentication and a chunk size.
    choose(dialog, "http")
    qtbot.waitUntil(
        lambda: dialog.protocol_fields.edits["method"].isVisibleTo(dialog), timeout=5_000
    )
    assert "region" not in dialog.protocol_fields.edits
    assert not dialog.chunk.isVisibleTo(dialog) and dialog.auth.isVisibleTo(dialog)
    choose(dialog, "chunked")
    assert dialog.chunk.isVisibleTo(dialog) and dialog.auth.count() == 4
    assert dialog.protocol_fields.edits == {}

    choose(dialog, "s3")
    assert label_of(dialog, dialog.username) == "Access key ID:"
    assert label_of(dialog, dialog.secret) == "Secret key:"
    assert dialog.username.isVisibleTo(dialog) and dialog.secret.isVisibleTo(dialog)
    assert not dialog.auth.isVisibleTo(dialog), "S3 has one kind of authentication"
    assert not dialog.chunk.isVisibleTo(dialog), "S3 sizes its parts itself"
    region = dialog.protocol_fields.edits["region"]
    # A widget added to a shown form is shown from the event loop.
    qtbot.waitUntil(lambda: region.isVisibleTo(dialog), timeout=5_000)
    assert "BUCKET" in dialog.url.placeholderText()

    dialog.name.setText("store")
    dialog.url.setText(s3_bucket.url + "/scans")
    dialog.username.setText(ACCESS_KEY)
    dialog.secret.setText("wrong-secret")
    region.setText("us-east-1")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Wrong secret key" in dialog.result_text(), timeout=20_000)
    dialog.secret.setText(SECRET_KEY)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Connection works" in dialog.result_text(), timeout=20_000)
    assert "accepts writes" in dialog.result_text()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(worker.api.targets()["targets"]), timeout=10_000)
    saved = worker.api.targets()["targets"][0]
    assert (saved["protocol"], saved["auth_kind"], saved["username"]) == ("s3", "basic", ACCESS_KEY)
    assert saved["options"] == {"region": "us-east-1"} and saved["has_secret"] is True

    dialog.close()


def test_test_connection_of_chunked_and_plain_http_targets(
    worker: Any, chunked_server: ChunkedSite, nginx_dav: PlainServer
) -> None:
    ok = worker.api.test_target_config(
        name="c",
        protocol="chunked",
        url=chunked_server.url,
        auth_kind="basic",
        username=USER,
        secret=PASSWORD,
    )
    assert ok["ok"] is True and "accepts the credentials" in ok["message"], ok
    refused = worker.api.test_target_config(name="c", protocol="chunked", url=chunked_server.url)
    assert refused["ok"] is False and "credentials" in refused["message"], refused
    put = worker.api.test_target_config(name="h", protocol="http", url=nginx_dav.url)
    assert put["ok"] is True and "takes files by PUT" in put["message"], put
    assert list(nginx_dav.root.iterdir()) == []
