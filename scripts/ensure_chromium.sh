#!/usr/bin/env bash
# Make sure headless Chromium (Debian's `chromium` package) and axe-core (npm) are here for the report: its PDF
# (`leadeval report --pdf`) and the browser tests (tests/browser). Used by `make test` (target `browser`) and
# .ci/run. Idempotent: a second run only checks. Run it as root (or with sudo) on Debian/Ubuntu.
#
#   1. `chromium --version` answers: nothing to install. Otherwise apt-get update, then
#      apt-get install -y chromium fonts-dejavu-core (the report's fonts; no network font is ever loaded).
#   2. tests/browser/node_modules/axe-core/axe.min.js exists: nothing to do. Otherwise npm install the
#      version pinned in tests/browser/package.json (no lock file, no audit). No npm: apt-get install -y npm.
#
# Environment: LEADEVAL_SKIP_BROWSER_SETUP=1 skips everything (the browser tests then skip, saying why).
# Exit status: 0 when both are in place; 1 (with the reason on stderr) otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "ensure_chromium: $*"; }
die() { echo "ensure_chromium: ERROR: $*" >&2; exit 1; }

if [[ ${LEADEVAL_SKIP_BROWSER_SETUP:-} == 1 ]]; then
    log "LEADEVAL_SKIP_BROWSER_SETUP=1: not installing anything"
    exit 0
fi

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

apt_updated=""
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install $* yourself"
    if [[ -z $apt_updated ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "$@"
}

chromium_bin() { command -v chromium || command -v chromium-browser || true; }

# ---------------------------------------------------------------------------- 1. Chromium
if [[ -n $(chromium_bin) ]] && "$(chromium_bin)" --version >/dev/null 2>&1; then
    log "$("$(chromium_bin)" --version 2>/dev/null | tail -n 1) (nothing to do)"
else
    log "installing Debian's chromium package"
    apt_install chromium fonts-dejavu-core
    [[ -n $(chromium_bin) ]] || die "chromium is still missing after apt-get install"
    log "installed $("$(chromium_bin)" --version 2>/dev/null | tail -n 1)"
fi

# ---------------------------------------------------------------------------- 2. axe-core
AXE=tests/browser/node_modules/axe-core/axe.min.js
if [[ -f $AXE ]]; then
    log "axe-core $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' tests/browser/node_modules/axe-core/package.json \
        | head -n 1) (nothing to do)"
else
    if ! command -v npm >/dev/null 2>&1; then
        log "npm missing: apt-get install -y npm"
        apt_install npm
    fi
    log "npm install axe-core (tests/browser/package.json)"
    (cd tests/browser && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
    [[ -f $AXE ]] || die "axe-core did not install ($AXE missing)"
fi
