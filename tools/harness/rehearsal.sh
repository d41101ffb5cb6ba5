#!/usr/bin/env bash
# The full offline rehearsal of a cutover (`make rehearsal`), and its teardown
# (`make rehearsal-down`). On a fresh Debian 12 machine, as root:
#
#   bash tools/harness/rehearsal.sh          # up, collect, verify-host, down
#   bash tools/harness/rehearsal.sh down     # tear down whatever is left
#
# Steps: system packages; the virtualenv; the Polymarket simulator and a
# stand-in rclone remote (`rclone serve sftp`) on 127.0.0.1 of this machine;
# a disposable Debian 12 VPS whose /etc/hosts sends the simulator's host
# names to 127.0.0.1; `site.yml` with the collector pointed at the simulator
# and the uploader at the stand-in remote; at least one market rollover; then
# the production gate. Exit 0 only when the verdict is REHEARSAL_PASS.
#
# With REHEARSAL_HOSTS=2 (`make rehearsal-redundant`): two disposable VPS,
# NAME1 and NAME2, each reaching the simulator through its own link
# (tools/harness/links.py), one site.yml run for both; then the redundant
# scenario (tools/harness/redundant.py): each host cut off the API for
# REDUNDANT_CUT_SECONDS at a different time of a REDUNDANT_SECONDS window, both
# copies fetched from the stand-in remote's per-host prefixes, each host's
# coverage next to the union's, merged and verified; then (REDUNDANT_GATE=1)
# `make verify-host` of the two-host inventory. Exit 0 only when the scenario
# passes and, with the gate, the group's verdict is REHEARSAL_PASS.
#
# Settings (environment):
#   SOURCE=sim|live          sim (default): the simulator; live: the real Polymarket
#                            APIs (needs the internet; no simulator is started)
#   REHEARSAL_KEEP=1         leave everything running at the end (then `make rehearsal-down`)
#   REHEARSAL_SELFTEST=1     also break the host (collector stopped and masked), expect FAIL
#   REHEARSAL_VPS_NAME, REHEARSAL_SSH_PORT, REHEARSAL_SIM_PORT, REHEARSAL_REMOTE_PORT
#   REHEARSAL_HOSTS=1|2      2: the redundant rehearsal (ssh ports SSH_PORT and SSH_PORT+1)
#   REHEARSAL_LINK_PORT      first port of the per-host links (default SIM_PORT+3; one per
#                            host, then their control port)
#   REDUNDANT_SECONDS, REDUNDANT_CUT_SECONDS, REDUNDANT_GATE   (default 240, 60, 1)
#   REPORTS_DIR              where the gate writes its report (default: reports)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

SOURCE=${SOURCE:-sim}
NAME=${REHEARSAL_VPS_NAME:-rehearsal}
SSH_PORT=${REHEARSAL_SSH_PORT:-2242}
SIM_PORT=${REHEARSAL_SIM_PORT:-18780}
REMOTE_PORT=${REHEARSAL_REMOTE_PORT:-18790}
KEEP=${REHEARSAL_KEEP:-0}
SELFTEST=${REHEARSAL_SELFTEST:-0}
HOSTS=${REHEARSAL_HOSTS:-1}
LINK_PORT=${REHEARSAL_LINK_PORT:-$((SIM_PORT + 3))}
REDUNDANT_SECONDS=${REDUNDANT_SECONDS:-240}
REDUNDANT_CUT_SECONDS=${REDUNDANT_CUT_SECONDS:-60}
REDUNDANT_GATE=${REDUNDANT_GATE:-1}
REPORTS_DIR=${REPORTS_DIR:-reports}
STATE=$REPO/.rehearsal
INVENTORY=.vps/$NAME/inventory.ini
NAMES=("$NAME")
if [[ $HOSTS != 1 ]]; then
    [[ $HOSTS == 2 ]] || { echo "rehearsal: error: REHEARSAL_HOSTS must be 1 or 2, not '$HOSTS'" >&2; exit 2; }
    NAMES=("${NAME}1" "${NAME}2")
    INVENTORY=$STATE/inventory.ini
