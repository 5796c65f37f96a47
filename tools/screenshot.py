"""Render the main window with a realistic queue to docs/screenshot.png (offscreen or under Xvfb).

The window is the real one; only its data comes from a small in-process stand-in for the
control API, holding a queue in mixed states: uploading with progress, queued, paused,
retrying, failed with a reason, done and cancelled.

Usage: ``.venv/bin/python tools/screenshot.py [--out docs/screenshot.png] [--dark]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

GB, MB = 1_000_000_000, 1_000_000
NOW = datetime.now(UTC)

# name, target, size, status, sent fraction, speed (B/s), error title, error message
QUEUE: list[tuple[str, str, int, str, float, float, str | None, str | None]] = [
    ("parcels_2026_q3.gpkg", "geonode", int(1.84 * GB), "uploading", 0.62, 24.3 * MB, None, None),
    (
        "orthophoto_tile_0412.tif",
        "geonode",
        int(0.742 * GB),
        "uploading",
        0.18,
        11.2 * MB,
        None,
        None,
    ),
    ("slide_scan_A-0193.svs", "lab-tus", int(3.1 * GB), "uploading", 0.043, 8.6 * MB, None, None),
    (
        "flood_model_run12.nc",
        "lab-tus",
        int(5.6 * GB),
        "retrying",
        0.71,
        0.0,
        "Server busy",
        "503 Service Unavailable while sending data. The server asked to wait 30 s. It will be retried.",
    ),
    ("survey_export_north.csv", "geonode", int(12.4 * MB), "queued", 0.0, 0.0, None, None),
    ("lidar_block_07.laz", "geonode", int(2.21 * GB), "queued", 0.0, 0.0, None, None),
    ("lidar_block_08.laz", "geonode", int(2.08 * GB), "queued", 0.0, 0.0, None, None),
    ("lidar_block_09.laz", "geonode", int(2.15 * GB), "queued", 0.0, 0.0, None, None),
    ("lidar_block_10.laz", "geonode", int(1.97 * GB), "queued", 0.0, 0.0, None, None),
    ("field_photos_day3.zip", "lab-tus", int(1.13 * GB), "paused", 0.35, 0.0, None, None),
    (
        "census_blocks_2020.gpkg",
        "geonode",
        int(0.41 * GB),
        "failed",
        0.0,
        0.0,
        "Server refused the file",
        "413 Payload Too Large — the server accepts at most 256 MB",
    ),
    (
        "soil_samples_2026.xlsx",
        "lab-tus",
        int(2.3 * MB),
        "failed",
        0.4,
        0.0,
        "File changed",
        (
            "soil_samples_2026.xlsx changed while it was uploading (size 2.3 MB → 2.4 MB). "
            "Retry to send the new version."
        ),
    ),
    ("dem_30m_mosaic.tif", "geonode", int(4.4 * GB), "done", 1.0, 0.0, None, None),
    ("boundaries_admin2.geojson", "geonode", int(24.1 * MB), "done", 1.0, 0.0, None, None),
    ("slide_scan_A-0192.svs", "lab-tus", int(2.9 * GB), "done", 1.0, 0.0, None, None),
    ("slide_scan_A-0191.svs", "lab-tus", int(3.0 * GB), "done", 1.0, 0.0, None, None),
    ("metadata_catalogue.xml", "geonode", int(0.18 * MB), "done", 1.0, 0.0, None, None),
    ("old_export_march.zip", "geonode", int(0.63 * GB), "cancelled", 0.22, 0.0, None, None),
    ("roads_network.shp", "geonode", int(88 * MB), "done", 1.0, 0.0, None, None),
    ("water_bodies.gpkg", "geonode", int(156 * MB), "done", 1.0, 0.0, None, None),
]
TARGETS = [
    {
        "id": 1,
        "name": "geonode",
        "url": "https://maps.example.org/upload/files/",
        "protocol": "tus",
    },
    {"id": 2, "name": "lab-tus", "url": "https://scans.example.org/files/", "protocol": "tus"},
]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DemoApi:
    """Answers the window's read calls with the queue above."""

    def __init__(self) -> None:
        self.rows = []
        start = NOW - timedelta(hours=4)
        for number, (name, target, size, status, sent, speed, title, message) in enumerate(
            QUEUE, 1
        ):
            folder = (
                "/home/ana/Projects/survey-2026" if target == "geonode" else "/data/scans/batch-14"
            )
            self.rows.append(
                {
                    "id": number,
                    "target_id": 1 if target == "geonode" else 2,
                    "target_name": target,
                    "path": f"{folder}/{name}",
                    "name": name,
                    "size": size,
                    "offset": int(size * sent),
                    "status": status,
                    "speed": speed,
                    "result_url": f"https://maps.example.org/upload/files/{number:04x}c0ffee"
                    if sent
                    else None,
                    "error_title": title,
                    "error_message": message,
                    "attempts": 3 if title else 0,
                    "next_attempt_at": time.time() + 12 if status == "retrying" else None,
                    "created_at": iso(start + timedelta(minutes=11 * number)),
                    "started_at": None,
                    "finished_at": None,
                    "updated_at": iso(NOW),
                    "change_seq": number,
                    "batch_id": None,
                    "watch_id": None,
                }
            )

    def uploads(self, since: int | None = None, **_: Any) -> dict[str, Any]:
        rows = self.rows if since is None else []
        return {"seq": len(self.rows), "uploads": rows, "removed": [], "total": len(rows)}

    def stats(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        speed = sum(r["speed"] for r in self.rows if r["status"] == "uploading")
        active = sum(counts.get(s, 0) for s in ("queued", "uploading", "retrying", "processing"))
        return {"counts": counts, "speed": speed, "active": active, "seq": len(self.rows)}

    def targets(self) -> dict[str, Any]:
        return {"targets": TARGETS}

    def settings(self) -> dict[str, Any]:
        return {"settings": {"notifications": False, "keep_uploading_on_close": True}, "help": {}}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, colour in {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#1f2023",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2b2c2f",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#2f7fe8",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2b2c2f",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
    }.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6b6e73"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b6e73"))
    return palette


def wait(app: QApplication, ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--dark", action="store_true", help="render with a dark palette")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    # A fresh data directory: no remembered window layout from a real session.
    os.environ["UPQUEUE_HOME"] = tempfile.mkdtemp(prefix="upqueue-shot-")

    from upqueue.gui.app import make_application

    app = make_application([sys.argv[0]])
    app.setStyle(QStyleFactory.create("Fusion"))
    if args.dark:
        app.setPalette(dark_palette())
    from upqueue.gui.main_window import MainWindow

    api = DemoApi()
    window = MainWindow(connect=lambda _start: api, start=False)
    window.resize(args.width, args.height)
    window.show()
    window.supervisor.start()
    deadline = time.monotonic() + 10
    while not (window.loaded and window.targets_loaded and window.sidebar.count("all")):
        if time.monotonic() > deadline:
            print("the window did not load its queue", file=sys.stderr)
            return 1
        wait(app, 20)
    window.poller.stop()  # a still picture: no more polls
    window.view.select_ids([10])  # the paused upload: its actions light up in the toolbar
    window.view.setFocus()
    window.statusBar().clearMessage()
    wait(app, 200)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = window.grab()
    if not image.save(str(out)):
        print(f"could not write {out}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({image.width()}x{image.height()})")
    window._quitting = True
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
