"""The production gate: `make verify-host` and `make rehearsal`.

Modules (one job each):

- ``verdict``: the verdict as a pure function of what the gates found.
- ``soak``: whether the host's own data shows a completed 24-hour soak.
- ``evidence``: records the commands a gate runs and what they returned.
- ``plugin``: the pytest plugin that maps tests to gates and writes the evidence file.
- ``probe``: a stdlib-only script run on the host (data files, hashes, newest rows).
- ``layout``: the host layout (paths, account, units) as the inventory resolves it.
- ``checks``: host-side steps the gates share (settings, waits, the network override).
- ``rollover``: waits until the collected rows show a market rollover (the rehearsal).
- ``summary``: the report's file table, quality summary, soak span and risks of a host.
- ``report``: manifest.json (schema in docs/gate-manifest.schema.json) and report.md.
- ``redact``: keeps the inventory's and the host's secrets out of the report.
- ``verify_host``: the runner behind `make verify-host` (also gathers the host facts).

The testinfra checks of the gates are in ``gates/`` beside these modules.
"""

#: The six gates, in the order they run.
GATES: tuple[str, ...] = ("host_state", "collecting", "restart", "network", "liveness", "upload")

GATE_TITLES: dict[str, str] = {
    "host_state": "Host state (the Ansible host-state tests)",
    "collecting": "Collecting (rows for every active series, recent and valid; sealed files verify)",
    "restart": "Restart (SIGKILL + plain restart: service back, sealed files unchanged, partial recovered)",
    "network": "Network failure (API names resolve to a dead address; failures recorded; recovery)",
    "liveness": "Liveness (SIGSTOP: watchdog restart in bound; status healthy before, after; metrics fresh)",
    "upload": "Upload (remote hashes equal the manifests; local files kept; ledger records them)",
}
