#!/usr/bin/env bash
# Install the Debian/Ubuntu packages that pycairo and ManimPango build against, espeak-ng (offline speech
# for narrated lessons)
# (and, with --test, the headless browser the gallery test drives).
# Idempotent: asks dpkg first and calls apt-get only for what is missing.
set -euo pipefail

pkgs=(libcairo2-dev libpango1.0-dev pkg-config fonts-dejavu-core espeak-ng)
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(chromium)
fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "descent: missing system packages: ${missing[*]} (install them with your package manager)" >&2
    exit 1
fi
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
