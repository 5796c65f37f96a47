# Shared set-up for scripts/run and scripts/test (sourced, not run): a virtual environment in
# .venv with upqueue and all its extras installed, reinstalled only when pyproject.toml changes,
# and the system libraries Qt needs.
set -euo pipefail

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "upqueue needs Python 3.11 or newer; none was found (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

PY=$(find_python)
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
# One install serves scripts/run and scripts/test alike (every extra: test, dev, bench, build),
# so that running one after the other does not reinstall anything.
UPQUEUE_EXTRAS="test,dev,bench,build"
stamp=".venv/.installed-all"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing upqueue and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[${UPQUEUE_EXTRAS}]"
  touch "$stamp"
fi

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The system libraries Qt's platform plugins need, read from the plugins themselves (ldd's
# "not found" lines; see scripts/qt_libs.py), not from a hand-kept list.
missing_libs=$(.venv/bin/python scripts/qt_libs.py)
if [ -n "$missing_libs" ]; then
  if can_apt; then
    apt-get update -qq || echo "warning: apt-get update failed" >&2; apt_updated=1
    packages=$(.venv/bin/python scripts/qt_libs.py --packages)
    echo "==> installing the system libraries Qt needs:" $packages
    # shellcheck disable=SC2086 # one word per package
    apt_install $packages || echo "warning: could not install:" $packages >&2
    missing_libs=$(.venv/bin/python scripts/qt_libs.py)
  fi
  if [ -n "$missing_libs" ]; then
    echo "warning: the window may not start; Qt lacks:" $missing_libs >&2
    echo "  install: $(.venv/bin/python scripts/qt_libs.py --packages | tr '\n' ' ')" >&2
  fi
fi
