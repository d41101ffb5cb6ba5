"""tools/testkit/fabricate: synthetic rows are shaped exactly like the collector's."""

from __future__ import annotations

import gzip

import orjson
from orderbooks.records import ROW_KEYS
from orderbooks.store import paths
from testkit.fabricate import T0_MS, Scenario, market_fields, markets_for, write_run


def test_market_fields_are_the_market_part_of_a_row_in_order():
    market = markets_for("10684", 300, T0_MS, T0_MS + 1)[0]
    token_id, outcome = market.tokens[0]
    fields = market_fields(market, token_id, outcome)
    assert list(fields) == list(ROW_KEYS[4:-1])
    assert fields["window_start"] == "2026-05-12T10:00:00Z"
    assert fields["window_end"] == "2026-05-12T10:05:00Z"
    assert (fields["token_id"], fields["outcome"], fields["slug"]) == (token_id, "Up", market.slug)


def test_written_rows_keep_the_row_key_order(tmp_path):
    write_run(tmp_path, Scenario(cycles=3, series={"10684": 300}))
    (data_file,) = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    with gzip.open(data_file) as stream:
        rows = [orjson.loads(line) for line in stream]
    assert len(rows) == 6
    assert all(list(row) == list(ROW_KEYS) for row in rows)
