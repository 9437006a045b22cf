#!/usr/bin/env bash
# Installs what the report's browser tests drive: Debian's Chromium, its WebDriver, and a small
# CJK font so that screenshots show the Chinese text. Does nothing when all are there already.
# Non-interactive and quiet; needs root (or sudo) for apt-get.
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-wqy-microhei)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-browser.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for exe in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$exe" ]; then
    echo "install-browser.sh: $exe is missing after apt-get install" >&2
    exit 1
  fi
done
