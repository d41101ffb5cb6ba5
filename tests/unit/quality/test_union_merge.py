"""orderbooks quality over several copies (quality/union.py) and orderbooks merge (merge.py), on runs
written by the real SnapshotWriter (tools/testkit/fabricate.py): two hosts, different outages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from orderbooks import cli, quality
from orderbooks.exitcodes import ExitCode
from orderbooks.quality import merge, union
from orderbooks.records import CycleResult
from orderbooks.store import verify
from orderbooks.store.writer import SnapshotWriter
from testkit.fabricate import T0_MS, Scenario, write_run
from testkit.fake_clock import FakeClock
from testkit.sealed_files import read_rows

FIVE_MIN = {"10684": 300}
CYCLES = 600


def two_hosts(tmp_path: Path, *, change_every: int = 1) -> tuple[Path, Path]:
    """Host a is down for cycles 100-199, host b (polling 300 ms later) for 300-399."""
    a, b = tmp_path / "a", tmp_path / "b"
    outage = [(100, 200, "timeout")]
    write_run(a, Scenario(cycles=CYCLES, series=FIVE_MIN, outages=outage, change_every=change_every))
    write_run(
        b,
        Scenario(
            start_ms=T0_MS + 300, cycles=CYCLES, series=FIVE_MIN, outages=[(300, 400, "connect")],
            change_every=change_every,
        ),
    )  # fmt: skip
    return a, b


def test_union_covers_what_any_source_has(tmp_path: Path) -> None:
    a, b = two_hosts(tmp_path)

    report = union.analyze_union([a, b])

    by_source = {s["source"]: s for s in report["sources"]}
    assert set(by_source) == {"a", "b"}
    for source in by_source.values():
        assert source["totals"]["coverage_pct"] == pytest.approx(100 * 500 / 600, abs=0.5)
        # the same totals as the folder's own report
        assert source["totals"] == quality.analyze(Path(source["data_dir"]))["totals"]
    assert report["totals"]["coverage_pct"] >= 99.5
    assert report["totals"]["gaps"] == 0
    assert report["union"]["sources"] == ["a", "b"]


def test_union_gap_lists_the_missing_sources_and_cause(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, Scenario(cycles=CYCLES, series=FIVE_MIN, outages=[(100, 250, "timeout")]))
    outage = [(200, 300, "blocked")]
    write_run(b, Scenario(start_ms=T0_MS + 300, cycles=CYCLES, series=FIVE_MIN, outages=outage))

    report = union.analyze_union([a, b])

    gaps = report["gaps"]
    assert len(gaps) == 1, gaps
    gap = gaps[0]
    assert 45 <= gap["duration_s"] <= 52  # cycles 200-249 missed by both
    assert gap["missing_sources"] == ["a", "b"]
    assert set(gap["causes"]) >= {"timeout", "blocked"}
    assert report["totals"]["coverage_pct"] == pytest.approx(100 * 550 / 600, abs=0.5)


def test_one_folder_reports_exactly_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = two_hosts(tmp_path)
    capsys.readouterr()  # the writer's log lines
    assert cli.main(["quality", str(a), "--json"], environ={}) == ExitCode.OK
    report = orjson.loads(capsys.readouterr().out)
    assert "sources" not in report
    assert report["totals"] == quality.analyze(a)["totals"]


def test_cli_quality_several_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_hosts(tmp_path)
    capsys.readouterr()
    assert cli.main(["quality", str(a), str(b), "--json"], environ={}) == ExitCode.OK
    report = orjson.loads(capsys.readouterr().out)
    assert [s["source"] for s in report["sources"]] == ["a", "b"]
    assert report["totals"]["coverage_pct"] >= 99.5
    assert cli.main(["quality", str(a), str(b)], environ={}) == ExitCode.OK
    text = capsys.readouterr().out
    assert text.startswith("sources")
    assert cli.main(["quality", str(a), str(tmp_path / "nope")], environ={}) == ExitCode.ENVIRONMENT


@pytest.mark.parametrize("change_every", [1, 5])
def test_merge_writes_each_state_once_and_verifies(tmp_path: Path, change_every: int) -> None:
    a, b = two_hosts(tmp_path, change_every=change_every)
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    out = tmp_path / "merged"

    result = merge.merge(out, [a, b], now_ms=T0_MS + 3_600_000)

    assert {p: p.read_bytes() for p in sorted(a.rglob("*")) if p.is_file()} == {
        p: v for p, v in before.items() if p.is_relative_to(a)
    }  # sources untouched
    summary = verify.verify_data_dir(out)
    assert summary["ok"], summary["problems"]
    rows = read_rows(out)
    keys = Counter((r["token_id"], r["book"]["timestamp"], r["book"]["hash"]) for r in rows)
    assert max(keys.values()) == 1
    source_rows = read_rows(a) + read_rows(b)
    assert set(keys) == {(r["token_id"], r["book"]["timestamp"], r["book"]["hash"]) for r in source_rows}
    assert sum(len(r["observations"]) for r in rows) == len(source_rows)  # no sighting lost
    assert [r["recv_ms"] for r in rows] == sorted(r["recv_ms"] for r in rows)
    assert {o["source"] for r in rows for o in r["observations"]} == {"a", "b"}
    assert result.hash_conflicts == result.outcome_conflicts == 0
    run = orjson.loads(next((out / "runs").glob("*.json")).read_bytes())
    assert run["derived"]["kind"] == "merge"
    assert [s["source"] for s in run["derived"]["sources"]] == ["a", "b"]
    for manifest_file in (out / "raw").rglob("*.manifest.json"):
        assert orjson.loads(manifest_file.read_bytes())["derived"]["kind"] == "merge"

    merged_report = union.analyze_union([out])
    union_report = union.analyze_union([a, b])
    assert merged_report["totals"]["coverage_pct"] == pytest.approx(
        union_report["totals"]["coverage_pct"], abs=1.0
    )
    assert merged_report["totals"]["observed_cycles"] == union_report["totals"]["observed_cycles"]


def test_merge_reports_conflicts_and_keeps_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_hosts(tmp_path)
    # host b saw the other hash for one (token, timestamp) and swapped one token's outcome
    rows = read_rows(b)
    victim = rows[10]
    for row in rows:
        if row["token_id"] == victim["token_id"] and row["book"]["timestamp"] == victim["book"]["timestamp"]:
            row["book"]["hash"] = "f" * 40
        if row["token_id"] == victim["token_id"]:
            row["outcome"] = "Down" if row["outcome"] == "Up" else "Up"
    c = tmp_path / "c"
    write_rows_as_run(c, rows)
    capsys.readouterr()

    code = cli.main(["merge", "--out", str(tmp_path / "m"), str(a), str(c), "--json"], environ={})

    assert code == ExitCode.FAILED
    summary = orjson.loads(capsys.readouterr().out)
    assert summary["hash_conflicts"] >= 1
    assert summary["outcome_conflicts"] == 1
    kinds = {c["conflict"] for c in summary["conflicts"]}
    assert kinds == {"hash", "outcome"}
    merged = read_rows(tmp_path / "m")
    assert {r["book"]["hash"] for r in merged if r["token_id"] == victim["token_id"]} >= {
        victim["book"]["hash"],
        "f" * 40,
    }
    assert verify.verify_data_dir(tmp_path / "m")["ok"]


def write_rows_as_run(data_dir: Path, rows: list[dict]) -> None:
    """*rows* written through the real writer, one cycle per distinct cycle number."""
    clock = FakeClock(wall_ms=rows[0]["recv_ms"], monotonic=1000.0)
    writer = SnapshotWriter(
        data_dir, run_id="20260512T100000Z-c0ffee", clock=clock, collector_version="test", host="edited",
        flush_seconds=0, compress_level=6, disk_floor_bytes=0, run_info={"settings": {"interval": 1.0}},
    )  # fmt: skip
    by_cycle: dict[int, list[dict]] = {}
    for row in rows:
        by_cycle.setdefault(row["cycle"], []).append(row)
    for cycle, cycle_rows in sorted(by_cycle.items()):
        clock._wall_ms = cycle_rows[0]["recv_ms"]
        clock._mono = 1000.0 + (clock._wall_ms - rows[0]["recv_ms"]) / 1000
        writer.write_cycle(CycleResult(cycle=cycle, started_ms=cycle_rows[0]["recv_ms"] - 5, rows=cycle_rows))
    writer.close("duration")


def test_merge_refuses_a_folder_with_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_hosts(tmp_path)
    assert cli.main(["merge", "--out", str(a), str(b)], environ={}) == ExitCode.ENVIRONMENT
    assert "already holds a data folder" in capsys.readouterr().err


def test_a_state_seen_on_both_sides_of_an_hour_boundary_is_one_row(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    start = T0_MS + 3_600_000 - 45_000  # 45 s before the hour; books change every 30 cycles
    four_hours = {"10331": 14400}  # a window open on both sides of the hour
    write_run(a, Scenario(start_ms=start, cycles=90, series=four_hours, change_every=30))
    write_run(b, Scenario(start_ms=start + 300, cycles=90, series=four_hours, change_every=30))

    result = merge.merge(tmp_path / "m", [a, b], now_ms=start + 7_200_000)

    assert len(result.files) == 2  # two hours
    rows = read_rows(tmp_path / "m")
    keys = Counter((r["token_id"], r["book"]["timestamp"], r["book"]["hash"]) for r in rows)
    assert max(keys.values()) == 1
    assert result.split_states == 0
    straddling = [r for r in rows if len({o["recv_ms"] // 3_600_000 for o in r["observations"]}) == 2]
    assert straddling  # states whose observations straddle the boundary stayed one row
    assert sum(len(r["observations"]) for r in rows) == len(read_rows(a)) + len(read_rows(b))
    assert verify.verify_data_dir(tmp_path / "m")["ok"]
    assert (
        union.analyze_union([tmp_path / "m"])["totals"]["observed_cycles"]
        == (union.analyze_union([a, b])["totals"]["observed_cycles"])
    )
