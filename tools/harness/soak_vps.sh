#!/usr/bin/env bash
# `make soak-vps [DURATION=1800]`: the soak in inventory mode on a fresh disposable VPS.
#
#   bash tools/harness/soak_vps.sh 1800
#
# Steps: the virtualenv; a disposable Debian 12 VPS (tools/harness/vps.py) whose
# /etc/hosts sends the simulator's names to 127.0.0.1 and whose inventory says
# orderbooks_disposable_vps=true; site.yml on it (make cutover); then
# tools/harness/soak.py --inventory, which runs the simulator here, points the
# host's orderbooks-collector.service at it with a runtime drop-in, injects the
# faults, restores the service and writes reports/soak-<UTC>/. The VPS is always
# torn down at the end (trap), also on failure or Ctrl-C.
#
# The collector's normal config on this VPS points at a loopback port where
# nothing listens (vps.py's default), and uploads go to an rclone `local`
# remote inside the VPS: the soak needs neither, site.yml needs both.
#
# Settings (environment): SOAK_VPS_NAME (default soak), SOAK_VPS_PORT (2262),
# REPORTS_DIR (reports), SOAK_ARGS (extra options for soak.py).
# Exit status: the soak's (0 PASS, 1 NEEDS_REVIEW, 2 bad option, 3 could not
# run, 130 interrupted); 1 when the VPS or site.yml failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

DURATION=${1:-1800}
NAME=${SOAK_VPS_NAME:-soak}
PORT=${SOAK_VPS_PORT:-2262}
REPORTS_DIR=${REPORTS_DIR:-reports}
STATE=$REPO/.cache/soak-vps/$NAME
INVENTORY=.vps/$NAME/inventory.ini
VENV=$REPO/.venv

T0=$(date +%s)
step() { printf '==> [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'soak-vps: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (the disposable VPS needs mount and systemd-nspawn)"
[[ $DURATION =~ ^[0-9]+$ ]] || die "DURATION must be whole seconds, not '$DURATION'"

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    step "tearing down the VPS '$NAME'"
    python3 tools/harness/vps.py down --name "$NAME" || true
    rm -rf "$STATE"
    exit "$rc"
}

step "virtualenv (make setup)"
make --no-print-directory setup

if [[ -d .vps/$NAME ]]; then
    step "removing what an earlier run left of VPS '$NAME'"
    python3 tools/harness/vps.py down --name "$NAME"
fi
trap teardown EXIT
trap 'exit 130' INT TERM
mkdir -p "$STATE"

step "disposable VPS '$NAME' (ssh on 127.0.0.1:$PORT)"
python3 tools/harness/vps.py up --name "$NAME" --port "$PORT" \
    --hosts-entry "127.0.0.1 gamma.polysim.test clob.polysim.test" --var orderbooks_disposable_vps=true

cat >"$STATE/vars.yml" <<'EOF'
# Written by tools/harness/soak_vps.sh. Uploads go to a folder inside the VPS:
# the soak does not need them, site.yml needs a remote.
orderbooks_rclone_remote_name: standin
orderbooks_rclone_remote_type: local
orderbooks_rclone_options: {}
orderbooks_rclone_required_options: []
orderbooks_uploader_remote_folder: /var/tmp/orderbooks-standin
EOF

step "cutover: site.yml on $INVENTORY"
make --no-print-directory cutover INVENTORY="$INVENTORY" EXTRA="-e @$STATE/vars.yml" >"$STATE/cutover.log" 2>&1 || {
    tail -n 40 "$STATE/cutover.log"
    die "site.yml failed"
}
grep -E "^vps-$NAME" "$STATE/cutover.log" || true

step "soak: $DURATION s in inventory mode"
set +e
# shellcheck disable=SC2086 # SOAK_ARGS is a list of options
"$VENV/bin/python" tools/harness/soak.py --duration "$DURATION" --inventory "$INVENTORY" \
    --reports-dir "$REPORTS_DIR" ${SOAK_ARGS:-} | tee "$STATE/soak.out"
rc=${PIPESTATUS[0]}
set -e

summary=$(sed -n 's/^ *"summary": "\(.*\)",\{0,1\}$/\1/p' "$STATE/soak.out" | tail -n 1)
verdict=$(sed -n 's/^ *"verdict": "\(.*\)",\{0,1\}$/\1/p' "$STATE/soak.out" | tail -n 1)
step "done in $(($(date +%s) - T0)) s"
echo "verdict: ${verdict:-none} (exit $rc)"
echo "report: ${summary:-none}"
exit "$rc"
