"""The store's read API beyond sealed files: the data folder as a whole, the health state file,
run manifests as a set, the offload results, tolerant reads for reports, merged hour files."""

from __future__ import annotations

import gzip
import os
import stat

import orjson
import pytest
from orderbooks.config import ConfigError
from orderbooks.exitcodes import ExitCode
from orderbooks.store import folder, health_state, manifest, merged, paths, results, run_manifests, survey
from orderbooks.store.hashing import hash_file
from testkit.sealed_files import make_partial, make_sealed

HOUR = paths.HourKey("2026-01-02", "03")
RUN_ID = "20260102T030000Z-abcdef"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- the folder


def test_unwritable_data_dir_is_an_environment_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as info:
        folder.check_data_dir(blocker / "sub")
    assert info.value.code == ExitCode.ENVIRONMENT
    assert "not writable" in str(info.value)


def test_data_dir_is_created_and_probe_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b"
    folder.check_data_dir(target)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_folder_questions(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    assert folder.is_folder(tmp_path) and folder.is_readable_folder(tmp_path)
    assert not folder.is_folder(afile) and not folder.is_readable_folder(afile)
    assert not folder.is_folder(tmp_path / "missing")
    assert not folder.holds_data(tmp_path)
    (tmp_path / paths.RUNS_DIR).mkdir()
    assert folder.holds_data(tmp_path)
    other = tmp_path / "other"
    (other / paths.RAW_DIR).mkdir(parents=True)
    assert folder.holds_data(other)


# ---------------------------------------------------------------- the health state file


def test_health_state_round_trip_with_modes(tmp_path):
    assert health_state.read_state(tmp_path) is None
    health_state.write_state(tmp_path, {"schema": 1, "cycles": 3})
    path = tmp_path / "state" / "collector.json"
    assert health_state.state_path(tmp_path) == path
    assert orjson.loads(path.read_bytes()) == {"schema": 1, "cycles": 3}
    assert _mode(path) == 0o640
    assert _mode(path.parent) == 0o750 & ~_umask()
    assert health_state.read_state(tmp_path) == {"schema": 1, "cycles": 3}
    assert [p.name for p in path.parent.iterdir()] == ["collector.json"]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@pytest.mark.parametrize("content", [b'{"torn', b"[1, 2]"])
def test_health_state_torn_or_foreign_is_none(tmp_path, content):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "collector.json").write_bytes(content)
    assert health_state.read_state(tmp_path) is None


# ---------------------------------------------------------------- run manifests


def _run(run_id: str) -> dict:
    return manifest.new_run_manifest(run_id=run_id, start_ms=1, host="h", version="v", run_info={})


def test_run_manifests_written_listed_and_loaded(tmp_path):
    assert run_manifests.paths_in(tmp_path) == []
    assert run_manifests.load_all(tmp_path) == []
    second = run_manifests.write(tmp_path, _run("20260102T030000Z-bbbbbb"))
    first = run_manifests.write(tmp_path, _run("20260102T030000Z-aaaaaa"))
    (tmp_path / paths.RUNS_DIR / "20260102T030000Z-cccccc.json").write_bytes(b"{not json")
    (tmp_path / paths.RUNS_DIR / "20260102T030000Z-aaaaaa.lock").write_bytes(b"")
    assert first == tmp_path / "runs" / "20260102T030000Z-aaaaaa.json"
    assert _mode(first) == manifest.MANIFEST_MODE
    assert [p.name for p in run_manifests.paths_in(tmp_path)] == [
        first.name,
        second.name,
        "20260102T030000Z-cccccc.json",
    ]
    assert [r["run_id"] for r in run_manifests.load_all(tmp_path)] == [
        "20260102T030000Z-aaaaaa",
        "20260102T030000Z-bbbbbb",
    ]
    assert run_manifests.load(tmp_path, "20260102T030000Z-bbbbbb") == _run("20260102T030000Z-bbbbbb")
    assert run_manifests.load(tmp_path, "20260102T030000Z-cccccc") is None
    assert run_manifests.load(tmp_path, "20260102T030000Z-dddddd") is None


# ---------------------------------------------------------------- offload results


