"""verify (store/verify_reach.py), through `orderbooks verify`: a sealed file deleted with its
manifest is caught by the run manifest that lists it (unless the ledger says it was pruned), and a
folder or file verify may not read is a problem, never skipped (issue 22)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths
from orderbooks.store.ledger import ACTION_PRUNE, PRUNED, Ledger
from testkit.fabricate import T0_MS, Scenario, write_run

#: Two hours of a five-minute series: two sealed hour files in one run.
TWO_HOURS = Scenario(start_ms=T0_MS + 3_000_000, cycles=30, interval_s=60.0, series={"10684": 300})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_run(tmp_path / "data", TWO_HOURS)
    return tmp_path / "data"


def sealed(data_dir: Path) -> list[Path]:
    found = paths.iter_files(data_dir, paths.DATA_SUFFIX)
    assert len(found) == 2, found
    return found


def verify(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["verify", str(data_dir), "--json"], environ={})
    return code, json.loads(capsys.readouterr().out)


def test_a_listed_file_deleted_with_its_manifest_fails(data_dir: Path, capsys) -> None:
    victim = sealed(data_dir)[0]
    rel = paths.relative(data_dir, victim)
    victim.unlink()
    paths.manifest_path_for(victim).unlink()

    code, summary = verify(data_dir, capsys)

    assert code == ExitCode.FAILED
    assert summary["counts"]["listed_missing"] == 1
    run_rel = next(p for p in summary["listed_missing"])["run"]
    assert run_rel.startswith("runs/") and run_rel.endswith(".json")
    assert any(p.startswith(f"{rel}: listed by {run_rel} but missing") for p in summary["problems"])
    assert cli.main(["verify", str(data_dir)], environ={}) == ExitCode.FAILED
    assert "verify FAILED" in capsys.readouterr().out


def test_a_listed_file_the_ledger_says_was_pruned_is_not_missing(data_dir: Path, capsys) -> None:
    victim = sealed(data_dir)[0]
    for path in (victim, paths.manifest_path_for(victim)):
        rel = paths.relative(data_dir, path)
        Ledger(data_dir).append({"action": ACTION_PRUNE, "path": rel, "outcome": PRUNED, "remote": "r:"})
        path.unlink()

    code, summary = verify(data_dir, capsys)

    assert code == ExitCode.OK, summary["problems"]
    assert summary["counts"]["listed_missing"] == 0
    assert summary["counts"]["listed_pruned"] == 1


def test_an_unreadable_hour_folder_is_reported(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = sealed(data_dir)[1].parent
    real_scandir = os.scandir

    def scandir(path=".", *rest):  # what the service user sees of a folder it may not read
        if Path(os.fsdecode(path)) == hidden:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path, *rest)

    hidden.chmod(0o000)  # the real thing for a user other than root; root also needs the stand-in
    monkeypatch.setattr(os, "scandir", scandir)
    try:
        code, summary = verify(data_dir, capsys)
    finally:
        hidden.chmod(0o750)

    assert code == ExitCode.ENVIRONMENT
    rel = paths.relative(data_dir, hidden)
    assert summary["unreadable"] == [{"path": rel, "reason": "Permission denied"}]
    assert f"{rel}: cannot read: Permission denied" in summary["problems"]
    assert summary["counts"]["files"] == 1  # the readable hour is still checked
    assert summary["counts"]["listed_missing"] == 0  # the hidden file is unreadable, not missing
    assert not summary["ok"]


def test_an_unreadable_data_file_is_reported(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = sealed(data_dir)[0]
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != victim and real_access(p, mode, **kw))

    code, summary = verify(data_dir, capsys)

    assert code == ExitCode.ENVIRONMENT
    assert [u["path"] for u in summary["unreadable"]] == [paths.relative(data_dir, victim)]
    assert summary["counts"]["files"] == 1
