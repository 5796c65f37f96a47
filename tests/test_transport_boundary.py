"""The engine, the service, the API and the window know no protocol: tus lives in
core/transports/tus/ alone, behind the interface of core/transports/base.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Where no protocol may be named: everything in worker/ (engine, service, API, repository,
# watcher) and gui/ (the window), and the core modules they share with the CLI.
SCANNED = [
    *sorted((ROOT / "worker").rglob("*.py")),
    *sorted((ROOT / "gui").rglob("*.py")),
    *(
        ROOT / "core" / name
        for name in (
            "targets.py",
            "models.py",
            "watchrules.py",
            "store.py",
            "progress.py",
            "humanize.py",
        )
    ),
    *sorted((ROOT / "core").glob("api_client*.py")),
    *sorted((ROOT / "core").glob("cli*.py")),
]
# What only the tus transport may say: its columns of old, its headers, its client and calls.
TUS_NAMES = re.compile(
    r"remote_url|remote_expires|Upload-(Offset|Length|Metadata|Expires|Checksum)|Tus-\w+"
    r"|TusClient|ServerCaps|\bdiscover\(|\bTUS\b|\btus\b",
    re.IGNORECASE,
)


def offenders(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TUS_NAMES.search(line):
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{where}:{number}: {line.strip()}")
    return found


def test_no_tus_name_outside_the_tus_transport() -> None:
    assert len(SCANNED) > 40, "the scan must see the worker and the window"
    found = offenders(SCANNED)
    assert not found, "protocol-specific names outside core/transports/tus/:\n" + "\n".join(found)


def test_the_scan_sees_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "engine.py"
    sample.write_text(
        'url = row["remote_url"]\nclient = TusClient()\nh = "Upload-Offset"\n'
        'caps = c.discover(url)\nlabel = "tus 1.0"\nok = "status"\n'
    )
    assert len(offenders([sample])) == 5  # "status" is not "tus"


def test_every_tus_name_is_in_the_tus_transport() -> None:
    tus = ROOT / "core" / "transports" / "tus"
    text = "\n".join(p.read_text(encoding="utf-8") for p in tus.glob("*.py"))
    for name in ("TusClient", "Upload-Offset", "Tus-Resumable", "discover("):
        assert name in text
