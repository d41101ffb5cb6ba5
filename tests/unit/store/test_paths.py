"""Data folder layout and names: the one parser of file names, and the folder check."""

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


HOUR = paths.HourKey("2026-01-02", "03")
RUN = "20260102T030000Z-abcdef"


def test_parse_every_suffix_and_series():
    for path in (paths.data_path("/d", HOUR, RUN), paths.partial_path("/d", HOUR, RUN, "btc 15m")):
        name = paths.parse(path)
        assert name is not None and (name.hour, name.run_id) == (HOUR, RUN)
    assert paths.parse(paths.partial_path("/d", HOUR, RUN, "btc 15m")).series == "btc15m"
    assert paths.parse("x.txt") is None and paths.parse("other.jsonl.gz") is None
    assert paths.hour_start_ms(paths.data_path("/d", HOUR, RUN)) == HOUR.start_ms()
    assert paths.run_id_of("nope") is None


def test_hour_in_folder_must_agree(tmp_path):
    good = paths.data_path(tmp_path, HOUR, RUN)
    assert paths.hour_in_folder(tmp_path, good) == HOUR
    wrong = tmp_path / "raw" / "2026-01-02" / "04" / good.name
    with pytest.raises(paths.BadFileName, match="folder"):
        paths.hour_in_folder(tmp_path, wrong)
    bad_hour = paths.HourKey("2026-01-02", "25")
    with pytest.raises(paths.BadFileName, match="valid UTC hour"):
        paths.hour_in_folder(tmp_path, paths.data_path(tmp_path, bad_hour, RUN))


def test_market_document_names_and_the_day_folder_check(tmp_path):
    day, run = paths.DayKey("2026-01-07"), "20260107T050000Z-abcdef"
    final = paths.markets_data_path(tmp_path, day, run)
    assert paths.relative(tmp_path, final) == f"markets/2026-01-07/markets-2026-01-07-{run}.jsonl.gz"
    partial = paths.markets_partial_path(tmp_path, day, run)
    assert partial.name == final.name + ".partial" and partial.parent == final.parent
    name = paths.parse_markets(partial)
    assert name is not None and (name.day, name.run_id) == (day, run)
    assert paths.parse_markets(paths.data_path(tmp_path, HOUR, RUN)) is None
    assert paths.parse(final) is None
    assert paths.day_in_folder(tmp_path, final) == day
    with pytest.raises(paths.BadFileName, match="!= folder 2026-01-08"):
        paths.day_in_folder(tmp_path, tmp_path / "markets" / "2026-01-08" / final.name)
    with pytest.raises(paths.BadFileName, match="markets/YYYY-MM-DD folder"):
        paths.day_in_folder(tmp_path, tmp_path / "markets" / final.name)


def test_quarantine_keeps_a_files_place_under_its_top_folder(tmp_path):
    book = paths.partial_path(tmp_path, HOUR, RUN)
    assert paths.quarantine_path(tmp_path, book) == tmp_path / "quarantine" / "2026-01-02" / "03" / book.name
    docs = paths.markets_partial_path(tmp_path, paths.DayKey("2026-01-07"), RUN)
    expected = tmp_path / "quarantine" / "markets" / "2026-01-07" / docs.name
    assert paths.quarantine_path(tmp_path, docs) == expected
