# Shared set-up for scripts/run and scripts/test (sourced, not run): a virtual environment in
# .venv with upqueue and the extras named in UPQUEUE_EXTRAS installed, reinstalled only when
# pyproject.toml changes.
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
stamp=".venv/.installed-${UPQUEUE_EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing upqueue and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  spec="."
  [ -n "${UPQUEUE_EXTRAS:-}" ] && spec=".[${UPQUEUE_EXTRAS}]"
  .venv/bin/python -m pip install --quiet -e "$spec"
  touch "$stamp"
fi

# Qt (even offscreen) loads these system libraries; a minimal Debian/Ubuntu may lack some.
missing_qt_libs() {
  command -v ldconfig >/dev/null 2>&1 || return 1
  local lib missing=""
  for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3 libglib-2.0.so.0; do
    ldconfig -p | grep -q "$lib" || missing="$missing $lib"
  done
  [ -n "$missing" ] && echo "$missing"
  return 0
}
libs=$(missing_qt_libs || true)
if [ -n "$libs" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "==> installing system libraries Qt needs:$libs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 >/dev/null
  else
    echo "warning: Qt may not start; missing system libraries:$libs (install libegl1 libgl1 libxkbcommon0 libfontconfig1)" >&2
  fi
fi
