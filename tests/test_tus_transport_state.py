"""When the tus transport stores a new server upload's URL (issue 12): with the first bytes of
the first PATCH, just before they leave, or when the attempt ends before any byte left; an empty
file's at once. Against the real @tus/server (the fault proxy to see what reached it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from upqueue.core.errors import TransferError, TransferStopped
from upqueue.core.transports.tus.transport import TusTransport, upload_url

from tests.fixtures.send_hooks import SETTINGS, RecordingHooks, job_for
from tests.fixtures.tus import ProxiedServer, TusServer, make_file

MiB = 1 << 20


def test_a_small_file_stores_its_url_once_before_its_bytes(
    tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 4096)
    hooks = RecordingHooks()
    transport = TusTransport({"url": tus_server.url}, None, SETTINGS)
    sent = transport.send(job_for(f), None, hooks)
    transport.close()
    url = upload_url(sent.remote_state)
    assert url and tus_server.stored_bytes(url) == f.read_bytes()
    # One write: the URL with every byte handed over, before the server's answer.
    assert hooks.states == [{"protocol": "tus", "url": url, "expires": None, "all_sent": True}]
    assert hooks.result_urls == [url]


def test_a_large_file_stores_its_url_with_the_first_block(
    tus_server: TusServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 3 * MiB)
    hooks = RecordingHooks()
    transport = TusTransport({"url": tus_server.url}, None, SETTINGS)
    sent = transport.send(job_for(f), None, hooks)
    transport.close()
    url = upload_url(sent.remote_state)
    assert [s and s["all_sent"] for s in hooks.states] == [False, True]
    assert all(upload_url(s) == url for s in hooks.states)
    # The first save came with the first block's progress, before any later block's.
    assert hooks.progress.index(256 * 1024) < len(hooks.progress) - 1


def test_a_stop_before_the_first_byte_still_stores_the_url(
    fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 4096)
    hooks = RecordingHooks()
    transport = TusTransport({"url": fault_proxy.url}, None, SETTINGS)
    original = hooks.check_stop
    calls = {"n": 0}

    def stop_after_creation() -> None:
        calls["n"] += 1
        if calls["n"] >= 3:  # transfer's first check, the PATCH loop's: then stop
            raise TransferStopped("paused")
        original()

    hooks.check_stop = stop_after_creation  # type: ignore[method-assign]
    with pytest.raises(TransferStopped):
        transport.send(job_for(f), None, hooks)
    assert [s.method for s in fault_proxy.log] == ["OPTIONS", "POST"]
    assert len(hooks.states) == 1 and hooks.states[0] is not None
    assert hooks.states[0]["all_sent"] is False
    # Resumed with that URL: the same server upload is completed, no second one created.
    sent = transport.send(job_for(f), hooks.states[0], RecordingHooks())
    transport.close()
    assert upload_url(sent.remote_state) == upload_url(hooks.states[0])
    assert [s.method for s in fault_proxy.log].count("POST") == 1


def test_a_patch_that_cannot_connect_still_stores_the_url(
    fault_proxy: ProxiedServer, tmp_path: Path
) -> None:
    f = make_file(tmp_path / "f", 4096)
    hooks = RecordingHooks()
    transport = TusTransport({"url": fault_proxy.url}, None, SETTINGS)
    calls = {"n": 0}

    def close_the_proxy_after_creation() -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the PATCH loop's first check: the POST was answered
            fault_proxy.close()

    hooks.check_stop = close_the_proxy_after_creation  # type: ignore[method-assign]
    with pytest.raises(TransferError) as info:
        transport.send(job_for(f), None, hooks)
    transport.close()
    assert (info.value.kind, info.value.status) == ("transient", None)
    assert [s.method for s in fault_proxy.log] == ["OPTIONS", "POST"]
    assert len(hooks.states) == 1 and upload_url(hooks.states[0])
    assert hooks.states[0] is not None and hooks.states[0]["all_sent"] is False


def test_an_empty_file_stores_its_url_at_once(tus_server: TusServer, tmp_path: Path) -> None:
    f = make_file(tmp_path / "f", 0)
    hooks = RecordingHooks()
    transport = TusTransport({"url": tus_server.url}, None, SETTINGS)
    sent = transport.send(job_for(f), None, hooks)
    transport.close()
    assert hooks.states and upload_url(hooks.states[0]) == upload_url(sent.remote_state)