fi
VENV=$REPO/.venv
SIM_NAMES="gamma.polysim.test clob.polysim.test"
ROLLOVER_DEADLINE=${REHEARSAL_ROLLOVER_DEADLINE:-120}
if [[ $SOURCE == live ]]; then ROLLOVER_DEADLINE=${REHEARSAL_ROLLOVER_DEADLINE:-420}; fi

T0=$(date +%s)
step() { printf '==> [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'rehearsal: error: %s\n' "$*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stop a process this script started, by the pid it recorded, only if it is
# still the same program.
stop_recorded() {
    local pidfile=$1 expect=$2 pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$expect"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Wait until a background server prints its ready line: wait_ready WHAT PIDFILE OUT LOG MARKER.
wait_ready() {
    local what=$1 pidfile=$2 out=$3 log=$4 marker=$5
    for _ in $(seq 1 100); do
        grep -q "$marker" "$out" 2>/dev/null && return 0
        kill -0 "$(cat "$pidfile")" 2>/dev/null || die "$what exited: $(tail -n 5 "$log")"
        sleep 0.2
    done
    die "$what did not report ready"
}

down() {
    step "tearing down: VPS ${NAMES[*]}, simulator, stand-in remote"
    local machine
    for machine in "${NAMES[@]}"; do
        if [[ -f .vps/$machine/inventory.ini || -d .vps/$machine ]]; then
            python3 tools/harness/vps.py down --name "$machine" || true
        fi
    done
    stop_recorded "$STATE/polysim.pid" polysim
    stop_recorded "$STATE/remote.pid" "serve sftp"
    stop_recorded "$STATE/links.pid" harness.links
    rm -rf "$STATE"
}

if [[ ${1:-up} == down ]]; then
    down
    exit 0
fi
[[ $SOURCE == sim || $SOURCE == live ]] || die "SOURCE must be sim or live, not '$SOURCE'"
[[ $HOSTS == 1 || $SOURCE == sim ]] || die "the redundant rehearsal (REHEARSAL_HOSTS=$HOSTS) needs SOURCE=sim: it cuts the hosts' links to the simulator"
[[ $(id -u) == 0 ]] || die "run as root (the disposable VPS needs mount and systemd-nspawn)"

on_exit() {
    local rc=$?
    if ((rc != 0)); then
        step "failed (exit $rc); last lines of the logs:"
        for f in "$STATE"/*.log; do [[ -f $f ]] && { echo "--- $f"; tail -n 15 "$f"; }; done
    fi
    if [[ $KEEP == 1 ]]; then
        step "REHEARSAL_KEEP=1: leaving everything up; tear down with: make rehearsal-down"
    else
        down
    fi
    exit "$rc"
}

step "system packages (tools/harness/install-system-deps.sh)"
bash tools/harness/install-system-deps.sh

step "virtualenv (make setup)"
make --no-print-directory setup

step "clearing what an earlier rehearsal left"
down >/dev/null
trap on_exit EXIT
mkdir -p "$STATE/remote"
chmod 0700 "$STATE"

if [[ $SOURCE == sim ]]; then
    port_free "$SIM_PORT" && port_free "$((SIM_PORT + 1))" || die "port $SIM_PORT or $((SIM_PORT + 1)) is in use"
    step "simulator on 127.0.0.1:$SIM_PORT (10 s windows)"
    (exec "$VENV/bin/python" -m polysim --host 127.0.0.1 --port "$SIM_PORT" \
        --window-seconds 10 >"$STATE/polysim.log" 2>&1) &
    echo $! >"$STATE/polysim.pid"
    wait_ready "the simulator" "$STATE/polysim.pid" "$STATE/polysim.log" "$STATE/polysim.log" polysim_ready
    GAMMA_URL="http://gamma.polysim.test:$SIM_PORT/gamma"
    CLOB_URL="http://clob.polysim.test:$SIM_PORT/clob"
    HOSTS_ARGS=(--hosts-entry "127.0.0.1 $SIM_NAMES")
    if [[ $HOSTS != 1 ]]; then
        LINK_ARGS=()
        for i in "${!NAMES[@]}"; do
            port_free "$((LINK_PORT + i))" || die "port $((LINK_PORT + i)) is in use"
            LINK_ARGS+=(--link "vps-${NAMES[$i]}=127.0.0.1:$((LINK_PORT + i))")
        done
        LINK_CONTROL=$((LINK_PORT + ${#NAMES[@]}))
        port_free "$LINK_CONTROL" || die "port $LINK_CONTROL is in use"
        step "per-host links to the simulator on 127.0.0.1:$LINK_PORT.. (control :$LINK_CONTROL)"
        "$VENV/bin/python" -m harness.links --target "127.0.0.1:$SIM_PORT" "${LINK_ARGS[@]}" \
            --control "127.0.0.1:$LINK_CONTROL" >"$STATE/links.out" 2>"$STATE/links.log" &
        echo $! >"$STATE/links.pid"
        wait_ready "the links" "$STATE/links.pid" "$STATE/links.out" "$STATE/links.log" links_ready
    fi
else
    GAMMA_URL="https://gamma-api.polymarket.com"
    CLOB_URL="https://clob.polymarket.com"
    HOSTS_ARGS=()
fi

step "stand-in remote: rclone serve sftp on 127.0.0.1:$REMOTE_PORT (folder .rehearsal/remote)"
port_free "$REMOTE_PORT" || die "port $REMOTE_PORT is in use"
REMOTE_PASS=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
ssh-keygen -q -t ed25519 -N '' -f "$STATE/remote_host_key" >/dev/null
RCLONE_USER=orderbooks RCLONE_PASS=$REMOTE_PASS \
    "$VENV/bin/rclone" serve sftp "$STATE/remote" --addr "127.0.0.1:$REMOTE_PORT" \
    --key "$STATE/remote_host_key" >"$STATE/remote.log" 2>&1 &
echo $! >"$STATE/remote.pid"
for _ in $(seq 1 100); do port_free "$REMOTE_PORT" || break; sleep 0.1; done
port_free "$REMOTE_PORT" && die "the stand-in remote did not start: $(tail -n 5 "$STATE/remote.log")"

for i in "${!NAMES[@]}"; do
    machine=${NAMES[$i]}
    VAR_ARGS=(--var orderbooks_disposable_vps=true)
    if [[ $HOSTS != 1 && $SOURCE == sim ]]; then
        # Each host reaches the simulator through its own link, which the scenario cuts.
        VAR_ARGS+=(--var "orderbooks_collector_gamma_url=http://gamma.polysim.test:$((LINK_PORT + i))/gamma"
            --var "orderbooks_collector_clob_url=http://clob.polysim.test:$((LINK_PORT + i))/clob")
    fi
    step "disposable VPS '$machine' (ssh on 127.0.0.1:$((SSH_PORT + i)))"
    python3 tools/harness/vps.py up --name "$machine" --port "$((SSH_PORT + i))" "${HOSTS_ARGS[@]}" "${VAR_ARGS[@]}"
done
if [[ $HOSTS != 1 ]]; then
    {
        echo "# Written by tools/harness/rehearsal.sh: the two disposable VPS, one group."
        echo "[orderbooks]"
        for machine in "${NAMES[@]}"; do grep -v -e '^#' -e '^\[' ".vps/$machine/inventory.ini"; done
    } >"$INVENTORY"
fi

OBSCURED=$("$VENV/bin/rclone" obscure "$REMOTE_PASS")
umask 077
URL_VARS="orderbooks_collector_gamma_url: \"$GAMMA_URL\"
orderbooks_collector_clob_url: \"$CLOB_URL\""
if [[ $HOSTS != 1 && $SOURCE == sim ]]; then
    URL_VARS="# The collector's URLs are per host, in the inventory: each host's own link."
fi
cat >"$STATE/vars.yml" <<EOF
# Written by tools/harness/rehearsal.sh: the rehearsal's extra vars (loopback only).
$URL_VARS
orderbooks_rclone_remote_name: standin
orderbooks_rclone_remote_type: sftp
orderbooks_rclone_options:
  host: 127.0.0.1
  port: "$REMOTE_PORT"
  user: orderbooks
  pass: "$OBSCURED"
  shell_type: unix
  md5sum_command: md5sum
  sha1sum_command: sha1sum
orderbooks_rclone_required_options: [host, user, pass]
orderbooks_uploader_remote_folder: orderbooks
EOF
cat >"$STATE/rclone.conf" <<EOF
# Written by tools/harness/rehearsal.sh: the controller's way to the stand-in remote.
[standin]
type = sftp
host = 127.0.0.1
port = $REMOTE_PORT
user = orderbooks
pass = $OBSCURED
shell_type = unix
md5sum_command = md5sum
sha1sum_command = sha1sum
EOF
umask 022

step "cutover: site.yml (collector -> $GAMMA_URL, uploader -> standin:orderbooks/<host>)"
make --no-print-directory cutover INVENTORY="$INVENTORY" EXTRA="-e @$STATE/vars.yml"

# The production gate of INVENTORY; sets gate_rc, verdict, production, report.
run_gate() {
    set +e
    make --no-print-directory verify-host INVENTORY="$INVENTORY" REPORTS_DIR="$REPORTS_DIR" | tee "$STATE/verify-host.log"
    gate_rc=${PIPESTATUS[0]}
    set -e
    verdict=$(sed -n 's/^verdict: //p' "$STATE/verify-host.log" | tail -n 1)
    production=$(sed -n 's/^production status: //p' "$STATE/verify-host.log" | tail -n 1)
    report=$(sed -n 's/^report: //p' "$STATE/verify-host.log" | tail -n 1)
}

if [[ $HOSTS != 1 ]]; then
    for machine in "${NAMES[@]}"; do
        step "vps-$machine: collecting through at least one market rollover (deadline ${ROLLOVER_DEADLINE} s)"
        PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m gate.rollover \
            --inventory "$INVENTORY" --host "vps-$machine" --deadline "$ROLLOVER_DEADLINE"
    done
    step "redundant capture: each host cut off for ${REDUNDANT_CUT_SECONDS} s of ${REDUNDANT_SECONDS} s; fetch, compare, merge"
    set +e
    PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m harness.redundant --inventory "$INVENTORY" \
        --links "http://127.0.0.1:$LINK_CONTROL" --rclone-config "$STATE/rclone.conf" \
        --remote standin:orderbooks --work "$STATE/redundant" --reports-dir "$REPORTS_DIR" \
        --seconds "$REDUNDANT_SECONDS" --cut-seconds "$REDUNDANT_CUT_SECONDS" | tee "$STATE/redundant.log"
    redundant_rc=${PIPESTATUS[0]}
    set -e
    verdict=skipped production=skipped report=none gate_rc=0
    if [[ $REDUNDANT_GATE == 1 ]]; then
        step "production gate of both hosts: make verify-host INVENTORY=$INVENTORY"
        run_gate
    fi
    step "done in $(($(date +%s) - T0)) s"
    echo "redundant: $(sed -n 's/^redundant: \(PASS\|FAIL\)$/\1/p' "$STATE/redundant.log" | tail -n 1)"
    echo "verdict: ${verdict:-none}"
    echo "production status: ${production:-none}"
    echo "report: ${report:-none}"
    [[ $redundant_rc == 0 && $gate_rc == 0 ]] && [[ $verdict == REHEARSAL_PASS || $verdict == skipped ]]
    exit
fi

step "collecting through at least one market rollover (deadline ${ROLLOVER_DEADLINE} s)"
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m gate.rollover \
    --inventory "$INVENTORY" --deadline "$ROLLOVER_DEADLINE"

step "production gate: make verify-host INVENTORY=$INVENTORY"
run_gate

if [[ $SELFTEST == 1 ]]; then
    step "gate self-test: collector stopped and masked must give FAIL"
    make --no-print-directory gate-selftest INVENTORY="$INVENTORY" REPORTS_DIR="$REPORTS_DIR/selftest"
fi

step "done in $(($(date +%s) - T0)) s"
echo "verdict: ${verdict:-none}"
echo "production status: ${production:-none}"
echo "report: ${report:-none}"
[[ $gate_rc == 0 && $verdict == REHEARSAL_PASS ]]
