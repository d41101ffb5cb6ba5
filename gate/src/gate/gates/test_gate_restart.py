"""Gate 3, restart: a SIGKILL of the collector, then a plain restart.

The service comes back by itself, a later cycle writes valid rows, every file
sealed before has the same sha256, the interrupted partial is recovered with
a ``restart`` gap in its manifest, and the clean restart seals its file
without recovery.
"""

import pytest
from gate.evidence import Pending

from gate import checks

pytestmark = [pytest.mark.host, pytest.mark.gate("restart")]


def test_sigkill_then_restart_loses_nothing(gate_evidence):
    ev = gate_evidence
    settings = checks.collector_settings(ev)
    start = checks.require_active(ev)
    ev.fact("before", {k: start[k] for k in ("MainPID", "NRestarts")})
    checks.clear_of_hour_boundary(ev)
    checks.wait_rows(
        ev, settings, checks.host_now_ms(ev), "the collector writes rows before the kill", every_series=False
    )

    before = checks.sealed_files(ev, settings.data_dir)
    if not before["sealed"]:
        # A young host has sealed nothing yet (files seal at the hour): a clean
        # restart seals the open file, so the SIGKILL has a sealed file to spare.
        result = ev.run(f"systemctl restart {checks.LAYOUT.collector_unit}", timeout_s=180)
        assert result.rc == 0, f"systemctl restart failed: {result.stderr.strip()}"
        start = checks.wait_active(ev, "collector back after sealing", other_than_pid=start["MainPID"])
        checks.wait_rows(ev, settings, checks.host_now_ms(ev), "rows after sealing", every_series=False)
        before = checks.sealed_files(ev, settings.data_dir)
    hashes_before = checks.sealed_hashes(before)
    assert hashes_before, "no sealed file to check across the restart"
    interrupted = [p["path"] for p in before["partials"] if p["bytes"] > 0]
    ev.fact("sealed_before", len(hashes_before))
    ev.fact("interrupted_partials", interrupted)
    assert interrupted, "no partial file with data to interrupt"

    # 1. SIGKILL: systemd must bring the collector back by itself (Restart=always).
    kill_ms = checks.host_now_ms(ev)
    result = ev.run(f"systemctl kill -s SIGKILL {checks.LAYOUT.collector_unit}")
    # In a container without a writable cgroup tree systemd signals the main
    # process but reports an error for the cgroup sweep; the outcome below is what counts.
    assert result.rc == 0 or "auxiliary processes" in result.stderr, (
        f"systemctl kill failed: {result.stderr.strip()}"
    )
    after_kill = checks.wait_active(
        ev, "service back by itself after SIGKILL", other_than_pid=start["MainPID"]
    )
    ev.fact("after_kill", {k: after_kill[k] for k in ("MainPID", "NRestarts")})
    restarts = int(after_kill["NRestarts"]) - int(start["NRestarts"])
    assert restarts == 1, f"systemd restarted the collector {restarts} times after one SIGKILL (crash loop?)"

    def recovered() -> object:
        listing = checks.sealed_files(ev, settings.data_dir, with_hash=False)
        waiting = []
        for partial in interrupted:
            manifest = checks.manifest_of(listing, checks.sealed_of(partial))
            if manifest is None:
                waiting.append(partial)
        return listing if not waiting else Pending(f"not sealed yet: {waiting}")

    listing = ev.poll(
        "interrupted partials recovered and sealed", recovered, deadline_s=checks.ROWS_DEADLINE_S
    )
    evidence = {}
    for partial in interrupted:
        manifest = checks.manifest_of(listing, checks.sealed_of(partial))
        causes = sorted({gap.get("cause") for gap in manifest.get("gaps", [])})
        evidence[checks.sealed_of(partial)] = {
            "recovered": manifest.get("recovered"),
            "bytes_dropped": manifest.get("bytes_dropped"),
            "rows": manifest.get("rows"),
            "gap_causes": causes,
        }
        assert manifest.get("recovered") is True, f"{partial}: manifest does not say recovered"
        assert "restart" in causes, f"{partial}: no restart gap in its manifest (gaps: {causes})"
    ev.fact("recovered_files", evidence)

    checks.wait_rows(ev, settings, kill_ms, "valid rows from a cycle after the SIGKILL")

    # 2. A plain restart: a clean stop seals the open file without recovery.
    open_before = checks.sealed_files(ev, settings.data_dir, with_hash=False)["partials"]
    restart_ms = checks.host_now_ms(ev)
    result = ev.run(f"systemctl restart {checks.LAYOUT.collector_unit}", timeout_s=180)
    assert result.rc == 0, f"systemctl restart failed: {result.stderr.strip()}"
    after_restart = checks.wait_active(
        ev, "service active after a plain restart", other_than_pid=after_kill["MainPID"]
    )
    ev.fact("after_restart", {k: after_restart[k] for k in ("MainPID", "NRestarts")})
    # A manual restart resets the counter; more than that would be a crash after the restart.
    assert after_restart["NRestarts"] == "0", f"automatic restarts after the plain restart: {after_restart}"
    listing = checks.sealed_files(ev, settings.data_dir)
    for partial in open_before:
        manifest = checks.manifest_of(listing, checks.sealed_of(partial["path"]))
        assert manifest is not None, f"{partial['path']} was not sealed by the clean stop"
        assert manifest.get("recovered") is False, f"{partial['path']}: a clean stop needed recovery"
    checks.wait_rows(ev, settings, restart_ms, "valid rows from a cycle after the plain restart")

    # 3. Nothing sealed before changed; every manifest matches its file; verify passes.
    listing = checks.sealed_files(ev, settings.data_dir)
    checks.assert_unchanged(hashes_before, checks.sealed_hashes(listing))
    bad = [e["path"] for e in listing["sealed"] if (e["manifest"] or {}).get("sha256") != e["sha256"]]
    assert not bad, f"manifest sha256 differs from the file: {bad[:5]}"
    ev.fact("sealed_after", len(listing["sealed"]))
    ev.fact("unchanged_sha256", hashes_before)
    crashes = checks.crash_lines(checks.journal_since(ev, checks.LAYOUT.collector_unit, kill_ms / 1000))
    assert not crashes, f"unexpected exceptions in the journal: {crashes[:2]}"
    ev.fact("verify", checks.verify_data(ev, settings.data_dir))
