"""The quality package's shape (modules under 400 lines, no print()) and the contract between
its accumulating and its reporting halves, on runs written by the real SnapshotWriter."""

from __future__ import annotations

import ast
from pathlib import Path

import orderbooks.quality
from orderbooks.quality import reading, report, units
from orderbooks.quality.analysis import Analysis
from testkit.fabricate import T0_MS, Scenario, write_run

PACKAGE = Path(orderbooks.quality.__file__).parent
MAX_LINES = 400


def modules() -> list[Path]:
    found = sorted(PACKAGE.glob("*.py"))
    assert len(found) >= 8, found  # reading, analysis, gaps, report, render, folder, union, units...
    return found


def test_every_module_is_under_the_line_limit() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in modules()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_module_prints() -> None:
    calls = [
        f"{path.name}:{node.lineno}"
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    ]
    assert calls == []


def fed_analysis(data_dir: Path) -> Analysis:
    analysis = Analysis(data_dir)
    for path in reading.data_files(data_dir):
        analysis.add_file(path)
    return analysis


def test_building_the_report_leaves_the_analysis_as_it_was(tmp_path: Path) -> None:
    # A run that starts late in its window and ends early (edge gaps), with an outage, two
    # intervals (a problem line) and a series configured but never collected (missed windows):
    # everything the report adds of its own.
    write_run(
        tmp_path,
        Scenario(
            start_ms=T0_MS + 60_000, cycles=120, series={"10684": 300}, outages=[(30, 40, "timeout")],
            run_series=("10684", "10192"),
        ),
    )  # fmt: skip
    write_run(tmp_path, Scenario(start_ms=T0_MS + 240_000, cycles=50, interval_s=2.0, series={"10684": 300}))
    analysis = fed_analysis(tmp_path)
    gaps_before = {key: list(found) for key, found in analysis.token_gaps.items()}
    problems_before = list(analysis.problems)

    first = report.public(report.build(analysis))
    second = report.public(report.build(analysis))

    assert first == second
    assert {key: list(found) for key, found in analysis.token_gaps.items()} == gaps_before
    assert analysis.problems == problems_before
    causes = {g["cause"] for g in first["gaps"]}
    assert {"timeout", "not_running"} <= causes, causes
    assert any("different intervals" in p for p in first["problems"])
    assert first == orderbooks.quality.analyze(tmp_path)


def test_hour_start_is_the_hour_that_contains_a_moment() -> None:
    assert units.hour_start_ms(T0_MS) == T0_MS
    assert units.hour_start_ms(T0_MS + 3_599_999) == T0_MS
    assert units.hour_start_ms(T0_MS + 3_600_000) == T0_MS + 3_600_000


def test_file_hour_and_run_come_from_the_name(tmp_path: Path) -> None:
    run = write_run(tmp_path, Scenario(start_ms=T0_MS + 3_590_000, cycles=20, series={"10684": 300}))
    files = reading.data_files(tmp_path)
    assert [reading.file_hour_ms(p) for p in files] == [T0_MS, T0_MS + 3_600_000]
    assert {reading.file_run_id(p) for p in files} == {run["run_id"]}
    assert reading.file_hour_ms(tmp_path / "raw" / "not-a-data-file.jsonl.gz") is None
    assert reading.files_by_hour(tmp_path) == {T0_MS: files[:1], T0_MS + 3_600_000: files[1:]}
