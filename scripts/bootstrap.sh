#!/usr/bin/env bash
# Create .venv/ and install the pinned requirements and the `srs` command into it.
# Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi
# uv resolves nothing here: both locks are fully pinned (`make lock` regenerates them). Runtime
# (requirements.txt, all the Docker image gets) and the test and development tools on top of it.
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.txt -r requirements-dev.txt
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
# Byte-compile once: with PYTHONDONTWRITEBYTECODE set (as on our machines) every process would
# otherwise recompile Airflow and Great Expectations on import (seconds each time).
.venv/bin/python -m compileall -q -j 2 .venv/lib/python3.11/site-packages >/dev/null 2>&1 || true
