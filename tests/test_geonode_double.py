"""The GeoNode double answers as GeoNode's source does (PROTOCOLS.md, SERVERS.md corrections):
the tests that use it are only as good as these answers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.geonode_double.data import SHAPEFILE_MAGIC, write_shapefile

ALICE = ("alice", "alice-pass")


def shapefile_form(folder: Path, stem: str = "roads", *, skip: str = "") -> dict[str, Any]:
    write_shapefile(folder, stem)
    fields = {"base_file": "shp", "dbf_file": "dbf", "shx_file": "shx", "prj_file": "prj"}
    return {
        field: (f"{stem}.{ext}", (folder / f"{stem}.{ext}").read_bytes())
        for field, ext in fields.items()
        if field != skip
    }


def post(url: str, files: dict[str, Any], **kwargs: Any) -> requests.Response:
    return requests.post(
        url, files=files, data={"action": "upload"}, timeout=10, allow_redirects=False, **kwargs
    )


@pytest.mark.parametrize(
    "mode,header", [("5.1", None), ("5.0", 'Basic realm="api"'), ("4.4", 'Basic realm="api"')]
)
def test_anonymous_upload_is_401_and_only_50_says_www_authenticate(
    make_geonode: Any, tmp_path: Path, mode: str, header: str | None
) -> None:
    double = make_geonode(mode)
    resp = post(f"{double.url}api/v2/uploads/upload", shapefile_form(tmp_path))
    assert resp.status_code == 401 and resp.headers.get("WWW-Authenticate") == header
    assert resp.json() == {
        "success": False,
        "code": "not_authenticated",
        "errors": ["Authentication credentials were not provided."],
    }
    bad = post(
        f"{double.url}api/v2/uploads/upload", shapefile_form(tmp_path), auth=("alice", "nope")
    )
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"


def test_44_execution_routes_answer_403_as_session_auth_comes_first(make_geonode: Any) -> None:
    double = make_geonode("4.4")
    resp = requests.get(f"{double.url}api/v2/executionrequest/x", timeout=10)
    assert resp.status_code == 403


def test_lockdown_redirects_to_an_html_login_page(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.1", lockdown=True)
    resp = post(f"{double.url}api/v2/uploads/upload", shapefile_form(tmp_path))
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/account/login/?next=/api/v2/uploads/upload"
    page = requests.get(double.url + resp.headers["Location"].lstrip("/"), timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    ok = post(f"{double.url}api/v2/uploads/upload", shapefile_form(tmp_path), auth=ALICE)
    assert ok.status_code == 201  # credentials that work pass the lockdown


def test_form_errors_use_geonodes_envelope_with_the_first_message(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.0")
    url = f"{double.url}api/v2/uploads/upload"
    missing = post(url, shapefile_form(tmp_path, skip="dbf_file"), auth=ALICE)
    assert (missing.status_code, missing.json()) == (
        400,
        {"success": False, "errors": ["No file was submitted."], "code": "invalid"},
    )
    form = shapefile_form(tmp_path)
    form["prj_file"] = ("roads.prj", b"")
    empty = post(url, form, auth=ALICE)
    assert empty.json()["errors"] == ["The submitted file is empty."]
    other = post(url, {"base_file": ("notes.txt", b"hello")}, auth=ALICE)
    assert other.status_code == 500 and other.json() == {
        "success": False,
        "errors": ["No handlers found for this dataset type/action"],
        "code": "importer_exception",
    }
    assert requests.get(url, auth=ALICE, timeout=10).status_code == 405
    # the URL pattern is unanchored: a trailing slash (or more) still reaches the view
    assert post(url + "/", shapefile_form(tmp_path), auth=ALICE).status_code == 201


def test_51_sniffs_content_and_50_does_not(make_geonode: Any, tmp_path: Path) -> None:
    form = shapefile_form(tmp_path)
    form["base_file"] = ("roads.shp", b"not a shapefile at all")
    assert form["shx_file"][1][:4] == SHAPEFILE_MAGIC
    answer = post(f"{make_geonode('5.1').url}api/v2/uploads/upload", form, auth=ALICE)
    assert answer.status_code == 400 and answer.json()["errors"] == [
        "Detected content type 'text/plain' does not match extension '.shp'."
    ]
    assert (
        post(f"{make_geonode('5.0').url}api/v2/uploads/upload", form, auth=ALICE).status_code == 201
    )


def test_a_body_far_over_the_limit_gets_djangos_html_400(make_geonode: Any) -> None:
    double = make_geonode("5.1", upload_size=1000)
    big = b"\0" * (2 * 1000 + (2 << 20) + 10)
    resp = post(f"{double.url}api/v2/uploads/upload", {"base_file": ("x.tif", big)}, auth=ALICE)
    assert resp.status_code == 400 and "text/html" in resp.headers["Content-Type"]
    assert "Bad Request (400)" in resp.text


def test_executions_move_forward_and_finish_with_the_datasets_page(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.0", step_seconds=0.02)
    created = post(f"{double.url}api/v2/uploads/upload", shapefile_form(tmp_path), auth=ALICE)
    exec_id = created.json()["execution_id"]
    order = ["ready", "running", "finished"]
    seen: list[str] = []
    deadline = time.monotonic() + 10
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        record = requests.get(
            f"{double.url}api/v2/executionrequest/{exec_id}", auth=ALICE, timeout=10
        ).json()["request"]
        assert record["exec_id"] == exec_id  # stable
        assert (record["finished"] is not None) == (record["status"] in ("finished", "failed"))
        if not seen or seen[-1] != record["status"]:
            seen.append(record["status"])
        if record["status"] == "finished":
            break
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    assert record["output_params"]["resources"][0]["detail_url"].startswith("/catalogue/#/dataset/")
    unknown = requests.get(f"{double.url}api/v2/executionrequest/nope", auth=ALICE, timeout=10)
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"detail": "No ExecutionRequest matches the given query."},
    )
