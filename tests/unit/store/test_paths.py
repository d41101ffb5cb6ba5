"""Data folder layout and names."""

from pathlib import Path

import pytest
from orderbooks.store import paths


def test_hour_key_from_epoch_and_bounds():
    hour = paths.HourKey.from_epoch_ms(1_778_584_369_464)  # 2026-05-12T11:12:49Z
    assert (hour.date, hour.hour, hour.label()) == ("2026-05-12", "11", "2026-05-12T11Z")
    assert hour.start_ms() == 1_778_583_600_000
    assert hour.end_ms() - hour.start_ms() == 3_600_000
    assert paths.HourKey.from_epoch_ms(hour.end_ms() - 1) == hour
    assert paths.HourKey.from_epoch_ms(hour.end_ms()) != hour


def test_names_and_manifest_beside_data():
    hour = paths.HourKey("2026-05-12", "11")
    run_id = "20260512T110000Z-abc123"
    data = paths.data_path(Path("/d"), hour, run_id)
    assert data == Path("/d/raw/2026-05-12/11/orderbooks-2026-05-12T11Z-20260512T110000Z-abc123.jsonl.gz")
    partial = paths.partial_path(Path("/d"), hour, run_id)
    assert partial.name == data.name + ".partial"
    assert paths.manifest_path_for(data) == paths.manifest_path_for(partial)
    assert paths.manifest_path_for(data).name.endswith(".manifest.json")
    assert paths.STEM_RE.match(paths.stem_of(data)).group("run_id") == run_id
    with pytest.raises(ValueError, match="not a data file"):
        paths.manifest_path_for(Path("/d/x.txt"))


def test_run_ids_are_unique_and_well_formed():
    ids = {paths.new_run_id(1_778_584_369_464) for _ in range(50)}
    assert len(ids) == 50
    assert all(paths.STEM_RE.match(f"orderbooks-2026-05-12T11Z-{i}") for i in ids)


def test_iter_files_ignores_partials_and_hidden(tmp_path):
    folder = tmp_path / "raw" / "2026-05-12" / "11"
    folder.mkdir(parents=True)
    for name in ("a.jsonl.gz", "b.jsonl.gz.partial", ".a.manifest.json.tmp", "a.manifest.json"):
        (folder / name).write_bytes(b"")
    assert [p.name for p in paths.iter_files(tmp_path, paths.DATA_SUFFIX)] == ["a.jsonl.gz"]
    assert [p.name for p in paths.iter_files(tmp_path, paths.PARTIAL_SUFFIX)] == ["b.jsonl.gz.partial"]
    assert paths.iter_files(tmp_path / "nothing", paths.DATA_SUFFIX) == []
