#!/usr/bin/env bash
# Installs the Debian packages given as arguments when any is missing, and nothing
# else. On systems without apt-get it prints exactly what to install and fails.
set -euo pipefail
missing=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "citypass needs these packages (Debian names): ${missing[*]}" >&2
	echo "install them with your system's package manager (gcc, pkg-config, pcsc-lite headers, pcscd, vsmartcard vpcd driver, xmllint), then run make again" >&2
	exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
