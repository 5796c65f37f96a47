"""The GeoNode transport against the GeoNode double, in every mode (5.1, 5.0, 4.4, legacy).

Transport level: the engine's hooks are a recorder here; the end-to-end tests through the real
worker are in test_geonode_worker.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from upqueue.core import datasets
from upqueue.core.errors import ErrorKind, TransferError, TransferStopped
from upqueue.core.filereader import fingerprint
from upqueue.core.transports.base import (
    Capabilities,
    NotSupported,
    RemoteState,
    UploadFile,
    UploadJob,
)
from upqueue.core.transports.geonode import GeoNodeTransport

from tests.fixtures.geonode import ALL_MODES
from tests.geonode_double import GeoNodeDouble
from tests.geonode_double.data import write_geotiff, write_shapefile, write_zipped_shapefile

SETTINGS = {"connect_timeout": 3.0, "stall_timeout": 5.0, "read_timeout": 10.0}
API = {"5.1": "5", "5.0": "5", "4.4": "4.4", "legacy": "legacy"}


class Hooks:
    """Records what a transport reports; ``stop_after`` blocks, check_stop raises."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.blocks = 0
        self.states: list[RemoteState | None] = []
        self.events: list[tuple[str, str]] = []
        self.progress: list[int] = []
        self.processing: list[tuple[float | None, str | None]] = []

    def check_stop(self) -> None:
        self.blocks += 1
        if self.stop_after is not None and self.blocks > self.stop_after:
            raise TransferStopped("pause")

    def throttle(self, nbytes: int) -> None:
        pass

    def on_progress(self, offset: int) -> None:
        self.progress.append(offset)

    def on_remote_state(self, state: RemoteState | None, result_url: str | None = None) -> None:
        self.states.append(state)

    def on_event(self, kind: str, message: str) -> None:
        self.events.append((kind, message))

    def on_processing(self, progress: float | None, message: str | None) -> None:
        self.processing.append((progress, message))

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)  # the transport's poll interval (0.05 s here), not a test's wait


def transport(
    double: GeoNodeDouble, *, auth: str = "basic", secret: str = "alice-pass", **options: Any
) -> GeoNodeTransport:
    target: dict[str, Any] = {
        "url": double.url,
        "protocol": "geonode",
        "auth_kind": auth,
        "username": "alice" if auth == "basic" else None,
        "options": {"poll_seconds": 0.05, **options},
    }
    return GeoNodeTransport(target, secret, SETTINGS)


def job_for(primary: Path, upload_id: int = 1) -> UploadJob:
    dataset = (
        datasets.find_members(str(primary))
        if datasets.is_shapefile(str(primary))
        else datasets.Dataset(str(primary), (str(primary),))
    )
    files = tuple(
        UploadFile(p, os.path.basename(p), fingerprint(p), "primary" if i == 0 else "member")
        for i, p in enumerate(dataset.members)
    )
    return UploadJob(upload_id, files[0].name, files)


def publish(t: GeoNodeTransport, job: UploadJob, hooks: Hooks | None = None) -> tuple[str, Hooks]:
    hooks = hooks or Hooks()
    sent = t.send(job, None, hooks)
    assert sent.processing
    processed = t.follow_processing(job, sent.remote_state, hooks)
    assert processed.result_url
    return processed.result_url, hooks


@pytest.mark.parametrize("mode", ALL_MODES)
def test_probe_finds_the_api_and_the_limits(make_geonode: Any, mode: str) -> None:
    double = make_geonode(mode, upload_size=5 << 20, max_parallel=3)
    caps = transport(double).probe()
    assert caps.details["api"] == API[mode]
    assert caps.processing and caps.datasets and not caps.resumable
    if mode != "legacy":
        assert caps.max_size == 5 << 20
        assert caps.details["max_parallel_uploads"] == 3


def test_version_option_overrides_the_probe(make_geonode: Any) -> None:
    double = make_geonode("4.4")
    caps = transport(double, version="5.1").probe()
    assert caps.details["api"] == "5"
    assert caps.details["version_from"] == "option"
    with pytest.raises(Exception, match="Unknown GeoNode version"):
        transport(double, version="3.9")


