"""`orderbooks merge` never turns damaged or absent input into clean-looking output (issue 22):
damaged files are left out and reported, wrong folders are refused, market documents are kept.
Sources are written by the real SnapshotWriter (tools/testkit/fabricate.py) and DocsFile."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import orjson
import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths, verify
from orderbooks.store.market_files import DocsFile
from testkit.fabricate import T0_MS, Scenario, write_run
from testkit.fake_clock import FakeClock
from testkit.sealed_files import read_rows

#: Four hours of one five-minute series, one sealed file per hour.
FOUR_HOURS = Scenario(cycles=240, interval_s=60.0, series={"10684": 300})


def run_merge(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["merge", *argv], environ={})
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write_run(tmp_path / "a", FOUR_HOURS)
    assert len(paths.iter_files(tmp_path / "a", paths.DATA_SUFFIX)) == 4
    return tmp_path / "a"


def test_an_empty_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _out, err = run_merge(capsys, "--out", str(tmp_path / "m"), str(tmp_path / "empty"))
    assert code == ExitCode.ENVIRONMENT
    assert "holds no sealed file" in err
    assert not (tmp_path / "m" / paths.RUNS_DIR).exists()


def test_a_folder_above_the_data_folder_is_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    above = tmp_path / "above"
    shutil.move(source, above / "a")
    code, _out, err = run_merge(capsys, "--out", str(tmp_path / "m"), str(above))
    assert code == ExitCode.ENVIRONMENT
    assert f"source {above} is not a data folder" in err and f"did you mean {above / 'a'}?" in err


def test_damaged_input_is_left_out_and_reported(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    truncated, flipped, broken, good = paths.iter_files(copy, paths.DATA_SUFFIX)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    paths.manifest_path_for(broken).write_text('{"kind": "orderbooks.file", "schema": 1, "rows": ')
    out_dir = tmp_path / "m"

    code, out, err = run_merge(capsys, "--out", str(out_dir), str(copy), "--json")

    assert code == ExitCode.FAILED
    summary = json.loads(out)
    left_out = {item["path"]: item for item in summary["left_out"]}
    assert set(left_out) == {paths.relative(copy, p) for p in (truncated, flipped, broken)}
    assert all(item["source"] == "copy" and item["problems"] for item in left_out.values())
    assert "3 input files left out" in err
    assert len(summary["files"]) == 1  # the good hour is still merged
    merged_rows = read_rows(out_dir)
    assert merged_rows and {r["recv_ms"] // 3_600_000 * 3_600_000 for r in merged_rows} == {
        paths.hour_start_ms(good)
    }
    assert verify.verify_data_dir(out_dir)["ok"]  # what was written is sound, and only that

    code, out, _err = run_merge(capsys, "--out", str(tmp_path / "m2"), str(copy))
    assert code == ExitCode.FAILED
    assert f"left out copy:{paths.relative(copy, truncated)}: does not match its manifest" in out


def test_a_partial_is_left_out_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "a", FOUR_HOURS, close=False)  # three sealed hours and the open fourth
    assert len(paths.iter_files(tmp_path / "a", paths.PARTIAL_SUFFIX)) == 1
    code, out, err = run_merge(capsys, "--out", str(tmp_path / "m"), str(tmp_path / "a"))
    assert code == ExitCode.FAILED, err
    assert "not sealed" in out and "1 input files left out" in err
    assert len(paths.iter_files(tmp_path / "m", paths.DATA_SUFFIX)) == 3


@pytest.mark.parametrize("spelling", ["same", "relative", "link"])
def test_the_same_source_twice_is_refused(
    spelling: str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    again = str(source)
    if spelling == "relative":
        monkeypatch.chdir(tmp_path)
        again = "./a/../a"
    elif spelling == "link":
        (tmp_path / "link").symlink_to(source)
        again = str(tmp_path / "link")
    code, _out, err = run_merge(capsys, "--out", str(tmp_path / "m"), str(source), again)
    assert code == ExitCode.USAGE
    assert f"source {Path(again)} is the same folder as source {source}" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("nesting", ["output inside a source", "source inside the output"])
def test_nested_output_and_source_are_refused(
    nesting: str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = source / "merged" if nesting == "output inside a source" else tmp_path
    code, _out, err = run_merge(capsys, "--out", str(out), str(source))
    assert code == ExitCode.USAGE
    if nesting == "output inside a source":
        assert f"the output folder {out} lies inside the source {source}" in err
        assert not out.exists()
    else:
        assert f"the source {source} lies inside the output folder {out}" in err


def doc(n: int, recv_ms: int) -> dict:
    return {
        "schema": 1, "kind": "first_seen", "recv_ms": recv_ms, "series": "10684",
        "slug": f"btc-updown-5m-{n}", "condition_id": f"0x{n}", "market_id": str(n),
        "window_start": "2026-05-12T10:00:00Z", "window_end": "2026-05-12T10:05:00Z",
        "tokens": {f"{n}1": "Up", f"{n}2": "Down"}, "source": "GET /events/keyset",
        "market": {"id": str(n), "conditionId": f"0x{n}", "closed": False},
    }  # fmt: skip


def write_docs(data_dir: Path, run_id: str, docs: list[dict]) -> None:
    files = DocsFile(data_dir, run_id=run_id, clock=FakeClock(wall_ms=T0_MS + 60_000), host="h", version="t")
    for item in docs:
        files.append(item)
    files.close()


def test_market_documents_are_kept_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, Scenario(cycles=30, series={"10684": 300}))
    write_run(b, Scenario(start_ms=T0_MS + 300, cycles=30, series={"10684": 300}))
    shared = doc(1, T0_MS + 1000)
    write_docs(a, "20260512T100000Z-aaaaaa", [shared, doc(2, T0_MS + 2000)])
    write_docs(b, "20260512T100000Z-bbbbbb", [shared, doc(3, T0_MS + 3000)])
    out_dir = tmp_path / "m"

    code, out, _err = run_merge(capsys, "--out", str(out_dir), str(a), str(b), "--json")

    assert code == ExitCode.OK
    summary = json.loads(out)
    assert summary["documents"] == 3 and len(summary["market_files"]) == 1
    merged_file = out_dir / summary["market_files"][0]
    assert merged_file.is_file() and merged_file.is_relative_to(out_dir / paths.MARKETS_DIR)
    checked = verify.verify_data_dir(out_dir)
    assert checked["ok"], checked["problems"]
    manifest = orjson.loads(paths.manifest_path_for(merged_file).read_bytes())
    assert manifest["records"] == 3 and manifest["derived"]["kind"] == "merge"
    assert os.stat(merged_file).st_size > 0
