#!/usr/bin/env bash
# Local demo without any VPS: start the simulator, collect from it for N seconds
# into .cache/demo, then verify the files and print their quality.
#   usage: tools/harness/demo.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-120}"
venv="${VENV:-.venv}"
data_dir=".cache/demo/data"
mkdir -p "$data_dir" .cache/demo

echo "==> starting the simulator (10-second windows)"
(exec "$venv/bin/python" -m polysim --port 0 --window-seconds 10) \
    > .cache/demo/polysim.out 2> .cache/demo/polysim.err &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -q polysim_ready .cache/demo/polysim.out 2>/dev/null && break
    sleep 0.1
done
ready=$(grep polysim_ready .cache/demo/polysim.out) || { echo "simulator did not start" >&2; exit 1; }
gamma_url=$("$venv/bin/python" -c 'import json,sys; print(json.loads(sys.argv[1])["gamma_url"])' "$ready")
clob_url=$("$venv/bin/python" -c 'import json,sys; print(json.loads(sys.argv[1])["clob_url"])' "$ready")

echo "==> collecting for ${duration}s into $data_dir (logs: .cache/demo/collect.log)"
"$venv/bin/orderbooks" collect --data-dir "$data_dir" --gamma-url "$gamma_url" --clob-url "$clob_url" \
    --interval 1 --duration "$duration" > .cache/demo/collect.log

echo "==> orderbooks verify $data_dir"
"$venv/bin/orderbooks" verify "$data_dir"
echo "==> orderbooks quality $data_dir"
"$venv/bin/orderbooks" quality "$data_dir"