@pytest.mark.parametrize("mode", ALL_MODES)
def test_shapefile_set_published_with_its_page(
    make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    shp = write_shapefile(tmp_path, "roads", extras=("cpg", "xml", "sld"))
    job = job_for(shp)
    link, hooks = publish(transport(double), job)

    [execution] = double.executions()
    pk = execution.output_params["resources"][0]["id"]
    assert link == f"{double.url}catalogue/#/dataset/{pk}"
    [post] = double.posts()
    assert post.files == {
        "base_file": "roads.shp",
        "dbf_file": "roads.dbf",
        "shx_file": "roads.shx",
        "prj_file": "roads.prj",
        "cpg_file": "roads.cpg",
        "xml_file": "roads.xml",
        "sld_file": "roads.sld",
    }
    assert hooks.progress[-1] == job.size
    # the execution id reached the engine the moment GeoNode answered, before following
    ids = [s for s in hooks.states if s and (s.get("execution_id") or s.get("import_id"))]
    assert ids and ids[0]["api"] == API[mode]
    assert hooks.states[0] is not None and hooks.states[0]["phase"] == "posting"
    seen = [p for p, _ in hooks.processing if p is not None]
    assert seen == sorted(seen) and any(p > 0 for p in seen)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_geotiff_and_zip_published(make_geonode: Any, tmp_path: Path, mode: str) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    t = transport(double)
    link_tif, _ = publish(t, job_for(write_geotiff(tmp_path)), Hooks())
    link_zip, hooks = publish(t, job_for(write_zipped_shapefile(tmp_path, "parcels")), Hooks())
    assert link_tif != link_zip and link_zip.startswith(double.url)
    posts = double.posts()
    assert posts[0].files == {"base_file": "elevation.tif"}
    # GeoNode unzips only an archive that also arrives as zip_file
    assert posts[1].files == {"base_file": "parcels.zip", "zip_file": "parcels.zip"}
    assert hooks.progress[-1] == os.path.getsize(tmp_path / "parcels.zip")


def test_mixed_case_names_go_with_the_stem_geonode_matches(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", step_seconds=0.05)
    shp = write_shapefile(tmp_path, "Roads", upper_ext=True)  # Roads.SHP, Roads.DBF, ...
    link, _ = publish(transport(double), job_for(shp))
    assert link.startswith(double.url)
    assert double.posts()[0].files["dbf_file"] == "Roads.dbf"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_unreadable_projection_fails_with_geonodes_reason(
    make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    shp = write_shapefile(tmp_path, "rivers")
    (tmp_path / "rivers.prj").write_text("LOCAL_CS[unknown]")
    t, job = transport(double), job_for(shp)
    sent = t.send(job, None, Hooks())
    with pytest.raises(TransferError) as info:
        t.follow_processing(job, sent.remote_state, Hooks())
    assert info.value.kind == ErrorKind.PERMANENT
    assert (
        "GeoNode said: The SRID for the resource {'name': 'rivers', 'crs': None} is not "
        "correctly set, Please check Geoserver logs"
    ) in info.value.message
    assert "add a .prj next to the .shp and retry" in info.value.message


@pytest.mark.parametrize("mode", ALL_MODES)
def test_missing_projection_says_add_a_prj(make_geonode: Any, tmp_path: Path, mode: str) -> None:
    double = make_geonode(mode)
    shp = write_shapefile(tmp_path, "wells", prj=False)
    hooks = Hooks()
    with pytest.raises(TransferError) as info:
        transport(double).send(job_for(shp), None, hooks)
    assert info.value.kind == ErrorKind.PERMANENT
    assert "add a .prj next to the .shp and retry" in info.value.message
    assert not double.executions()
    if mode != "legacy":  # 4.1+ require prj_file: refused before a byte is sent
        assert double.posts() == []
    else:  # the legacy wizard takes it and stops at its srs step
        assert hooks.states[-1] is None


def test_injected_import_failure_is_given_verbatim(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.0", step_seconds=0.05)
    double.state.fail_names["lakes"] = "ogr2ogr: Unable to open datasource"
    job = job_for(write_shapefile(tmp_path, "lakes"))
    t = transport(double)
    sent = t.send(job, None, Hooks())
    with pytest.raises(TransferError, match="GeoNode said: ogr2ogr: Unable to open datasource"):
        t.follow_processing(job, sent.remote_state, Hooks())


@pytest.mark.parametrize(
    "mode,auth,secret,options",
    [
        ("5.1", "basic", "alice-pass", {}),
        ("5.0", "bearer", "alice-token", {}),
        ("4.4", "bearer", "alice-token", {}),
    ],
)
def test_auth_variants(
    make_geonode: Any, tmp_path: Path, mode: str, auth: str, secret: str, options: dict[str, Any]
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    link, _ = publish(
        transport(double, auth=auth, secret=secret, **options), job_for(write_geotiff(tmp_path))
    )
    assert link.startswith(double.url)


def test_api_key_goes_as_the_apikey_parameter(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.1", apikey=True, step_seconds=0.05)
    link, _ = publish(
        transport(double, auth="bearer", secret="alice-token", apikey=True),
        job_for(write_geotiff(tmp_path)),
    )
    assert link.startswith(double.url)
    plain = make_geonode("5.1", apikey=False)  # ENABLE_APIKEY_LOGIN off: the key is no login
    report = transport(plain, auth="bearer", secret="alice-token", apikey=True).test_connection()
    assert not report.ok and report.title == "GeoNode rejected the credentials"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_wrong_credentials_are_permanent(make_geonode: Any, tmp_path: Path, mode: str) -> None:
    double = make_geonode(mode)
    t = transport(double, version=API[mode], secret="wrong")
    with pytest.raises(TransferError) as info:
        t.send(job_for(write_geotiff(tmp_path)), None, Hooks())
    assert info.value.kind == ErrorKind.PERMANENT
    assert info.value.title == "GeoNode rejected the credentials"
    assert info.value.status in (401, 403)
    assert not double.executions()


@pytest.mark.parametrize("mode", ["5.1", "4.4", "legacy"])
def test_lockdown_login_redirect_is_never_success(
    make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, lockdown=True)
    t = transport(double, version=API[mode], secret="wrong")
    with pytest.raises(TransferError) as info:
        t.send(job_for(write_shapefile(tmp_path, "roads")), None, Hooks())
    assert info.value.title == "GeoNode asked for a login"
    assert "GeoNode asked for a login: check the credentials" in info.value.message
    assert not double.executions()
    report = transport(double, secret="wrong").test_connection()
    assert not report.ok and "check the credentials" in report.message


def test_size_limit_refused_before_sending_with_the_limit(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", upload_size=100)
    t = transport(double)
    job = job_for(write_geotiff(tmp_path))  # ~300 bytes of TIFF
    with pytest.raises(TransferError) as info:
        t.send(job, None, Hooks(), t.probe())
    assert info.value.kind == ErrorKind.PERMANENT
    assert "takes at most 100 bytes per dataset" in info.value.message
    assert double.posts() == []


@pytest.mark.parametrize("mode", ["5.0", "4.4"])
def test_size_limit_answered_by_the_server(make_geonode: Any, tmp_path: Path, mode: str) -> None:
    # a limit lowered after the probe: the server's own refusal (4.4: a 500 importer_exception)
    double = make_geonode(mode)
    t = transport(double)
    caps = t.probe()
    double.state.upload_size = 100
    with pytest.raises(TransferError) as info:
        t.send(job_for(write_geotiff(tmp_path)), None, Hooks(), caps)
    assert info.value.kind == ErrorKind.PERMANENT
    assert "Total upload size exceeds 100 bytes" in info.value.message


@pytest.mark.parametrize("mode", ["5.1", "4.4"])
def test_parallel_import_limit_means_wait(make_geonode: Any, tmp_path: Path, mode: str) -> None:
    double = make_geonode(mode, max_parallel=1, step_seconds=0.05)
    double.hold()
    t = transport(double, busy_wait_seconds=7)
    t.send(job_for(write_geotiff(tmp_path, "a.tif")), None, Hooks())
    # the first import counts once GeoNode has started it (total_layers set)
    deadline = time.monotonic() + 10
    while double.executions()[0].status != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    b = job_for(write_geotiff(tmp_path, "b.tif"))
    with pytest.raises(TransferError) as info:  # counted before sending: no second body
        t.send(b, None, Hooks())
    assert info.value.kind == ErrorKind.TRANSIENT and info.value.busy
    assert info.value.retry_after == 7
    assert "nothing failed" in info.value.message
    assert len(double.posts()) == 1
    # a server that refuses after the body (the count raced): GeoNode's words, still a wait
    with pytest.raises(TransferError) as info:
        t.send(b, None, Hooks(), Capabilities(resumable=False, details={"api": API[mode]}))
    assert info.value.kind == ErrorKind.TRANSIENT and info.value.busy
    assert (
        "The number of active parallel uploads exceeds 1. Wait for the pending ones to finish."
    ) in info.value.message
    double.release()


def test_51_refuses_bytes_that_are_not_a_shapefile(make_geonode: Any, tmp_path: Path) -> None:
    shp = write_shapefile(tmp_path, "fake")
    shp.write_text("this is not a shapefile")
    with pytest.raises(TransferError) as info:
        transport(make_geonode("5.1")).send(job_for(shp), None, Hooks())
    assert info.value.kind == ErrorKind.PERMANENT
    assert (
        "Detected content type 'text/plain' does not match extension '.shp'." in info.value.message
    )


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_stored_execution_is_followed_not_posted_again(
    make_geonode: Any, tmp_path: Path, mode: str
) -> None:
    double = make_geonode(mode, step_seconds=0.05)
    job = job_for(write_shapefile(tmp_path, "roads"))
    double.hold()
    sent = transport(double).send(job, None, Hooks())
    # a new worker (after kill -9) gets the stored state
    again = transport(double)
    resent = again.send(job, sent.remote_state, Hooks())
    assert resent.processing and resent.remote_state == sent.remote_state
    double.release()
    processed = again.follow_processing(job, resent.remote_state, Hooks())
    assert processed.result_url
    assert len(double.posts()) == 1 and len(double.executions()) == 1


def test_a_cut_off_post_is_sent_again_and_says_so(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.1", step_seconds=0.05)
    job = job_for(write_shapefile(tmp_path, "roads", points=40000))  # ~1.1 MB: several blocks
    t = transport(double)
    first = Hooks(stop_after=2)
    with pytest.raises(TransferStopped):
        t.send(job, None, first)
    posting = first.states[-1]
    assert posting is not None and posting["phase"] == "posting"
    hooks = Hooks()
    sent = t.send(job, posting, hooks)
    assert sent.processing
    assert any(k == "restarted" and "second, partial import" in m for k, m in hooks.events)
    assert len(double.executions()) == 1


def test_terminate_says_geonode_keeps_going(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.1")
    double.hold()
    sent = transport(double).send(job_for(write_geotiff(tmp_path)), None, Hooks())
    with pytest.raises(NotSupported):
        transport(double).terminate(sent.remote_state)
    transport(double).terminate({"protocol": "geonode", "api": "5", "phase": "posting"})


@pytest.mark.parametrize("mode", ALL_MODES)
def test_connection_test_for_real(make_geonode: Any, mode: str) -> None:
    double = make_geonode(mode, upload_size=50_000_000)
    report = transport(double).test_connection()
    assert report.ok, report.message
    assert f"GeoNode {'<= 4.0' if mode == 'legacy' else API[mode]}" in report.message
    if mode != "legacy":
        assert "datasets up to 50 MB" in report.message
        assert not double.executions()  # the empty form created nothing
    bad = transport(double, secret="wrong").test_connection()
    assert not bad.ok and bad.title == "GeoNode rejected the credentials"


def test_connection_test_says_when_the_account_may_not_add(make_geonode: Any) -> None:
    double = make_geonode("5.1")
    target = {
        "url": double.url,
        "protocol": "geonode",
        "auth_kind": "basic",
        "username": "viewer",
        "options": {},
    }
    report = GeoNodeTransport(target, "viewer-pass", SETTINGS).test_connection()
    assert not report.ok and report.title == "Not allowed to add datasets"


def test_not_a_geonode_site(make_geonode: Any, tus_server: Any) -> None:
    target = {"url": tus_server.url, "protocol": "geonode", "auth_kind": "none", "options": {}}
    report = GeoNodeTransport(target, None, SETTINGS).test_connection()
    assert not report.ok


def test_an_api_key_never_appears_in_an_error(make_geonode: Any, tmp_path: Path) -> None:
    double = make_geonode("5.1", apikey=True)
    url = double.url
    double.stop()  # nothing listens there any more: requests' error names the URL it tried
    target = {
        "url": url,
        "protocol": "geonode",
        "auth_kind": "bearer",
        "options": {"apikey": "true", "version": "5"},
    }
    t = GeoNodeTransport(target, "very-secret-key-123", SETTINGS)
    with pytest.raises(TransferError) as info:
        t.send(job_for(write_geotiff(tmp_path)), None, Hooks())
    assert info.value.kind == ErrorKind.TRANSIENT
    assert "very-secret-key-123" not in f"{info.value} {info.value.message} {info.value!r}"
    assert info.value.__cause__ is None and info.value.__context__ is not None


def test_a_lost_answer_is_found_on_geonode_not_imported_twice(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.0", step_seconds=0.05)
    double.lose_next_answer = True
    job = job_for(write_shapefile(tmp_path, "roads"))
    t = transport(double)
    first = Hooks()
    with pytest.raises(TransferError) as info:
        t.send(job, None, first)
    assert info.value.kind == ErrorKind.TRANSIENT  # no answer: the engine retries
    [execution] = double.executions()  # GeoNode did create the import
    hooks = Hooks()
    sent = t.send(job, first.states[-1], hooks)
    assert sent.remote_state["execution_id"] == execution.exec_id
    assert any(k == "resumed" for k, _ in hooks.events)
    assert t.follow_processing(job, sent.remote_state, hooks).result_url
    assert len(double.posts()) == 1 and len(double.executions()) == 1


def test_legacy_progress_endpoint(make_geonode: Any, tmp_path: Path) -> None:
    import requests

    double = make_geonode("legacy", step_seconds=0.05)
    double.hold()
    sent = transport(double).send(job_for(write_geotiff(tmp_path)), None, Hooks())
    url = f"{double.url}upload/progress"
    auth = ("alice", "alice-pass")
    import_id = str(sent.remote_state["import_id"])
    assert requests.get(url, params={"id": import_id}, auth=auth, timeout=5).json() == {
        "state": "NONE"
    }  # before upload/final


def test_djangos_html_400_for_a_far_too_big_body_is_a_clear_size_failure(
    make_geonode: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", upload_size=1000)
    job = job_for(write_shapefile(tmp_path, "big", points=80_000))  # ~2.9 MB
    with pytest.raises(TransferError) as info:  # no probe: the limit was unknown
        transport(double).send(
            job, None, Hooks(), Capabilities(resumable=False, details={"api": "5"})
        )
    assert info.value.kind == ErrorKind.PERMANENT
    assert info.value.title == "Dataset too big for this GeoNode"
    assert "Bad Request (400)" in info.value.message


def test_the_body_streams_from_the_files_in_blocks_with_a_content_length(
    make_geonode: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upqueue.core.transports.geonode import body as body_module

    double = make_geonode("5.0", step_seconds=0.05)
    tif = tmp_path / "ortho.tif"
    with open(tif, "wb") as f:  # 12 MB: a TIFF header, then zeros
        f.write(b"II*\x00" + b"\0" * (12 << 20))
    sizes: list[int] = []
    lengths: list[int] = []
    real_read = body_module.MultipartBody.read

    def recording_read(self: Any, n: int = -1) -> bytes:
        block = real_read(self, n)
        sizes.append(len(block))
        lengths.append(len(self))
        return block

    monkeypatch.setattr(body_module.MultipartBody, "read", recording_read)
    hooks = Hooks()
    transport(double).send(job_for(tif), None, hooks)
    assert max(sizes) <= body_module.BLOCK_SIZE  # never the whole file at once
    assert sum(sizes) == lengths[0] and len(sizes) > 12 * 4
    assert double.posts()[0].sizes["base_file"] == tif.stat().st_size
    assert hooks.blocks >= 12 * 4  # check_stop before every block
    assert hooks.progress == sorted(hooks.progress) and hooks.progress[-1] == tif.stat().st_size
