"""Which system libraries Qt's platform plugins need and this machine lacks, read from the
plugins themselves (``ldd``), and the Debian/Ubuntu packages that hold them.

    python scripts/qt_libs.py             the missing libraries (sonames), one a line
    python scripts/qt_libs.py --packages  their packages, checked against apt-cache when it has
                                          package lists (run ``apt-get update`` first)

Run with the Python that has PySide6 installed. No hand-kept list of libraries: ``ldd`` on the
xcb and offscreen plugins and on QtWidgets gives every library they load, with "not found" for
each one missing. Package names follow Debian's naming policy for shared libraries (soname
``libfoo-bar.so.1`` -> package ``libfoo-bar1``; a name ending in a digit takes a dash:
``libdbus-1.so.3`` -> ``libdbus-1-3``), with the few exceptions below, and the ``t64`` names of
Debian 13 / Ubuntu 24.04 where apt-cache knows them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

# Packages whose names do not follow from the soname.
EXCEPTIONS = {
    "libglib-2.0": "libglib2.0-0",
    "libgobject-2.0": "libglib2.0-0",
    "libgio-2.0": "libglib2.0-0",
    "libgmodule-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def qt_binaries() -> list[Path]:
    """The plugins a window or the tests load, and QtWidgets (which the plugins do not link)."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    candidates = [
        qt / "plugins" / "platforms" / "libqxcb.so",
        qt / "plugins" / "platforms" / "libqoffscreen.so",
        qt / "lib" / "libQt6Widgets.so.6",
    ]
    return [path for path in candidates if path.exists()]


def missing_sonames(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` printed as "not found", once each, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def debian_package(soname: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4`` (Debian's shared library package names)."""
    base, _, version = soname.partition(".so")
    base = base.lower()
    if base in EXCEPTIONS:
        return EXCEPTIONS[base]
    major = version.lstrip(".").split(".")[0]
    if not major:
        return base
    return f"{base}{'-' if base[-1].isdigit() else ''}{major}"


def _apt_knows(package: str) -> bool:
    if shutil.which("apt-cache") is None:
        return False
    shown = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.returncode == 0 and "Package:" in shown.stdout


def packages_for(sonames: list[str]) -> list[str]:
    names = []
    for soname in sonames:
        name = debian_package(soname)
        if not _apt_knows(name) and _apt_knows(name + "t64"):
            name += "t64"
        names.append(name)
    return list(dict.fromkeys(names))


def main(argv: list[str]) -> int:
    if shutil.which("ldd") is None:
        return 0  # not Linux with glibc: nothing to read
    output = ""
    for binary in qt_binaries():
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        output += result.stdout
    missing = missing_sonames(output)
    for line in packages_for(missing) if "--packages" in argv else missing:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
