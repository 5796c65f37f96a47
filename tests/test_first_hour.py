"""A new user's first hour (issue 11): the data bugs and dead ends found by trying upqueue.

The real worker, the real @tus/server and ``main.py`` subprocesses, as a person runs them.
"""

from __future__ import annotations

import sqlite3

import pytest
from upqueue.core import paths
from upqueue.core.api_client import ApiError

from tests.fixtures.tus import make_file
from tests.fixtures.worker import wait_for
from tests.test_cli import cli, ok


def _done(api, upload_id: int) -> bool:
    return api.upload(upload_id)["upload"]["status"] == "done"


def test_a_target_with_finished_uploads_can_be_removed_keeping_or_removing_them(
    worker, tus_server, tmp_path
):
    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url)
    ok("target", "add", "lab", "--url", tus_server.url)
    first = int(ok("add", str(make_file(tmp_path / "a.dat", 1000)), "-t", "geo").stdout)
    second = int(ok("add", str(make_file(tmp_path / "b.dat", 1000, 1)), "-t", "lab").stdout)
    wait_for(lambda: _done(api, first) and _done(api, second), 30, "both uploads done")

    asked = cli("target", "rm", "geo")
    assert asked.returncode == 1, asked
    assert "Internal error" not in asked.stderr and "Traceback" not in asked.stderr
    assert "--keep-uploads" in asked.stderr and "--remove-uploads" in asked.stderr

    ok("target", "rm", "geo", "--keep-uploads")
    kept = api.upload(first)["upload"]
    assert kept["status"] == "done" and kept["target_name"].startswith("geo (removed")
    assert [t["name"] for t in api.targets()["targets"]] == ["lab"]
    ok("target", "add", "geo", "--url", tus_server.url)  # the name is free again

    ok("target", "rm", "lab", "--remove-uploads")
    with pytest.raises(ApiError) as gone:
        api.upload(second)
    assert gone.value.status == 404
    assert second in api.uploads(since=0)["removed"]


def test_upload_ids_are_never_reused_after_rm(worker, tus_server, tmp_path, upqueue_home):
    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url)
    first = int(ok("add", str(make_file(tmp_path / "small_3.dat", 100)), "-t", "geo").stdout)
    wait_for(lambda: _done(api, first), 30, "the upload done")
    ok("rm", str(first))
    second = int(ok("add", str(make_file(tmp_path / "other.dat", 100, 2)), "-t", "geo").stdout)
    assert second > first
    history = " ".join(e["message"] or "" for e in api.upload(second)["events"])
    assert "removed" not in history and "small_3" not in history
    # And across a restart of the worker (the counter is in state.db, not in memory).
    ok("rm", str(second))
    worker.stop()
    api = worker.start()
    third = int(ok("add", str(make_file(tmp_path / "third.dat", 100, 3)), "-t", "geo").stdout)
    assert third > second
    with sqlite3.connect(upqueue_home / paths.STATE_DB) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_same_file_twice_is_refused_unless_forced(worker, tus_server, tmp_path):
    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url)
    path = str(make_file(tmp_path / "big_copy.bin", 2000))
    first = int(ok("add", path, "-t", "geo").stdout)
    again = cli("add", path, "-t", "geo")
    assert again.returncode == 1
    assert "already queued for or uploaded to geo" in again.stderr and "--force" in again.stderr
    wait_for(lambda: _done(api, first), 30, "the first upload done")
    assert cli("add", path, "-t", "geo").returncode == 1  # uploaded counts too
    forced = int(ok("add", path, "-t", "geo", "--force").stdout)
    assert forced != first
    assert len(api.uploads()["uploads"]) == 2


@pytest.mark.parametrize(
    "backend", ["keyrings.alt.file.PlaintextKeyring", "keyring.backends.null.Keyring"]
)
def test_a_plaintext_keyring_counts_as_no_keyring(
    make_worker, tus_server, monkeypatch, tmp_path, backend
):
    """README: without a keyring upqueue refuses to store a secret unless the file fallback is
    chosen. keyrings.alt's PlaintextKeyring (base64 in a file outside the data directory) is no
    keyring: the token is refused with a message that names the fallback, and nothing is written."""
    xdg = tmp_path / "xdg-data"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    api = make_worker.start()
    assert api.health()["secret_store"] == "none"
    refused = cli(
        "target", "add", "geo", "--url", tus_server.url, "--token-stdin", input="s3cr3t\n"
    )
    assert refused.returncode != 0
    assert "No password store available" in refused.stderr
    assert "UPQUEUE_SECRET_STORE=file" in refused.stderr
    assert api.targets()["targets"] == []  # not created half-way
    assert not [p for p in xdg.rglob("*") if p.is_file()], "a secret went to a plaintext file"
    make_worker.stop()

    monkeypatch.setenv("UPQUEUE_SECRET_STORE", "file")  # the fallback, chosen on purpose
    api = make_worker.start()
    assert api.health()["secret_store"].startswith("file (")
    ok("target", "add", "geo", "--url", tus_server.url, "--token-stdin", input="s3cr3t\n")
    assert api.targets()["targets"][0]["has_secret"] is True