def test_upload_run_and_last_results(tmp_path):
    assert results.read_last_upload(tmp_path) is None
    assert results.read_last_prune(tmp_path) is None
    target = results.write_upload_run(tmp_path, "20260102T030000Z-abcdef", {"result": "ok"})
    assert target == tmp_path / "uploads" / "runs" / "20260102T030000Z-abcdef.json"
    assert orjson.loads(target.read_bytes()) == {"result": "ok"}
    assert target.read_bytes() == (tmp_path / "uploads" / "last-upload.json").read_bytes()
    assert _mode(target) == 0o640
    assert results.read_last_upload(tmp_path) == {"result": "ok"}
    results.write_last_upload(tmp_path, {"result": "precondition_failed"})
    assert results.read_last_upload(tmp_path) == {"result": "precondition_failed"}
    (tmp_path / "uploads" / "last-prune.json").write_bytes(b'"a string"')
    assert results.read_last_prune(tmp_path) is None


def test_last_upload_without_a_run_creates_the_uploads_folder(tmp_path):
    results.write_last_upload(tmp_path / "fresh", {"result": "precondition_failed"})
    assert sorted(p.name for p in (tmp_path / "fresh" / "uploads").iterdir()) == ["last-upload.json"]


# ---------------------------------------------------------------- tolerant reads for reports


def test_survey_reads_manifests_as_written_and_skips_the_unreadable(tmp_path):
    made = make_sealed(tmp_path, HOUR, run_id="20260102T030000Z-aaaaaa")
    document = orjson.loads(made.manifest.read_bytes())
    assert survey.manifest_beside(made.data) == document
    partial = make_partial(tmp_path, HOUR)
    assert survey.manifest_beside(partial) is None  # no manifest beside an open file
    foreign = made.manifest.with_name("orderbooks-2026-01-02T03Z-20260102T030000Z-ffffff.manifest.json")
    foreign.write_bytes(b"[]")
    torn = made.manifest.with_name("orderbooks-2026-01-02T03Z-20260102T030000Z-eeeeee.manifest.json")
    torn.write_bytes(b"{")
    # A manifest that is valid JSON but would fail the strict loader is still returned as written.
    odd = made.manifest.with_name("orderbooks-2026-01-02T03Z-20260102T030000Z-dddddd.manifest.json")
    odd.write_bytes(b'{"schema": 99}')
    assert list(survey.book_manifests(tmp_path)) == [(made.manifest, document), (odd, {"schema": 99})]
    with pytest.raises(ValueError):
        survey.manifest_beside(tmp_path / "notes.txt")


def test_survey_sizes_and_times(tmp_path):
    made = make_sealed(tmp_path, HOUR)
    os.utime(made.data, (1_700_000_000.25, 1_700_000_000.25))
    os.utime(made.manifest, (1_700_000_001.5, 1_700_000_001.5))
    assert survey.file_size(made.data) == made.bytes
    assert survey.modified_ms(made.manifest) == 1_700_000_001_500
    assert list(survey.data_file_stats(tmp_path)) == [(1_700_000_000.25, made.bytes)]
    with pytest.raises(FileNotFoundError):
        survey.file_size(tmp_path / "gone")


# ---------------------------------------------------------------- merged hour files


def test_merged_hour_file_is_written_like_the_collectors(tmp_path):
    out = merged.HourFileWriter(tmp_path, HOUR, RUN_ID)
    assert out.partial == paths.partial_path(tmp_path, HOUR, RUN_ID)
    assert out.partial.parent.is_dir()
    with out:
        out.write_member([b'{"a":1}\n', b'{"a":2}\n'])
        out.write_member([b'{"a":3}\n'])
    assert _mode(out.partial) == 0o640
    hashes = out.hashes()
    assert hashes == hash_file(out.partial)
    out.seal({"file": out.final.name, "bytes": hashes.size})
    assert not out.partial.exists()
    assert gzip.decompress(out.final.read_bytes()) == b'{"a":1}\n{"a":2}\n{"a":3}\n'
    written = orjson.loads(paths.manifest_path_for(out.final).read_bytes())
    assert written == {"file": out.final.name, "bytes": hashes.size}


def test_merged_hour_file_never_overwrites_and_keeps_a_partial_on_error(tmp_path):
    out = merged.HourFileWriter(tmp_path, HOUR, RUN_ID)
    with pytest.raises(RuntimeError), out:
        out.write_member([b'{"a":1}\n'])
        raise RuntimeError("boom")
    assert out.partial.is_file()
    with pytest.raises(FileExistsError), merged.HourFileWriter(tmp_path, HOUR, RUN_ID):
        pass
    assert not out.final.exists()
