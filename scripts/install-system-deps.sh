#!/usr/bin/env bash
# Install the Debian/Ubuntu packages that pycairo and ManimPango build against, espeak-ng (offline speech
# for narrated lessons)
# (and, with --test, the headless browser the gallery test drives).
# Idempotent: asks dpkg first and calls apt-get only for what is missing.
set -euo pipefail

pkgs=(libcairo2-dev libpango1.0-dev pkg-config fonts-dejavu-core espeak-ng)
if [[ "${1:-}" == "--test" ]]; then
    pkgs+=(chromium)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)  # for axe-core, the accessibility audit of the pages
fi

# axe-core (the npm package) for tests/test_pages_browser.py, in a cache outside the repository
install_axe() {
    local dir="${XDG_CACHE_HOME:-$HOME/.cache}/descent/axe-core"
    [[ -f "$dir/node_modules/axe-core/axe.min.js" ]] && return 0
    echo "Installing axe-core into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent axe-core@4 >/dev/null
}

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    [[ "${1:-}" == "--test" ]] && install_axe
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "descent: missing system packages: ${missing[*]} (install them with your package manager)" >&2
    exit 1
fi
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[[ "${1:-}" == "--test" ]] && install_axe
exit 0
