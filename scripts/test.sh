#!/usr/bin/env bash
# Second command of the README (and what CI runs): install the system packages the tests
# drive for real with apt (Debian or Ubuntu; root or sudo), only those missing: SoftHSM2 for
# the USB-token tests, DejaVu fonts for Vietnamese PDFs, openssl for the CMS interoperability
# test, Chromium for the browser tests, nginx for the reverse-proxy tests, postgresql-client
# (pg_dump, pg_restore) for the backup and restore drill;
# install the development dependencies into ./.venv and run the whole test suite,
# PostgreSQL tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

need=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the browser tests drive Debian's Chromium (never playwright install)
[ -x /usr/sbin/nginx ] || need+=(nginx)        # tests/operations/test_behind_nginx.py: the console and API behind it
command -v pg_dump >/dev/null || need+=(postgresql-client)   # backup and restore (sohoa backup / restore)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # only what the tests use: no recommended packages (chromium would bring udev, upower,
    # a notification daemon, a printer applet, Mesa's DRI drivers and the Liberation fonts)
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
exec .venv/bin/python -m pytest -n "${SOHOA_TEST_WORKERS:-2}" "$@"
