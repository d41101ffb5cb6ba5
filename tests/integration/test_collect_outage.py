"""An API outage is one signal, not a flood: the real process through a 25-second outage.

What ``journalctl -p warning`` would show is the lines of level warning or above
on stdout (the journal takes the level as the priority). They must be a handful,
however many tokens and attempts failed, and tell the outage's start and end
with the counts of its failure records; every failure record is still on disk,
one per failed attempt (the debug ``request_failed`` lines count them).
"""

import time
from collections import Counter

import pytest
from orderbooks.api.outages import FAMILIES
from orderbooks.exitcodes import ExitCode
from orderbooks.timefmt import parse_iso_ms

OUTAGE_SECONDS = 25
#: Outage lines: started and ended per API and family (two APIs, at most two families each
#: here). No summary: they come every 5 minutes.
MAX_OUTAGE_LINES = 8
#: Any other warning the run may give: the health monitor's alarm (once when raised) and a
#: cycle that overran now and then. None of them is per attempt or per token.
MAX_OTHER_WARNINGS = 6
#: Warnings about the simulator's catalog, whatever the faults: one per decoy or malformed
#: market listed (``market_skipped``), so their number depends on the time of day only.
CATALOG_WARNINGS = ("market_skipped",)
CLOB_ENDPOINTS = ("POST /books", "GET /book")
#: What the simulator's faults become (tests/integration/conftest.py, FAULT_CLASSES).
CASES = {
    "down": ({"mode": "down"}, {("clob", "unreachable"), ("gamma", "unreachable")}),
    "5xx": ({"mode": "5xx", "rate": 1.0, "target": "all", "retry_after": 1}, None),
}


def api_of(record):
    return "clob" if record.get("endpoint") in CLOB_ENDPOINTS else "gamma"


def warnings_of(logs):
    """What ``journalctl -p warning`` would show, less the simulator catalog's own warnings."""
    return [
        e
        for e in logs
        if e["level"] in ("warning", "error", "critical") and e["event"] not in CATALOG_WARNINGS
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_outage_is_a_few_warning_lines_and_every_failure_record_is_kept(sim, collect, case):
    faults, expected = CASES[case]
    run = collect(
        sim,
        *("--interval", "0.5", "--series", "10684,10192", "--upcoming", "2"),
        *("--read-timeout", "1", "--log-level", "debug"),
    )
    time.sleep(8)  # discovery done, books polled
    assert run.proc.poll() is None, run.stderr
    sim.set_faults(**faults)
    time.sleep(OUTAGE_SECONDS)
    sim.set_faults(mode="none")
    time.sleep(15)  # both APIs answer again: CLOB within a cycle, Gamma within a discovery retry
    run.stop()
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr

    logs = run.logs()
    warnings = warnings_of(logs)
    records = run.failures()
    outage_records = [f for f in records if f["error"] in FAMILIES]
    started = [e for e in warnings if e["event"] == "outage_started"]
    ended = [e for e in warnings if e["event"] == "outage_ended"]
    print(f"{len(records)} failure records; warnings: {Counter(e['event'] for e in warnings)}")

    # A handful of warnings for hundreds of failed attempts.
    assert len(outage_records) >= 100, Counter(f["error"] for f in records)
    outage_lines = [e for e in warnings if e["event"].startswith("outage_")]
    assert len(outage_lines) <= MAX_OUTAGE_LINES, [(e["event"], e["api"], e["family"]) for e in outage_lines]
    others = [e["event"] for e in warnings if not e["event"].startswith("outage_")]
    assert len(others) <= MAX_OTHER_WARNINGS, others
    detail = [e for e in logs if e["event"] in ("request_failed", "discovery_failed")]
    assert detail and {e["level"] for e in detail} == {"debug"}
    assert not [e for e in warnings if e["event"] == "outage_continues"]  # nothing open at the stop

    # Started and ended once per API and family, the CLOB and Gamma both.
    kinds = {(e["api"], e["family"]) for e in started}
    assert {api for api, _ in kinds} == {"clob", "gamma"}
    if expected is not None:
        assert kinds == expected
    assert sorted((e["api"], e["family"]) for e in started) == sorted((e["api"], e["family"]) for e in ended)
    for line in started:
        assert line["error"] in FAMILIES and line["message"] and line["since"]

    # The ended lines' counts are the failure records on disk in their span.
    for line in ended:
        first, last = parse_iso_ms(line["since"]), parse_iso_ms(line["last_failure"])
        mine = [
            f
            for f in outage_records
            if api_of(f) == line["api"]
            and FAMILIES[f["error"]] == line["family"]
            and (f["status"] is None or f["status"] >= 500 or f["error"] != "http_status")
            and first <= f["t_ms"] <= last
        ]
        assert Counter(f["error"] for f in mine) == Counter(line["failures"]), line
        assert line["attempts"] >= sum(line["failures"].values())
        assert line["duration_s"] >= OUTAGE_SECONDS - 10
        if line["api"] == "clob":
            assert line["tokens"] >= 4  # two series, current and next windows
    # Every failed attempt of the outage is a record on disk: one per debug request_failed line.
    attempts = Counter(
        (e["endpoint"], e["error"]) for e in logs if e["event"] == "request_failed" and e["error"] in FAMILIES
    )
    assert attempts == Counter((f["endpoint"], f["error"]) for f in outage_records)
