"""GeoNode end to end: the real worker process, its CLI and API, against the GeoNode double in
every mode (5.1, 5.0, 4.4, legacy <= 4.0)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.geonode import ALL_MODES
from tests.fixtures.worker import MAIN, WorkerProcess, wait_for
from tests.geonode_double import GeoNodeDouble
from tests.geonode_double.data import write_geotiff, write_shapefile, write_zipped_shapefile

API = {"5.1": "5", "5.0": "5", "4.4": "4.4", "legacy": "legacy"}
FAST = {"poll_seconds": 0.1, "busy_wait_seconds": 0.5}


def add_target(
    worker: WorkerProcess,
    double: GeoNodeDouble,
    *,
    secret: str = "alice-pass",
    name: str = "maps",
    **options: Any,
) -> dict[str, Any]:
    assert worker.api is not None
    return worker.api.add_target(
        name=name,
        url=double.url,
        protocol="geonode",
        auth_kind="basic",
        username="alice",
        secret=secret,
        options={**FAST, **options},
    )


def row(worker: WorkerProcess, upload_id: int) -> dict[str, Any]:
    assert worker.api is not None
    return worker.api.upload(upload_id)["upload"]


def ended(worker: WorkerProcess, upload_id: int, timeout: float = 60) -> dict[str, Any]:
    return wait_for(
        lambda: (r := row(worker, upload_id))["status"] in ("done", "failed") and r,
        timeout,
        f"upload {upload_id} to end",
    )


def cli(worker: WorkerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, UPQUEUE_HOME=str(worker.home))
    return subprocess.run(
        [sys.executable, str(MAIN), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def link_of(double: GeoNodeDouble, name: str) -> str:
    execution = next(e for e in double.executions() if e.name == name)
    return f"{double.url}catalogue/#/dataset/{execution.output_params['resources'][0]['id']}"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_shapefile_set_a_geotiff_and_a_zip_are_published(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    add_target(worker, double)
    shp = write_shapefile(tmp_path, "roads")  # + .shx .dbf .prj .cpg
    tif = write_geotiff(tmp_path)
    archive = write_zipped_shapefile(tmp_path, "parcels")
    assert worker.api is not None
    # the .dbf given too is absorbed: four paths, three datasets
    added = worker.api.add_uploads(
        [str(shp), str(tmp_path / "roads.dbf"), str(tif), str(archive)], "maps"
    )
    ids = added["ids"]
    assert len(ids) == 3 and added["rejected"] == []
    rows = [ended(worker, i) for i in ids]
    assert [r["status"] for r in rows] == ["done"] * 3, rows
    assert rows[0]["name"] == "roads.shp + 4 files"
    assert [r["result_url"] for r in rows] == [
        link_of(double, "roads.shp"),
        link_of(double, "elevation.tif"),
        link_of(double, "parcels.zip"),
    ]
    assert len(double.executions()) == 3
    shown = cli(worker, "show", str(ids[0]))
    assert rows[0]["result_url"] in shown.stdout
    assert "roads.shp, roads.shx, roads.dbf, roads.prj, roads.cpg" in shown.stdout
    as_json = json.loads(cli(worker, "show", str(ids[0]), "--json").stdout)
    assert (as_json.get("upload") or as_json)["result_url"] == rows[0]["result_url"]


@pytest.mark.parametrize("mode", ["5.1", "legacy"])
def test_add_wait_exits_0_once_published_and_prints_the_link(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.2)
    add_target(worker, double)
    run = cli(worker, "add", str(write_shapefile(tmp_path, "roads")), "--target", "maps", "--wait")
    assert run.returncode == 0, run.stderr
    assert [e.status for e in double.executions()] == ["finished"]  # not merely uploaded
    assert f"Link for roads.shp + 4 files: {link_of(double, 'roads.shp')}" in run.stdout
    bad = write_shapefile(tmp_path / "b", "rivers")
    (tmp_path / "b" / "rivers.prj").write_text("LOCAL_CS[nothing]")
    run = cli(worker, "add", str(bad), "--target", "maps", "--wait")
    assert run.returncode == 1
    assert "is not correctly set, Please check Geoserver logs" in run.stderr


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_failed_import_says_why_and_retry_takes_the_added_prj(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    add_target(worker, double)
    shp = write_shapefile(tmp_path, "wells", prj=False)
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads([str(shp)], "maps")["ids"]
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed"
    assert "add a .prj next to the .shp and retry" in failed["error_message"]
    assert failed["name"] == "wells.shp + 3 files"

    write_shapefile(tmp_path, "wells")  # the analyst exports the set again, with its .prj
    worker.api.action(upload_id, "retry")
    done = wait_for(lambda: (r := row(worker, upload_id))["status"] == "done" and r, 60, "done")
    assert done["result_url"] == link_of(double, "wells.shp")
    assert done["name"] == "wells.shp + 4 files"
    assert double.posts()[-1].files["prj_file"] == "wells.prj"
    detail = worker.api.upload(upload_id)
    assert "wells.prj" in [m["name"] for m in detail["members"]]
    assert any("now with wells.prj" in (e["message"] or "") for e in detail["events"])


@pytest.mark.parametrize("mode", ALL_MODES)
def test_geonodes_reason_verbatim_for_an_unknown_projection(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    add_target(worker, double)
    shp = write_shapefile(tmp_path, "rivers")
    (tmp_path / "rivers.prj").write_text("LOCAL_CS[nothing]")
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads([str(shp)], "maps")["ids"]
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed"
    assert failed["error_title"] == "GeoNode could not import the dataset"
    assert (
        "GeoNode said: The SRID for the resource {'name': 'rivers', 'crs': None} is not "
        "correctly set, Please check Geoserver logs"
    ) in failed["error_message"]
    assert len(double.posts()) == 1  # a failed import is not sent again by itself


def test_an_incomplete_set_is_refused_before_anything_is_sent(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1")
    add_target(worker, double)
    shp = write_shapefile(tmp_path, "roads")
    (tmp_path / "roads.shx").unlink()
    run = cli(worker, "add", str(shp), "--target", "maps")
    assert run.returncode != 0
    assert "roads.shx" in run.stderr and "Shapefile set incomplete" in run.stderr
    assert double.posts() == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_kill9_while_processing_follows_the_same_import(
    make_worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    from tests.fixtures.worker import FAST_SETTINGS

    api = make_worker.start()
    make_worker.settings(**FAST_SETTINGS)
    double = make_geonode(mode, step_seconds=0.05)
    double.hold()
    add_target(make_worker, double)
    [upload_id] = api.add_uploads([str(write_shapefile(tmp_path, "roads"))], "maps")["ids"]
    wait_for(lambda: row(make_worker, upload_id)["status"] == "processing", 30, "processing")
    wait_for(lambda: [e.status for e in double.executions()] == ["running"], 30, "running")
    # GeoNode's step, as the window, ls and show tell it
    percent = 80 if mode == "legacy" else 25  # legacy: the Upload's own progress
    wait_for(
        lambda: (
            (r := row(make_worker, upload_id))["processing_progress"] == percent
            and r["processing_message"] == "GeoNode is importing the data"
        ),
        30,
        "the step",
    )
    listed = cli(make_worker, "ls").stdout
    assert f"Processing {percent} %: GeoNode is importing the data" in listed
    make_worker.kill9()
    make_worker.start()
    double.release()
    done = wait_for(
        lambda: (r := row(make_worker, upload_id))["status"] == "done" and r,
        60,
        "done after the restart",
    )
    assert done["result_url"] == link_of(double, "roads.shp")
    assert len(double.posts()) == 1 and len(double.executions()) == 1


@pytest.mark.parametrize("mode", ALL_MODES)
def test_kill9_during_the_post_sends_again_and_says_a_partial_import_may_exist(
    make_worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    from tests.fixtures.worker import FAST_SETTINGS

    api = make_worker.start()
    make_worker.settings(**FAST_SETTINGS, bandwidth_limit=300_000)
    double = make_geonode(mode, step_seconds=0.05)
    add_target(make_worker, double)
    shp = write_shapefile(tmp_path, "big", points=60_000)  # ~2.2 MB: ~7 s at the limit
    [upload_id] = api.add_uploads([str(shp)], "maps")["ids"]
    wait_for(
        lambda: (
            (r := row(make_worker, upload_id))["status"] == "uploading" and r["offset"] > 300_000
        ),
        30,
        "the POST under way",
    )
    make_worker.kill9()
    api = make_worker.start()
    make_worker.settings(bandwidth_limit=0)
    done = wait_for(
        lambda: (r := row(make_worker, upload_id))["status"] == "done" and r,
        90,
        "done after the restart",
    )
    assert done["result_url"] == link_of(double, "big.shp")
    posts = double.posts()
    assert [p.complete for p in posts] == [False, True]
    assert len(double.executions()) == 1
    events = api.upload(upload_id)["events"]
    assert any("second, partial import" in (e["message"] or "") for e in events), events


@pytest.mark.parametrize("mode", ALL_MODES)
def test_wrong_credentials_fail_with_what_to_check(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode)
    add_target(worker, double, secret="not-the-password")
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads([str(write_geotiff(tmp_path))], "maps")["ids"]
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed"
    assert failed["error_title"] == "GeoNode rejected the credentials"
    assert "Check the target's user name and password" in failed["error_message"]
    assert double.executions() == []
    tested = worker.api.test_target(worker.api.find_target("maps")["id"])
    assert not tested["ok"] and tested["title"] == "GeoNode rejected the credentials"


def test_a_lockdown_site_asks_for_a_login(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", lockdown=True)
    add_target(worker, double, secret="not-the-password")
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads([str(write_geotiff(tmp_path))], "maps")["ids"]
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed"
    assert failed["error_title"] == "GeoNode asked for a login"
    assert "GeoNode asked for a login: check the credentials" in failed["error_message"]
    assert double.executions() == []


def test_connection_test_through_the_api(worker: WorkerProcess, make_geonode: Any) -> None:
    double = make_geonode("4.4", upload_size=20_000_000, max_parallel=4)
    target = add_target(worker, double)
    assert worker.api is not None
    tested = worker.api.test_target(target["id"])
    assert tested["ok"], tested
    assert "GeoNode 4.4" in tested["message"] and "datasets up to 20 MB" in tested["message"]
    assert "4 imports at a time" in tested["message"]


def test_a_watched_folder_of_20_sets_publishes_each_once(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    # GeoNode takes 2 imports at a time per user, the worker runs 3 uploads: some wait their turn
    double = make_geonode("5.1", step_seconds=0.05, max_parallel=2)
    add_target(worker, double)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert worker.api is not None
    watch = worker.api.add_watch(path=str(inbox), target="maps", settle_seconds=0.3)
    wait_for(lambda: worker.api.watch(watch["id"])["state"] == "watching", 15, "the watch")
    staging = tmp_path / "staging"
    for number in range(20):
        write_shapefile(staging, f"parcel_{number:02}")
    (staging / "parcel_07.prj").write_text("LOCAL_CS[nothing]")  # one GeoNode cannot place
    # GeoNode's imports stay running, but one, until an upload has been told to wait its turn:
    # the runner freed by that one finds two imports running (the limit), for sure, not only
    # when the timing happens to give it.
    double.hold()
    for path in sorted(staging.iterdir()):
        path.rename(inbox / path.name)

    def running() -> list[str]:
        names = [e.name for e in double.executions() if e.status == "running"]
        return names if len(names) >= 3 else []

    def waited() -> list[int]:
        return [
            u["id"]
            for u in worker.api.uploads()["uploads"]
            if any(
                "GeoNode is busy" in (e["title"] or "")
                for e in worker.api.upload(u["id"])["events"]
            )
        ]

    # Three runners may post before GeoNode counts any import (it counts an import's layers once
    # it runs): then all three run and none waits, until one of them ends.
    seen = wait_for(
        lambda: waited() or running(), 60, "three imports running, or one told to wait", 0.3
    )
    if not isinstance(seen[0], int):
        double.let_through(seen[0])
        wait_for(waited, 60, "an upload to wait for GeoNode's parallel-import limit", 0.3)
    assert all(u["status"] != "failed" for u in worker.api.uploads()["uploads"])
    double.release()

    def batch_done() -> dict[str, Any] | None:
        batches = worker.api.batches(watch_id=watch["id"])["batches"]
        return next((b for b in batches if b["state"] != "open"), None)

    batch = wait_for(batch_done, 120, "the batch to finish")
    names = sorted(e.name for e in double.executions())
    assert names == [f"parcel_{n:02}.shp" for n in range(20)]  # each exactly once
    assert (batch["total"], batch["done"], batch["failed"]) == (20, 19, 1)
    with open(batch["manifest_path"], newline="", encoding="utf-8") as f:
        manifest = {r["file"]: r for r in csv.DictReader(f)}
    ok = manifest[str(inbox / "parcel_03.shp")]
    assert ok["result_url"] == link_of(double, "parcel_03.shp")
    bad = manifest[str(inbox / "parcel_07.shp")]
    assert bad["status"] == "failed" and "is not correctly set" in bad["reason"]
    events = worker.api.batch(batch["id"])["events"]
    finished = next(e for e in events if e["title"] == "Batch finished with failures")
    assert "19 of 20 datasets published, 1 failed: parcel_07.shp" in finished["message"]


def test_cli_adds_a_geonode_target_with_an_api_key_and_tests_it(
    worker: WorkerProcess, make_geonode: Any, upqueue_home: Path
) -> None:
    double = make_geonode("5.1", apikey=True)
    env = dict(os.environ, UPQUEUE_HOME=str(worker.home))
    added = subprocess.run(
        [
            sys.executable,
            str(MAIN),
            "target",
            "add",
            "maps",
            "--url",
            double.url,
            "--protocol",
            "geonode",
            "--api-key-stdin",
            "--option",
            "version=5",
        ],
        input="alice-token\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    [target] = json.loads(cli(worker, "target", "ls", "--json").stdout)
    assert (target["protocol"], target["auth_kind"], target["has_secret"]) == (
        "geonode",
        "bearer",
        True,
    )
    assert target["options"] == {"version": "5", "apikey": "true"}
    tested = cli(worker, "target", "test", "maps")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Connection works: GeoNode 5.x" in tested.stdout
    assert b"alice-token" not in (upqueue_home / "state.db").read_bytes()
    # a password instead: the API-key option goes with the old credentials
    edited = subprocess.run(
        [
            sys.executable,
            str(MAIN),
            "target",
            "edit",
            "maps",
            "--username",
            "alice",
            "--password-stdin",
        ],
        input="alice-pass\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert edited.returncode == 0, edited.stderr
    [target] = json.loads(cli(worker, "target", "ls", "--json").stdout)
    assert target["auth_kind"] == "basic" and target["options"] == {"version": "5"}
    assert cli(worker, "target", "test", "maps").returncode == 0


def test_the_sites_size_limit_is_a_clear_failure(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.0", upload_size=2000)
    add_target(worker, double)
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads(
        [str(write_shapefile(tmp_path, "roads", points=200))], "maps"
    )["ids"]
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed"
    assert failed["error_title"] == "Dataset too big for this GeoNode"
    assert "takes at most 2 kB per dataset" in failed["error_message"]
    assert double.posts() == []  # refused before a byte was sent


def test_a_site_down_while_importing_then_retry_follows_the_same_import(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", step_seconds=0.05)
    double.hold()
    add_target(worker, double)
    worker.settings(retry_limit=2)
    assert worker.api is not None
    [upload_id] = worker.api.add_uploads([str(write_geotiff(tmp_path))], "maps")["ids"]
    wait_for(lambda: row(worker, upload_id)["status"] == "processing", 30, "processing")
    double.unavailable = True  # every poll answers 503 until the worker gives up asking
    failed = ended(worker, upload_id)
    assert failed["status"] == "failed" and "gave up after" in failed["error_message"]
    double.unavailable = False
    double.release()
    worker.api.action(upload_id, "retry")
    done = wait_for(lambda: (r := row(worker, upload_id))["status"] == "done" and r, 60, "done")
    assert done["result_url"] == link_of(double, "elevation.tif")
    assert len(double.posts()) == 1 and len(double.executions()) == 1  # imported once
