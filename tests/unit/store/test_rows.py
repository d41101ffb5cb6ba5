"""rows: one iterator over the lines of complete gzip members, each judged."""

from __future__ import annotations

from orderbooks.records import ROW_KEYS
from orderbooks.store import gzmembers, rows

ROW = b"{" + b",".join(f'"{k}":1'.encode() for k in ROW_KEYS) + b"}\n"


def test_lines_are_judged_and_the_tail_is_reported(tmp_path):
    path = tmp_path / "f.jsonl.gz"
    blob = gzmembers.compress_member(ROW + b"{torn\n[1]\n") + gzmembers.compress_member(b"")
    blob += gzmembers.compress_member(b'{"recv_ms": 1}\n') + b"\x1f\x8b junk"
    path.write_bytes(blob)
    reader = rows.RowReader(path)
    got = [(line.member, line.number, line.problem) for line in reader]
    assert got[0] == (0, 1, None)
    assert got[1][2].startswith("not JSON") and got[2][2] == "not a JSON object"
    assert got[3][0] == 2 and got[3][2].startswith("missing keys")
    assert reader.members_read == 3 and reader.result.members == 3
    assert reader.result.tail_error is not None
    assert [r.get("recv_ms") for r in rows.iter_rows(path)] == [1, 1]


def test_upto_skips_later_members(tmp_path):
    path = tmp_path / "f.jsonl.gz"
    first = gzmembers.compress_member(ROW)
    path.write_bytes(first + gzmembers.compress_member(ROW + ROW))
    reader = rows.RowReader(path, upto=len(first))
    assert len(list(reader)) == 1 and reader.members_read == 1 and reader.result.members == 2
