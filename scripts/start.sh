#!/usr/bin/env bash
# First command of the README: install into ./.venv, build the demo data on the embedded
# default database (./var/sohoa.db, no server) and start the console.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/sohoa demo "$@"
