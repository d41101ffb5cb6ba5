"""Rollover with 10-second windows, SIGTERM/SIGINT handling, and sealed files (real process + simulator)."""

import signal
import time
from datetime import datetime

import pytest
from orderbooks.exitcodes import ExitCode
from orderbooks.records import ROW_KEYS


def check_rows_against_sim(sim, rows):
    """Every row's token is paired with the simulator's outcome for that token."""
    by_token = {}
    first, last = min(r["recv_ms"] for r in rows), max(r["recv_ms"] for r in rows)
    for m in sim.markets_between(
        first - 4 * 3_600_000, last + 3_600_000, kinds=("btc", "decoy", "malformed")
    ):
        for token, outcome in m["tokens"].items():
            by_token[token] = (outcome, m)
    unknown = sorted({r["token_id"] for r in rows} - set(by_token))
    assert not unknown, f"rows for tokens the simulator never listed: {unknown[:3]}"
    for row in rows:
        outcome, market = by_token[row["token_id"]]
        assert market["kind"] == "btc", (market["kind"], market["slug"])
        assert row["outcome"] == outcome, row["token_id"]
        assert (row["condition_id"], row["series"], row["slug"]) == (
            market["condition_id"],
            market["series"],
            market["slug"],
        )
        assert (row["window_start"], row["window_end"]) == (market["window_start"], market["window_end"])
        assert row["book"]["asset_id"] == row["token_id"]


def check_windows_on_time(sim, rows, series, on_time_ms=1_500):
    """Every window of *series* open a whole second inside the run has rows of both tokens, the first
    within *on_time_ms* of its start (or of the run's first row); returns how many windows were seen."""
    first, last = min(r["recv_ms"] for r in rows), max(r["recv_ms"] for r in rows)
    windows = [m for m in sim.markets_between(first, last) if m["series"] in series]
    for m in windows:
        if m["end_ms"] - 1_000 < first or m["start_ms"] + 1_000 > last:
            continue
        in_window = [
            r
            for r in rows
            if r["condition_id"] == m["condition_id"] and m["start_ms"] <= r["recv_ms"] < m["end_ms"]
        ]
        assert {r["token_id"] for r in in_window} == set(m["tokens"]), m["slug"]
        # A window already open when the run began is due from the run's first cycle.
        polled_from = max(m["start_ms"], first)
        assert min(r["recv_ms"] for r in in_window) - polled_from < on_time_ms, m["slug"]
    return len(windows)


def test_rollover_rows_for_every_open_window(sim, collect):
    run = collect(
        sim,
        "--interval",
        "0.5",
        "--duration",
        "14",
        "--series",
        "10684,10192",
        "--prestart-refresh-seconds",
        "0",
    )
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    rows = run.rows()
    assert rows
    assert set(ROW_KEYS) == set(rows[0])
    check_rows_against_sim(sim, rows)
    # Every 10-second window of series 10684 that was open for a whole second inside the run has rows,
    # from its first cycle after the start: rollover on time, without waiting for a refresh.
    assert check_windows_on_time(sim, rows, ("10684",)) >= 2
    # Discovery ran once at the start (no pre-start refreshes asked for): rollover did not depend on
    # refreshes (default 60 s).
    assert sum(1 for e in run.logs() if e["event"] == "discovery_refreshed") == 2
    manifests = run.manifests()
    assert manifests and sum(m["rows"] for m in manifests) == len(rows)
    assert not list(run.data_dir.rglob("*.partial"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_seals(sim, collect, sig):
    run = collect(sim, "--interval", "0.5", "--series", "10684")
    # A flushed cycle on disk, not a guessed start-up time: the machine may be loaded.
    deadline = time.monotonic() + 120
    while not list(run.data_dir.rglob("*.partial")) and time.monotonic() < deadline:
        assert run.proc.poll() is None, run.stderr  # no --duration: it keeps running
        time.sleep(0.05)
    assert run.proc.poll() is None
    run.stop(sig)
    assert run.wait(timeout=60) == ExitCode.OK, run.stderr
    assert run.rows()
    # "stop after the current cycle": rows received after the signal belong to one cycle at most
    # (a count of cycles, not a wall-clock bound, so CPU load cannot fail it)
    (signal_at,) = [e["ts"] for e in run.logs() if e["event"] == "signal_received"]
    signal_ms = int(datetime.fromisoformat(signal_at.replace("Z", "+00:00")).timestamp() * 1000)
    assert len({r["cycle"] for r in run.rows() if r["recv_ms"] > signal_ms}) <= 1
    assert not list(run.data_dir.rglob("*.partial"))
    manifests = run.manifests()
    assert manifests and sum(m["rows"] for m in manifests) == len(run.rows())
    events = [e["event"] for e in run.logs()]
    assert "signal_received" in events and events[-1] == "collect_done"
    import orjson

    (run_manifest,) = [orjson.loads(p.read_bytes()) for p in (run.data_dir / "runs").glob("*.json")]
    assert run_manifest["exit_reason"] == "stopped"


def test_duration_is_not_cut_short(sim, collect):
    started = time.monotonic()
    run = collect(sim, "--interval", "0.5", "--duration", "6", "--series", "10684")
    assert run.wait(timeout=30) == ExitCode.OK, run.stderr
    assert time.monotonic() - started >= 6.0
    assert max(r["cycle"] for r in run.rows()) >= 10
