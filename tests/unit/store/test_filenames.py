"""filenames: the one parser of file names, and the folder check."""

from __future__ import annotations

import pytest
from orderbooks.store import filenames, paths

HOUR = paths.HourKey("2026-01-02", "03")
RUN = "20260102T030000Z-abcdef"


def test_parse_every_suffix_and_series():
    for path in (paths.data_path("/d", HOUR, RUN), paths.partial_path("/d", HOUR, RUN, "btc 15m")):
        name = filenames.parse(path)
        assert name is not None and (name.hour, name.run_id) == (HOUR, RUN)
    assert filenames.parse(paths.partial_path("/d", HOUR, RUN, "btc 15m")).series == "btc15m"
    assert filenames.parse("x.txt") is None and filenames.parse("other.jsonl.gz") is None
    assert filenames.hour_start_ms(paths.data_path("/d", HOUR, RUN)) == HOUR.start_ms()
    assert filenames.run_id_of("nope") is None


def test_hour_in_folder_must_agree(tmp_path):
    good = paths.data_path(tmp_path, HOUR, RUN)
    assert filenames.hour_in_folder(tmp_path, good) == HOUR
    wrong = tmp_path / "raw" / "2026-01-02" / "04" / good.name
    with pytest.raises(filenames.BadFileName, match="folder"):
        filenames.hour_in_folder(tmp_path, wrong)
    bad_hour = paths.HourKey("2026-01-02", "25")
    with pytest.raises(filenames.BadFileName, match="valid UTC hour"):
        filenames.hour_in_folder(tmp_path, paths.data_path(tmp_path, bad_hour, RUN))
