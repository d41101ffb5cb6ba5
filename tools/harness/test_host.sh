#!/usr/bin/env bash
# `make test-host`: the Ansible roles against a fresh disposable Debian 12 VPS.
#
#   bash tools/harness/test_host.sh            # name testhost, ssh port 2230
#   VPS_NAME=x VPS_PORT=2231 bash tools/harness/test_host.sh
#
# Steps: boot a fresh VPS (its /etc/hosts sends the simulator's host names to
# 127.0.0.1); start the Polymarket simulator and a stand-in rclone remote
# (`rclone serve webdav`, no hashes) on 127.0.0.1 of this machine; run site.yml twice
# (the second run must report changed=0); run the host-state tests and the
# deploy/rollback test; tear everything down (also on failure: trap).
# Prints the timings of both site.yml runs. Exit 0 only when every step passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
NAME=${VPS_NAME:-testhost}
PORT=${VPS_PORT:-2230}
VENV=$REPO/.venv
export PATH="$VENV/bin:$PATH"
RUN=$REPO/.vps/$NAME-run
INVENTORY=$REPO/.vps/$NAME/inventory.ini
SIM_NAMES="gamma.polysim.test clob.polysim.test"
SIM_PID=
REMOTE_PID=

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'test-host: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$?
    set +e
    step "teardown"
    [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    [[ -n $REMOTE_PID ]] && kill "$REMOTE_PID" 2>/dev/null && wait "$REMOTE_PID" 2>/dev/null
    python3 tools/harness/vps.py down --name "$NAME"
    rm -rf "$RUN"
    exit "$rc"
}
trap cleanup EXIT

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

rm -rf "$RUN"
mkdir -p "$RUN/remote"
# Deploy a snapshot of collector/: edits made to the checkout during the run
# must not turn into a new release between the two site.yml runs.
rsync -a --exclude '__pycache__' --exclude '*.egg-info' --exclude build collector/ "$RUN/collector-src/" 2>/dev/null \
    || cp -a collector "$RUN/collector-src"

step "disposable VPS '$NAME' (ssh on 127.0.0.1:$PORT)"
python3 tools/harness/vps.py up --name "$NAME" --port "$PORT" --hosts-entry "127.0.0.1 $SIM_NAMES" >/dev/null

step "simulator and stand-in remote on 127.0.0.1"
(exec "$VENV/bin/python" -m polysim --port 0 --window-seconds 10) \
    >"$RUN/polysim.out" 2>"$RUN/polysim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do [[ -s $RUN/polysim.out ]] && break; sleep 0.1; done
[[ -s $RUN/polysim.out ]] || die "the simulator did not start: $(tail -n 5 "$RUN/polysim.err")"
SIM_PORT=$("$VENV/bin/python" -c 'import json,sys,urllib.parse as u; print(u.urlsplit(json.loads(open(sys.argv[1]).readline())["gamma_url"]).port)' "$RUN/polysim.out")
SIM_CONTROL=$("$VENV/bin/python" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["control_url"])' "$RUN/polysim.out")
REMOTE_PORT=$(free_port)
"$VENV/bin/rclone" serve webdav "$RUN/remote" --addr "127.0.0.1:$REMOTE_PORT" >"$RUN/remote.log" 2>&1 &
REMOTE_PID=$!
echo "simulator: 127.0.0.1:$SIM_PORT (as $SIM_NAMES); webdav remote: 127.0.0.1:$REMOTE_PORT"

cat >"$RUN/test-vars.json" <<EOF
{
  "orderbooks_collector_gamma_url": "http://gamma.polysim.test:$SIM_PORT/gamma",
  "orderbooks_collector_clob_url": "http://clob.polysim.test:$SIM_PORT/clob",
  "orderbooks_rclone_remote_name": "standin",
  "orderbooks_rclone_remote_type": "webdav",
  "orderbooks_rclone_options": {"url": "http://127.0.0.1:$REMOTE_PORT/", "vendor": "other"},
  "orderbooks_rclone_required_options": ["url"],
  "orderbooks_collector_source_dir": "$RUN/collector-src"
}
EOF

site() {
    (cd ansible && ansible-playbook site.yml -i "$INVENTORY" -e "@$RUN/test-vars.json" "$@")
}

step "site.yml, first run (fresh host)"
t0=$(date +%s.%N)
site >"$RUN/site1.log" 2>&1 || { tail -n 60 "$RUN/site1.log"; die "site.yml failed on a fresh host"; }
t1=$(date +%s.%N)
grep -E '^vps-' "$RUN/site1.log"

step "site.yml, second run (must report changed=0)"
site >"$RUN/site2.log" 2>&1 || { tail -n 60 "$RUN/site2.log"; die "the second site.yml run failed"; }
t2=$(date +%s.%N)
grep -E '^vps-' "$RUN/site2.log"
grep -Eq '^vps-'"$NAME"' +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "$RUN/site2.log" || {
    grep -B2 -E '^changed:' "$RUN/site2.log" | head -40
    die "the second site.yml run was not idempotent"
}

step "check mode with --diff on the provisioned host"
site --check --diff >"$RUN/check.log" || { tail -n 40 "$RUN/check.log"; die "site.yml --check --diff failed"; }
grep -E '^vps-' "$RUN/check.log"

step "host-state, liveness and deploy/rollback tests"
ORDERBOOKS_HOST_EXTRA_VARS=$RUN/test-vars.json ORDERBOOKS_HOST_SIM_CONTROL=$SIM_CONTROL "$VENV/bin/pytest" -p no:cacheprovider -v \
    --hosts="ansible://orderbooks" --ansible-inventory="$INVENTORY" \
    tests/host/test_host_state.py tests/host/test_host_state_secrets.py tests/host/test_liveness.py \
    tests/host/test_deploy_rollback.py

# The stand-in remote is webdav with vendor=other: it lists no hashes, so the
# gate's upload check can pass only by downloading and hashing, as upload does.
step "the gate's upload check against a remote without hashes (verified by download)"
"$VENV/bin/pytest" -p gate.plugin -p no:cacheprovider -v \
    --hosts="ansible://orderbooks" --ansible-inventory="$INVENTORY" \
    --gate-evidence "$RUN/gate-upload.evidence.json" gate/src/gate/gates/test_gate_upload.py
"$VENV/bin/python" - "$RUN/gate-upload.evidence.json" <<'PY'
import json, sys
def find(node):
    if isinstance(node, dict):
        if "remote_hashes_compared" in node:
            yield node["remote_hashes_compared"]
        for value in node.values():
            yield from find(value)
    elif isinstance(node, list):
        for value in node:
            yield from find(value)
compared = [c for found in find(json.load(open(sys.argv[1]))) for c in found.values()]
assert compared and all(c["method"] == "download" for c in compared), compared
print(f"gate upload check: {len(compared)} files verified by download")
PY

"$VENV/bin/python" -c 'import sys; t0, t1, t2 = map(float, sys.argv[1:]); print(f"\ntest-host: PASS (site.yml cold {t1 - t0:.1f} s, second run {t2 - t1:.1f} s, changed=0)")' "$t0" "$t1" "$t2"
