#!/usr/bin/env bash
# Debian 12 packages the project's tests and rehearsal need on the controller.
#   usage: install-system-deps.sh [all|python]
# `python`: only what the virtualenv needs (make demo), no VPS packages.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(python3 python3-venv python3-dev make git)
case "${1:-all}" in
    all) packages+=(openssh-client mmdebstrap systemd-container zstd iproute2 procps) ;;
    python) ;;
    *) echo "usage: $0 [all|python]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "system packages ready: ${packages[*]}"
