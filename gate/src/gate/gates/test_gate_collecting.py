"""Gate 2, collecting: rows are being written for every configured series, the
newest rows are recent and valid, and everything on disk verifies."""

import pytest

from gate import checks

pytestmark = [pytest.mark.host, pytest.mark.gate("collecting")]


def test_recent_valid_rows_for_every_series(gate_evidence):
    ev = gate_evidence
    checks.require_active(ev)
    settings = checks.collector_settings(ev)
    freshness_s = max(3 * settings.interval_s, 10.0)
    since_ms = checks.host_now_ms(ev) - int(freshness_s * 1000)
    found = checks.wait_rows(ev, settings, since_ms, f"rows of the last {freshness_s:.0f} s for every series")
    now_ms = found["now_ms"]
    ev.fact(
        "series",
        {
            name: {
                "rows": info["rows"],
                "newest_row_age_s": round((now_ms - info["last_recv_ms"]) / 1000, 3),
                "markets": info["slugs"],
            }
            for name, info in sorted(found["series"].items())
        },
    )
    ev.fact("newest_row_age_s", round((now_ms - found["newest_recv_ms"]) / 1000, 3))
    assert now_ms - found["newest_recv_ms"] <= freshness_s * 1000, "newest row is not recent"


def test_everything_on_disk_verifies(gate_evidence):
    ev = gate_evidence
    settings = checks.collector_settings(ev)
    summary = checks.verify_data(ev, settings.data_dir)
    ev.fact("verify", summary)
    listing = checks.sealed_files(ev, settings.data_dir)
    mismatched = [
        e["path"]
        for e in listing["sealed"]
        if not e["manifest"] or e["manifest"].get("sha256") != e["sha256"]
    ]
    ev.fact("sealed_files", len(listing["sealed"]))
    ev.fact("partials", [p["path"] for p in listing["partials"]])
    ev.fact("quarantined", listing["quarantine"])
    assert not mismatched, f"sealed files whose manifest sha256 differs or is missing: {mismatched[:5]}"
