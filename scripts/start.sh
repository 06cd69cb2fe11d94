#!/usr/bin/env bash
# First command of the README: install into ./.venv, build the demo data on the embedded
# default database (<checkout>/var/sohoa.db, no server) and start the console.
# Options go to `sohoa demo`: --port N (the console, default 5006), --pki-port N (the demo
# PKI's CRL/OCSP/TSA responder, default 8790), the scale options (--help). A busy port is a
# one-line error naming its setting (console_port, pki_port; SOHOA_CONSOLE_PORT, SOHOA_PKI_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/sohoa demo "$@"
