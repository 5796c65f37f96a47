"""The window with the real worker and the GeoNode double: the target form's GeoNode fields, a
dropped .shp going up with its sidecars, the link, and the notifications a GIS analyst gets."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QLabel

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from upqueue.gui.tray import NotificationPolicy

from tests.fixtures.gui import drop
from tests.geonode_double.data import write_shapefile

pytestmark = [pytest.mark.slow, pytest.mark.qt_log_ignore("^This plugin does not support")]
FAST = {"poll_seconds": "0.1", "busy_wait_seconds": "0.5"}


def test_the_target_form_offers_geonodes_fields_and_tests_for_real(
    qtbot: Any, worker: Any, make_geonode: Any, make_window: Any
) -> None:
    double = make_geonode("4.4")
    window = make_window(worker.api)
    window.commands["targets"].trigger()
    dialog = window.dialog_host.dialogs["targets"]
    dialog.name.setText("maps")
    dialog.protocol.setCurrentIndex(dialog.protocol.findData("geonode"))
    assert "site's root" in dialog.url.placeholderText()
    version = dialog.findChild(type(dialog.protocol), "target-option-version")
    assert version is not None and version.findData("legacy") >= 0
    assert dialog.option_widgets["apikey"].findData("true") >= 0
    assert "Token is an API key:" in [label.text() for label in dialog.findChildren(QLabel)]
    dialog.url.setText(double.url)
    dialog.auth.setCurrentIndex(dialog.auth.findData("basic"))
    dialog.username.setText("alice")
    dialog.secret.setText("alice-pass")
    version.setCurrentIndex(version.findData("4.4"))
    dialog.test_button.click()
    qtbot.waitUntil(lambda: "Connection works" in dialog.result_text(), timeout=20_000)
    assert "GeoNode 4.4" in dialog.result_text()
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(worker.api.targets()["targets"]), timeout=10_000)
    saved = worker.api.targets()["targets"][0]
    assert saved["protocol"] == "geonode" and saved["options"] == {"version": "4.4"}
    # back to tus: its form has no GeoNode options
    dialog.protocol.setCurrentIndex(dialog.protocol.findData("tus"))
    assert dialog.option_widgets == {}
    dialog.close()


def test_a_dropped_shp_goes_with_its_sidecars_and_tells_where_it_is_published(
    qtbot: Any, worker: Any, make_geonode: Any, make_window: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", step_seconds=0.3)
    worker.api.add_target(
        name="maps",
        url=double.url,
        protocol="geonode",
        auth_kind="basic",
        username="alice",
        secret="alice-pass",
        options=FAST,
    )
    shp = write_shapefile(tmp_path, "roads")
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    drop(window.view.viewport(), [shp])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    upload_id = window.model.uploads()[0].id
    assert (window.model.upload(upload_id) or {})["name"] == "roads.shp + 4 files"
    qtbot.waitUntil(
        lambda: (window.model.upload(upload_id) or {}).get("status") == "done", timeout=60_000
    )
    [execution] = double.executions()
    link = f"{double.url}catalogue/#/dataset/{execution.output_params['resources'][0]['id']}"
    assert (window.model.upload(upload_id) or {})["result_url"] == link
    qtbot.waitUntil(
        lambda: any(n[0] == "Finished: roads.shp + 4 files" for n in window.tray.notifications),
        timeout=10_000,
    )
    note = next(n for n in window.tray.notifications if n[0].startswith("Finished"))
    assert link in note[1] and note[2] is False

    # the link opens from the queue (menu, context menu, Ctrl+L)
    opened: list[str] = []
    window.prompts.open_url = lambda url: opened.append(url.toString())
    window.view.select_ids([upload_id])
    qtbot.waitUntil(lambda: window.commands["open_link"].isEnabled(), timeout=5000)
    window.commands["open_link"].trigger()
    assert opened == [link]

    from upqueue.gui.details_dialog import DetailsDialog

    details = DetailsDialog(lambda fn, done, error=None: done(fn(worker.api)), upload_id)
    qtbot.addWidget(details)
    details.refresh()
    qtbot.waitUntil(lambda: link in details.fields["result_url"].text(), timeout=10_000)
    label = details.fields["result_url"]
    assert label.openExternalLinks() and f'href="{link}"' in label.text()
    assert label.textFormat() == Qt.TextFormat.RichText
    assert (
        details.fields["path"]
        .text()
        .endswith("roads.shp\nwith roads.shx, roads.dbf, roads.prj, roads.cpg")
    ), "the dataset's files are named"


def test_a_watched_folders_batch_is_told_once_with_every_reason(
    qtbot: Any, worker: Any, make_geonode: Any, make_window: Any, tmp_path: Path
) -> None:
    double = make_geonode("5.1", step_seconds=0.3)
    worker.api.add_target(
        name="maps",
        url=double.url,
        protocol="geonode",
        auth_kind="basic",
        username="alice",
        secret="alice-pass",
        options=FAST,
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    window = make_window(worker.api)
    qtbot.waitUntil(lambda: window.current_target() is not None, timeout=10_000)
    watch = worker.api.add_watch(path=str(inbox), target="maps", settle_seconds=0.3)
    qtbot.waitUntil(lambda: worker.api.watch(watch["id"])["state"] == "watching", timeout=15_000)
    staging = tmp_path / "staging"
    for name in ("roads", "rivers", "wells"):
        write_shapefile(staging, name)
    (staging / "wells.prj").write_text("LOCAL_CS[nothing]")
    for path in sorted(staging.iterdir()):
        path.rename(inbox / path.name)
    qtbot.waitUntil(
        lambda: any(n[0] == "Batch finished with failures" for n in window.tray.notifications),
        timeout=60_000,
    )
    [note] = [n for n in window.tray.notifications if n[0].startswith("Batch")]
    assert "2 of 3 datasets published, 1 failed: wells.shp:" in note[1]
    assert "is not correctly set" in note[1] and note[2] is True
    assert len(double.executions()) == 3


def test_notification_policy_for_processed_uploads_and_batches() -> None:
    policy = NotificationPolicy()
    uploads = {
        1: {"name": "roads.shp + 4 files", "result_url": "http://maps/ds/1", "batch_id": 7},
        2: {"name": "x.bin", "result_url": "http://t/f/2"},
    }
    notes = policy.on_transitions([(1, "processing", "done"), (2, "uploading", "done")], uploads)
    assert notes == [
        (
            "Finished: roads.shp + 4 files",
            "The server finished processing it: http://maps/ds/1",
            False,
        )
    ]
    assert NotificationPolicy.batches_ending([(1, "processing", "done")], uploads) == {7}
    answer = {
        "batch": {"id": 7, "state": "finished", "total": 1, "done": 1, "failed": 0},
        "events": [
            {
                "kind": "batch",
                "status": "finished",
                "title": "Batch published",
                "message": "Batch 7 from /in: 1 of 1 datasets published. Manifest: m",
            }
        ],
    }
    assert policy.on_batch({"batch": {"id": 7, "state": "open"}}) == []
    assert policy.on_batch(answer) == [
        ("Batch published", "Batch 7 from /in: 1 of 1 datasets published.", False)
    ]
    assert policy.on_batch(answer) == []  # once