def test_the_readme_says_what_the_code_does_about_plaintext_keyrings():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "PlaintextKeyring" in readme and "UPQUEUE_SECRET_STORE=file" in readme


def test_words_of_the_command_line(worker, tus_server, tmp_path):
    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url)
    done = int(ok("add", str(make_file(tmp_path / "big_copy.bin", 500)), "-t", "geo").stdout)
    wait_for(lambda: _done(api, done), 30, "the upload done")
    retried = cli("retry", str(done))
    assert "big_copy.bin is already uploaded; it cannot be retried now" in retried.stderr
    cancelled = cli("cancel", str(done))
    assert "it cannot be cancelled now" in cancelled.stderr and "canceld" not in cancelled.stderr
    assert "Failed attempts" in ok("show", str(done)).stdout
    assert "Attempts: 0" not in ok("show", str(done)).stdout

    export = cli("export", "--from", "yesterday", "--to", "2026-01-01")
    assert export.returncode == 2 and "--from" in export.stderr and "from_date" not in export.stderr

    a_file = make_file(tmp_path / "notes.txt", 10)
    watched = cli("watch", "add", str(a_file), "--target", "geo")
    assert "Not a folder" in watched.stderr and "Folder not found" not in watched.stderr

    assert cli("settings", "get", "no_such_key").returncode == 2
    assert cli("settings", "set", "no_such_key", "1").returncode == 2
    helptext = ok("settings", "set", "--help").stdout
    assert "bandwidth_limit" in helptext and "retry_limit" in helptext

    ok("settings", "set", "bandwidth_limit", "10MB")
    assert api.settings()["settings"]["bandwidth_limit"] == 10_000_000  # decimal, as the window
    ok("settings", "set", "bandwidth_limit", "0")


def test_batch_ls_prints_local_times_as_show_does(worker, tus_server, tmp_path):
    from upqueue.core import humanize

    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url)
    folder = tmp_path / "in"
    folder.mkdir()
    make_file(folder / "a.dat", 100)
    ok("watch", "add", str(folder), "--target", "geo", "--settle", "0.2")
    batch = wait_for(lambda: (api.batches()["batches"] or [None])[0], 30, "a batch")
    listed = ok("batch", "ls").stdout
    assert humanize.local_time(batch["created_at"]) in listed
    assert batch["created_at"] not in listed


