"""Following a server's processing does not hold a transfer slot: with one transfer at a time,
a second dataset goes up while the first is still being imported, and a tus upload is not held
back by imports either. The real worker process, the GeoNode double, the real @tus/server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures.worker import WorkerProcess, wait_for
from tests.geonode_double.data import write_geotiff, write_shapefile
from tests.test_geonode_worker import add_target


def status(worker: WorkerProcess, upload_id: int) -> str:
    assert worker.api is not None
    return str(worker.api.upload(upload_id)["upload"]["status"])


def test_a_long_import_does_not_hold_the_only_transfer_slot(
    worker: WorkerProcess, make_geonode: Any, tus_server: Any, tmp_path: Path
) -> None:
    assert worker.api is not None
    worker.settings(concurrency=1)
    double = make_geonode("5.1", step_seconds=0.05)
    add_target(worker, double)
    worker.api.add_target(name="lab", url=tus_server.url)
    double.hold()  # GeoNode's imports stay running until released
    roads = worker.api.add_uploads([str(write_shapefile(tmp_path, "roads"))], "maps")["ids"][0]
    wait_for(lambda: status(worker, roads) == "processing", 30, "roads being imported")
    tif = worker.api.add_uploads([str(write_geotiff(tmp_path))], "maps")["ids"][0]
    wait_for(lambda: status(worker, tif) == "processing", 30, "the GeoTIFF sent meanwhile")
    data = tmp_path / "notes.bin"
    data.write_bytes(b"n" * 100_000)
    note = worker.api.add_uploads([str(data)], "lab")["ids"][0]
    wait_for(lambda: status(worker, note) == "done", 30, "the tus upload beside the imports")
    assert status(worker, roads) == "processing", "still being imported: it held no slot"
    assert sorted(e.name for e in double.executions()) == ["elevation.tif", "roads.shp"]
    double.release()
    for upload_id in (roads, tif):
        wait_for(lambda i=upload_id: status(worker, i) == "done", 30, "each import's end")


def test_pausing_an_upload_being_followed_stops_following_and_resume_follows_again(
    worker: WorkerProcess, make_geonode: Any, tmp_path: Path
) -> None:
    assert worker.api is not None
    double = make_geonode("5.1", step_seconds=0.05)
    add_target(worker, double)
    double.hold()
    roads = worker.api.add_uploads([str(write_shapefile(tmp_path, "roads"))], "maps")["ids"][0]
    wait_for(lambda: status(worker, roads) == "processing", 30, "roads being imported")
    worker.api.action(roads, "pause")
    wait_for(lambda: status(worker, roads) == "paused", 15, "the pause of a followed upload")
    double.release()
    worker.api.action(roads, "resume")
    wait_for(lambda: status(worker, roads) == "done", 30, "followed again to its end")
    assert len(double.executions()) == 1, "following again, not importing again"
