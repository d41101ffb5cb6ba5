"""Discovery against the real API's quirks (simulator behaviours), real `orderbooks collect` process.

In each mode every series' windows are found on time and have rows from their
first poll: offset paging refused (keyset only), 1,200 stale open events per
series ahead of the live ones, pre-listed markets with ``enableOrderBook:
false`` whose books open only at the window start. A Gamma that ignores
``series_id`` leaves a ``discovery`` failure record naming the series and a
warning in the log.
"""

import pytest
from orderbooks.exitcodes import ExitCode
from test_collect_rollover import check_rows_against_sim, check_windows_on_time

ALL_SERIES = "10684,10192,10114,10331,41"
INTERVAL_MS = 500
#: A window's first row may come one poll interval plus one second after it starts.
ON_TIME_MS = INTERVAL_MS + 1_000

MODES = {
    "offset_refused": {"offset_sunset": True},
    "stale_open_1200": {"stale_open": 1200},
    "prelisted_book_at_start": {"book_at_start": True, "full_day": True},
}


def check_every_window_from_its_first_poll(sim, rows, series):
    check_windows_on_time(sim, rows, series, ON_TIME_MS)
    first, last = min(r["recv_ms"] for r in rows), max(r["recv_ms"] for r in rows)
    windows = sim.markets_between(first, last)
    for sid in series:
        assert [m for m in windows if m["series"] == sid], f"no window of series {sid} in the run"
    assert [m for m in windows if first < m["start_ms"] < last - 1_000]  # a window opened during the run


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_series_is_found_and_polled_from_each_windows_first_poll(sim, collect, mode):
    sim.set_behaviour(**MODES[mode])
    run = collect(sim, "--interval", "0.5", "--duration", "14", "--series", ALL_SERIES)
    assert run.wait(timeout=90) == ExitCode.OK, run.stderr
    rows = run.rows()
    assert rows
    check_rows_against_sim(sim, rows)
    check_every_window_from_its_first_poll(sim, rows, ALL_SERIES.split(","))
    requests = sim.stats()["requests"]
    assert requests.get("GET /events/keyset", 0) >= 5
    assert "GET /events" not in requests  # the documented listing only, no offset paging
    assert not [f for f in run.failures() if f["error"] == "discovery"]
    if mode == "prelisted_book_at_start":
        # a 404 of a book that is not open yet is no failure (only closed books 404 as failures)
        assert not [f for f in run.failures() if f["status"] == 404 and f["error"] != "book_closed"]


def test_a_gamma_that_ignores_series_id_leaves_a_discovery_failure_and_a_warning(sim, collect):
    sim.set_behaviour(ignore_series_id=True)
    run = collect(sim, "--interval", "0.5", "--duration", "4", "--series", "10684")
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    blind = [f for f in run.failures() if f["error"] == "discovery"]
    assert blind and all(f["series"] == "10684" for f in blind)
    assert "none of series 10684" in blind[0]["message"]
    warnings = [e for e in run.logs() if e["event"] == "discovery_failed" and e["level"] == "warning"]
    assert warnings and warnings[0]["series"] == "10684"
    assert not run.rows()  # nothing unrelated was polled


def test_without_keyset_it_falls_back_to_plain_events_and_says_so(sim, collect):
    sim.set_behaviour(keyset=False)
    run = collect(sim, "--interval", "0.5", "--duration", "6", "--series", "10684")
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    assert run.rows()
    notice = [f for f in run.failures() if f["error"] == "discovery"]
    assert len(notice) == 1 and "falling back" in notice[0]["message"]
    assert [e for e in run.logs() if e["event"] == "discovery_keyset_unavailable" and e["level"] == "warning"]
    assert sim.stats()["requests"].get("GET /events", 0) >= 1
