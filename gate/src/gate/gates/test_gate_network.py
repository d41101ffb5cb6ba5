"""Gate 4, network failure: the API host names resolve to a loopback address
where nothing listens (an /etc/hosts override on the host under test).

A running collector keeps its keep-alive connections across a change of name
resolution, so the gate restarts it under the override: every connection is
then new and refused, as after a reboot in an outage. Failures must reach the
journal and, once the file seals, its manifest; the service must stay active
without crash-looping; nothing sealed may change. After the override is
removed, new rows must come within two intervals, where an interval is the
longer of the poll interval and the collector's discovery retry (a collector
started in an outage knows no market until a discovery succeeds).
"""

import pytest
from gate.evidence import Pending

from gate import checks

pytestmark = [pytest.mark.host, pytest.mark.gate("network")]

#: How long the outage is watched for a crash loop, in discovery retries.
OUTAGE_RETRIES = 1.5
NETWORK_ERRORS = ("connect", "timeout", "reset", "discovery")


@pytest.fixture
def hosts_override(gate_evidence):
    """Remove the override whatever happens, and leave the collector running."""
    ev = gate_evidence
    yield
    removed = ev.probe("hosts-remove", checks.HOSTS_MARKER)
    ev.fact("hosts_cleanup", removed)
    state = checks.unit_state(ev, checks.LAYOUT.collector_unit)
    if state.get("ActiveState") != "active" and state.get("UnitFileState") not in (
        "masked",
        "masked-runtime",
    ):
        ev.run(f"systemctl start {checks.LAYOUT.collector_unit}", timeout_s=120)


def test_api_unreachable_then_back(gate_evidence, hosts_override):
    ev = gate_evidence
    settings = checks.collector_settings(ev)
    start = checks.require_active(ev)
    names = checks.api_hostnames(settings)
    ev.fact("api_hostnames", names)
    checks.clear_of_hour_boundary(ev, margin_s=90.0)
    hashes_before = checks.sealed_hashes(checks.sealed_files(ev, settings.data_dir))

    # 1. Break name resolution, restart under it.
    added = ev.probe("hosts-add", checks.HOSTS_MARKER, checks.DEAD_ADDRESS, *names)
    ev.fact("hosts_override", added)
    resolved = ev.run(f"getent hosts {names[0]}")
    assert checks.DEAD_ADDRESS in resolved.stdout, f"override not effective: {resolved.stdout.strip()}"
    outage_ms = checks.host_now_ms(ev)
    result = ev.run(f"systemctl restart {checks.LAYOUT.collector_unit}", timeout_s=180)
    assert result.rc == 0, f"systemctl restart failed: {result.stderr.strip()}"
    in_outage = checks.wait_active(ev, "collector running in the outage", other_than_pid=start["MainPID"])
    # The restart sealed the file open before the outage: it, and everything
    # sealed earlier, must come out of the outage unchanged.
    sealed_at_outage = checks.sealed_hashes(checks.sealed_files(ev, settings.data_dir))
    ev.fact("sealed_at_outage_start", len(sealed_at_outage))
    assert sealed_at_outage, "no sealed file to check across the outage"

    def failures_logged() -> object:
        # One signal per outage: an ``outage_started`` warning (per-attempt lines are debug
        # now); per-attempt lines of a collector logging at debug count as well.
        lines = checks.journal_since(ev, checks.LAYOUT.collector_unit, outage_ms / 1000)
        outages = [x for x in lines if x.get("event") == "outage_started"]
        failed = [
            x
            for x in lines
            if x.get("event") == "discovery_failed"
            or (x.get("event") == "request_failed" and x.get("error") in NETWORK_ERRORS)
        ]
        if outages or len(failed) >= 2:
            return outages + failed
        return Pending(f"no outage_started line, {len(failed)} failure lines in the journal")

    failed = ev.poll("failures in the journal", failures_logged, deadline_s=60)
    ev.fact("journal_failures", {"count": len(failed), "first": failed[0], "last": failed[-1]})

    # 2. The service stays up through the outage: same PID, no automatic restart.
    watch_s = OUTAGE_RETRIES * max(checks.DISCOVERY_RETRY_S, settings.interval_s)

    def steady() -> None:
        state = checks.unit_state(ev, checks.LAYOUT.collector_unit)
        assert state["ActiveState"] == "active", f"collector {state['ActiveState']} during the outage"
        assert state["MainPID"] == in_outage["MainPID"], "collector restarted during the outage"
        assert state["NRestarts"] == in_outage["NRestarts"], "systemd restarted the collector (crash)"

    ev.hold("collector steady through the outage", steady, duration_s=watch_s, every_s=2.0)

    # 3. Undo; rows must come back within two intervals.
    removed = ev.probe("hosts-remove", checks.HOSTS_MARKER)
    ev.fact("hosts_restored", removed)
    assert removed["sha256_after"] == added["sha256_before"], "/etc/hosts differs from before the gate"
    restored_ms = checks.host_now_ms(ev)
    recovery_s = 2 * max(settings.interval_s, checks.DISCOVERY_RETRY_S)
    ev.fact("recovery_deadline_s", recovery_s)
    back = checks.wait_rows(
        ev,
        settings,
        restored_ms,
        "new rows after the network is back",
        deadline_s=recovery_s,
        every_series=False,
    )
    ev.fact("first_row_after_restore_s", round((back["newest_recv_ms"] - restored_ms) / 1000, 3))

    # 4. A clean restart seals the outage run's file (the writer opens the partial
    #    with the first rows, but keeps the run's failures for it): its manifest
    #    must record the outage as gaps.
    result = ev.run(f"systemctl restart {checks.LAYOUT.collector_unit}", timeout_s=180)
    assert result.rc == 0, f"systemctl restart failed: {result.stderr.strip()}"
    checks.wait_active(
        ev, "collector active after sealing the outage file", other_than_pid=in_outage["MainPID"]
    )
    listing = checks.sealed_files(ev, settings.data_dir)
    recorded = {}
    for entry in listing["sealed"]:
        if entry["path"] in hashes_before:
            continue
        manifest = entry["manifest"] or {}
        gaps = [g for g in manifest.get("gaps", []) if g.get("cause") in NETWORK_ERRORS]
        errors = sorted({f.get("error") for f in manifest.get("failures", [])})
        recorded[entry["path"]] = {"network_gaps": gaps, "failure_classes": errors}
    ev.fact("manifests_sealed_during_the_gate", recorded)
    assert any(v["network_gaps"] for v in recorded.values()), (
        f"no manifest sealed during the gate records a network gap: {recorded}"
    )

    # 5. Nothing corrupted, and the collector is collecting again.
    checks.assert_unchanged(hashes_before, checks.sealed_hashes(listing))
    checks.assert_unchanged(sealed_at_outage, checks.sealed_hashes(listing))
    checks.wait_rows(ev, settings, checks.host_now_ms(ev), "rows for every series after the gate")
    ev.fact("verify", checks.verify_data(ev, settings.data_dir))
