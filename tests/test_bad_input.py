"""Bad input answers 400 with a reason (issue 13.5, 13.6): the real worker over HTTP, and the CLI."""

from __future__ import annotations

import json

import requests

from tests.fixtures.tus import make_file
from tests.test_api import bearer
from tests.test_cli import cli
from tests.test_worker_uploads import add_target, wait_status


def post(api, path: str, **kwargs) -> requests.Response:
    headers = {**bearer(api), **kwargs.pop("headers", {})}
    return requests.post(api.base_url + path, headers=headers, timeout=10, **kwargs)


def get(api, path: str) -> requests.Response:
    return requests.get(api.base_url + path, headers=bearer(api), timeout=10)


def refused(resp: requests.Response, *words: str) -> dict:
    assert resp.status_code == 400, (resp.status_code, resp.text)
    body = resp.json()
    assert body["title"] and body["message"], body
    for word in words:
        assert word in body["message"], (word, body)
    return body


def test_numeric_settings_have_ranges_and_say_them(worker, tus_server, tmp_path):
    api = worker.api
    before = api.settings()["settings"]
    for key, value, said in [
        ("stall_timeout", "inf", "between 0.1 and 3600"),
        ("read_timeout", "1e309", "between 0.1 and 3600"),
        ("connect_timeout", 1e300, "between 0.1 and 600"),
        ("chunk_size", 1, "between 64 kB and 64 GB"),
        ("chunk_size", "1e309", "chunk_size takes int values"),
        ("bandwidth_limit", 10, "between 1 kB/s and 100 GB/s"),
        ("retry_max_delay", "nan", "between 0 and 86400"),
        ("rescan_interval", 1e12, "between 5 and 86400"),
    ]:
        resp = requests.patch(api.base_url + "/api/settings", json={key: value},
                              headers=bearer(api), timeout=10)
        refused(resp, key, said)
    assert api.settings()["settings"] == before
    result = cli("settings", "set", "stall_timeout", "inf")
    assert result.returncode == 1 and "must be between 0.1 and 3600" in result.stderr, result.stderr
    # and uploads still work: nothing broken was stored
    add_target(worker, tus_server.url)
    src = make_file(tmp_path / "ok.bin", 100_000)
    upload_id = api.add_uploads([str(src)], "srv")["ids"][0]
    assert wait_status(worker, upload_id, "done", "failed")["status"] == "done"


def test_bad_api_input_answers_400_not_500(worker, tus_server, tmp_path):
    api = worker.api
    add_target(worker, tus_server.url)
    good = make_file(tmp_path / "good.bin", 10)

    nul = post(api, "/api/uploads", json={"paths": [f"{tmp_path}/a\x00b"], "target": "srv"})
    refused(nul, "NUL byte")
    # A lone surrogate, as raw JSON: its answer must itself be valid JSON text.
    lone = post(api, "/api/uploads", data=b'{"paths": ["/tmp/x\\ud800y"], "target": "srv"}',
                headers={"Content-Type": "application/json"})
    body = refused(lone, "not valid text")
    json.dumps(body, ensure_ascii=False).encode("utf-8")
    refused(get(api, "/api/uploads?limit=100000000000000000000"))
    refused(get(api, "/api/uploads?since=100000000000000000000"))
    refused(get(api, "/api/uploads/1000000000000000000000000000000"))
    refused(post(api, "/api/uploads/1000000000000000000000000000000/pause"))
    refused(post(api, "/api/uploads/actions", json={"action": "pause", "ids": [10**30]}))
    refused(post(api, "/api/uploads", json={"paths": [str(good)], "target": 10**30}))
    refused(post(api, "/api/uploads", json={"paths": ["good.bin"], "target": "srv"}), "relative path")
    empty = post(api, "/api/uploads", json={"paths": [], "target": "srv"})
    assert empty.status_code == 200 and empty.json()["added"] == [], empty.text
    assert empty.json()["message"].startswith("Nothing was added: no paths were given")
    refused(post(api, "/api/targets", json={"name": "p", "url": "http://127.0.0.1:99999/files/"}), "65535")
    # the worker is unharmed, and nothing was queued
    assert api.uploads()["total"] == 0


def test_add_recursive_of_an_empty_folder_says_nothing_was_added(worker, tus_server, tmp_path):
    add_target(worker, tus_server.url)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").write_text("x")
    result = cli("add", "-r", str(empty), "--target", "srv")
    assert result.returncode != 0 and result.stdout == "", (result.stdout, result.stderr)
    assert "Nothing was added: no files found." in result.stderr, result.stderr
