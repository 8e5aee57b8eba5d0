#!/usr/bin/env bash
# Install everything the project needs, from nothing, on a Debian machine as root.
# Idempotent: a second run only checks. Creates ./.venv ($VENV overrides).
#
#   bash scripts/setup.sh                 # everything
#   VENV=/tmp/v bash scripts/setup.sh --llama-only   # only llama-cpp-python, built and checked
#
# llama-cpp-python is built from source for this CPU with AMX turned off (its AMX path
# crashes on the first decode on Sapphire Rapids and later), then checked: a build that
# reports AMX or a SIMD feature this CPU lacks (e.g. a wheel built on another machine and
# served from pip's cache), or that cannot be imported, is rebuilt without the wheel cache.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
LLAMA_ONLY=0
if [ "${1:-}" = "--llama-only" ]; then LLAMA_ONLY=1; fi
LLAMA_PIN='llama-cpp-python==0.3.36'  # keep equal to the `local` extra in pyproject.toml

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$@"
  else
    echo "setup: cannot install $* (no apt-get); install them and re-run" >&2
    exit 2
  fi
}

PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1 \
  || ! "$PY" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  apt_install python3 python3-venv python3-dev
  PY=python3
fi
# llama-cpp-python builds from source: it needs a C/C++ compiler (cmake comes from PyPI).
if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  apt_install build-essential
fi
# Desktop tests of `proactive assist` (tests/desktop.py): a virtual X server, a session bus,
# a notification daemon driven by dunstctl (its menu through a scripted dmenu), the clipboard.
if [ "$LLAMA_ONLY" = 0 ]; then
  for bin in Xvfb dunst dunstctl dbus-launch xclip; do
    if ! command -v "$bin" >/dev/null 2>&1; then
      apt_install xvfb xauth dbus-x11 dunst libnotify-bin xclip
      break
    fi
  done
  # The annotation app's browser tests (tests/test_annotate_browser.py) drive Debian's chromium.
  if ! command -v chromium >/dev/null 2>&1; then
    apt_install chromium
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip

# Native build (keeps AVX-512 where the CPU has it) minus AMX. GCC applies an explicit
# -mno-X even when -march=native (added later by ggml's CMake) would turn X on.
case "$(uname -m)" in
  x86_64 | amd64)
    NO_AMX='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'
    export CMAKE_ARGS="-DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'${CMAKE_ARGS:+ $CMAKE_ARGS}" ;;
esac
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"

if [ "$LLAMA_ONLY" = 1 ]; then
  "$VPY" -m pip install -q "$LLAMA_PIN"
else
  # torch pinned first: a CPU wheel for this pin lies on disk here; an unpinned torch
  # pulls a multi-GB CUDA build.
  "$VPY" -m pip install -q 'torch==2.13.0'
  "$VPY" -m pip install -q -e '.[all,dev]'
fi

# The check runs from ./src so it also works in a venv holding only llama-cpp-python.
llama_build_check() {
  PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$VPY" -m proactive.doctor --build-check
}
if ! llama_build_check; then
  echo "setup: rebuilding $LLAMA_PIN from source for this CPU (no wheel cache, ~8 min on 2 cores)" >&2
  # A cached wheel built elsewhere would come back in the next venv: drop it.
  "$VPY" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
  "$VPY" -m pip install -q --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "$LLAMA_PIN"
  if ! llama_build_check; then
    echo "setup: FAILED: llama-cpp-python still does not fit this CPU after a clean rebuild;" \
      "check CMAKE_ARGS ($CMAKE_ARGS) and the compiler (g++ --version)" >&2
    exit 3
  fi
fi
echo "setup: ok ($("$VPY" --version), venv $VENV)"