def test_every_positional_argument_has_help_and_the_readme_lists_every_command():
    import argparse
    from pathlib import Path

    from upqueue.core.cli import build_parser

    missing, commands = [], []

    def walk(parser: argparse.ArgumentParser, trail: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    commands.append(f"{trail} {name}".strip())
                    walk(sub, f"{trail} {name}".strip())
            elif not action.option_strings and not action.help:
                missing.append(f"{trail}: {action.dest}")

    walk(build_parser(), "")
    assert not missing, missing
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "target edit" in readme
    assert "--keep-uploads" in readme and "--force" in readme


def test_connection_errors_say_what_happened_and_keep_the_raw_text_for_the_log(
    worker, tmp_path, upqueue_home
):
    api = worker.api
    ok("target", "add", "dead", "--url", "http://127.0.0.1:1/files/")
    tested = cli("target", "test", "dead")
    said = tested.stdout + tested.stderr
    assert "Cannot connect to 127.0.0.1:1: connection refused" in said, said
    for raw in ("HTTPConnectionPool", "Max retries", "NewConnectionError", "Errno"):
        assert raw not in said
    upload_id = int(ok("add", str(make_file(tmp_path / "x.dat", 100)), "-t", "dead").stdout)
    row = wait_for(
        lambda: (u := api.upload(upload_id)["upload"])["error_message"] and u, 30, "the error"
    )
    assert row["error_message"].startswith("Cannot connect to 127.0.0.1:1: connection refused")
    assert "Max retries" not in ok("show", str(upload_id)).stdout
    logs = "".join(p.read_text(errors="replace") for p in upqueue_home.rglob("*.log*"))
    assert "ConnectionRefusedError: [Errno 111]" in logs  # the raw text went to the log


def test_the_api_docs_load_every_asset_from_the_worker_itself(worker):
    """/docs must work with no network: every script, style sheet and icon it names is served
    by the worker (Swagger UI 5, which reads FastAPI's OpenAPI 3.1), none from a CDN."""
    import re

    import requests

    api = worker.api
    with requests.Session() as browser:
        browser.get(api.base_url + f"/docs?token={api._token}", timeout=10)
        page = browser.get(api.base_url + "/docs", timeout=10)
        assert page.status_code == 200
        links = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", page.text)
        links += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
        assert any(link.endswith(".js") for link in links) and any(".css" in x for x in links)
        for link in links:
            assert link.startswith("/"), f"{link} is not served by the worker"
            answer = browser.get(api.base_url + link, timeout=10)
            assert answer.status_code == 200, link
        script = browser.get(api.base_url + "/docs/assets/swagger-ui-bundle.js", timeout=10)
        assert len(script.content) > 500_000 and "SwaggerUIBundle" in script.text
        assert browser.get(api.base_url + "/docs/assets/../api.py", timeout=10).status_code != 200
    assert requests.get(api.base_url + "/docs/assets/swagger-ui.css", timeout=10).status_code == 401


def test_retry_of_a_changed_file_sends_it_as_it_is_now_and_deletes_the_stale_upload(
    worker, tus_server, tmp_path
):
    api = worker.api
    ok("target", "add", "geo", "--url", tus_server.url, "--chunk-size", "1MiB")
    worker.settings(bandwidth_limit=2_000_000)
    src = make_file(tmp_path / "big_copy.bin", 12_000_000, seed=4)
    upload_id = int(ok("add", str(src), "-t", "geo").stdout)
    wait_for(lambda: api.upload(upload_id)["upload"]["offset"] > 2_000_000, 30, "progress")
    with open(src, "ab") as f:
        f.write(b"appended while it uploaded")
    failed = wait_for(
        lambda: (u := api.upload(upload_id)["upload"])["status"] == "failed" and u, 30, "failed"
    )
    assert failed["error_title"] == "File changed during upload"
    assert "Retry sends the file as it is now, from the start" in failed["error_message"]
    stale = failed["result_url"]
    assert stale and tus_server.stored_path(stale).exists()

    worker.settings(bandwidth_limit=0)
    ok("retry", str(upload_id))
    done = wait_for(
        lambda: (u := api.upload(upload_id)["upload"])["status"] in ("done", "failed") and u,
        60,
        "the retried upload ends",
    )
    assert done["status"] == "done", done
    assert done["result_url"] != stale and done["size"] == src.stat().st_size
    from tests.fixtures.tus import same_content

    assert same_content(tus_server.stored_path(done["result_url"]), src)
    wait_for(lambda: not tus_server.stored_path(stale).exists(), 30, "the stale upload deleted")


def _windows(samples: list[tuple[float, int]], span: float) -> list[float]:
    """Bytes per second over every ``span``-second window of (time, bytes so far) samples."""
    rates, j = [], 0
    for i, (t0, b0) in enumerate(samples):
        while j < len(samples) and samples[j][0] < t0 + span:
            j += 1
        if j == len(samples):
            break
        t1, b1 = samples[j]
        rates.append((b1 - b0) / (t1 - t0))
    return rates


def test_the_bandwidth_limit_holds_within_10_percent_over_any_2_seconds_after_start_and_resume(
    worker, tus_server, tmp_path
):
    """Measured where it counts, at the server (the bytes in its file), 20 times a second:
    with 2 MB/s, every 2-second window from the first byte to the last, after the start and
    after a resume, is within 10 % of it."""
    import time

    api = worker.api
    limit = 2_000_000
    ok("target", "add", "geo", "--url", tus_server.url)
    worker.settings(bandwidth_limit=limit)
    src = make_file(tmp_path / "bw.bin", 24_000_000, seed=7)
    upload_id = int(ok("add", str(src), "-t", "geo").stdout)
    url = wait_for(lambda: api.upload(upload_id)["upload"]["result_url"], 30, "the remote upload")
    stored = tus_server.stored_path(url)

    def measure(until: callable) -> list[tuple[float, int]]:
        samples: list[tuple[float, int]] = []
        while not until():
            size = stored.stat().st_size if stored.exists() else 0
            samples.append((time.monotonic(), size))
            time.sleep(0.05)  # the sampling period of the measurement, not a wait for a condition
        return samples

    first = measure(lambda: stored.exists() and stored.stat().st_size >= 8_000_000)
    ok("pause", str(upload_id))
    wait_for(lambda: api.upload(upload_id)["upload"]["status"] == "paused", 30, "paused")
    paused_at = stored.stat().st_size
    # A person's pause of a second and a half (the scenario, not a wait for a condition): the
    # limiter must not let the idle time out as a burst after the resume.
    time.sleep(1.5)
    ok("resume", str(upload_id))
    second = measure(lambda: api.upload(upload_id)["upload"]["status"] == "done")
    assert stored.stat().st_size == src.stat().st_size

    def moving(samples: list[tuple[float, int]], after: int) -> list[tuple[float, int]]:
        # From the last sample before bytes began to move to the last one that saw them move.
        start = max((i for i, (_t, b) in enumerate(samples) if b <= after), default=0)
        end = next(i for i, (_t, b) in enumerate(samples) if b == samples[-1][1])
        return samples[start : end + 1]

    for label, samples in (
        ("after the start", moving(first, 0)),
        ("after the resume", moving(second, paused_at)),
    ):
        rates = _windows(samples, 2.0)
        assert len(rates) >= 10, (label, len(samples))
        worst_high, worst_low = max(rates), min(rates)
        assert worst_high <= limit * 1.10, f"{label}: {worst_high / 1e6:.2f} MB/s over 2 s"
        assert worst_low >= limit * 0.90, f"{label}: {worst_low / 1e6:.2f} MB/s over 2 s"
