#!/usr/bin/env bash
# Ensure Debian's headless-capable Chromium (and CJK fonts) are installed.
#
# Idempotent: prints nothing and exits 0 when /usr/bin/chromium and the CJK fonts are already
# present. Otherwise runs `apt-get update` once and installs the missing packages with
# --no-install-recommends. Exits non-zero with a clear message on any failure.
# The UI tests and scripts/screenshot_dagster.py use /usr/bin/chromium; no browser is downloaded
# by a test tool (that would fail without network access).
set -euo pipefail

CHROMIUM_BIN=/usr/bin/chromium
PACKAGES=()

if [[ ! -x "$CHROMIUM_BIN" ]]; then
    PACKAGES+=(chromium)
fi
# Noto CJK renders the Chinese department and element names in screenshots.
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "install ok installed"; then
    PACKAGES+=(fonts-noto-cjk)
fi

if [[ ${#PACKAGES[@]} -eq 0 ]]; then
    exit 0
fi

fail() {
    echo "ensure-chromium: $*" >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; install ${PACKAGES[*]} by hand (need $CHROMIUM_BIN)"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || fail "must run as root (or have sudo) to install ${PACKAGES[*]}"
    SUDO=(sudo)
fi

echo "ensure-chromium: installing ${PACKAGES[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq || fail "apt-get update failed"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null \
    || fail "apt-get install ${PACKAGES[*]} failed"

[[ -x "$CHROMIUM_BIN" ]] || fail "$CHROMIUM_BIN still missing after installing chromium"
"$CHROMIUM_BIN" --version >/dev/null 2>&1 || fail "$CHROMIUM_BIN is installed but does not run"
echo "ensure-chromium: $("$CHROMIUM_BIN" --version)" >&2
