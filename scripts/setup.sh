#!/usr/bin/env bash
# Install everything the project needs, from nothing, on a Debian machine as root.
# Idempotent: a second run only checks. Creates ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

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

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch pinned first: a CPU wheel for this pin lies on disk here; an unpinned torch
# pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q 'torch==2.13.0'
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  .venv/bin/python -m pip install -q -e '.[all,dev]'
echo "setup: ok ($(.venv/bin/python --version))"
