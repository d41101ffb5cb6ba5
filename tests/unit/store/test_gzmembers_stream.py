"""MemberStream (sync-flushed members) and salvage of a member a crash cut short."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import orjson
from orderbooks.store import gzmembers


def lines(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    book = {"bids": [{"price": f"0.{i:02d}", "size": str(rng.randint(5, 999))} for i in range(1, 50)]}
    out = []
    for cycle in range(n):
        book["bids"][rng.randrange(49)]["size"] = str(rng.randint(5, 999))
        out.append(orjson.dumps({"cycle": cycle, "book": book}) + b"\n")
    return out


def test_a_finished_stream_is_one_plain_gzip_member():
    stream = gzmembers.MemberStream()
    rows = lines(40)
    blob = b"".join(stream.flush(row) for row in rows) + stream.finish()
    assert gzip.decompress(blob) == b"".join(rows)
    [member] = list(gzmembers.iter_members(io.BytesIO(blob + gzmembers.compress_member(b"x\n"))))[:1]
    assert member.data == b"".join(rows) and member.end == len(blob)


def test_sync_flushes_keep_the_dictionary():
    rows = lines(200)
    stream = gzmembers.MemberStream()
    streamed = sum(len(stream.flush(row)) for row in rows) + len(stream.finish())
    per_row = sum(len(gzmembers.compress_member(row)) for row in rows)
    assert streamed * 3 < per_row


def test_salvage_at_every_cut_keeps_every_flushed_line():
    rows = lines(12)
    stream = gzmembers.MemberStream()
    flushed_at: list[int] = []  # file offset after each flush
    blob = b""
    for row in rows:
        blob += stream.flush(row)
        flushed_at.append(len(blob))
    for cut in range(len(blob) + 1):
        got = gzmembers.salvage(blob[:cut])
        complete = sum(1 for end in flushed_at if end <= cut)
        kept = got.data.splitlines(keepends=True)
        assert kept[:complete] == rows[:complete]  # nothing flushed is lost
        assert kept == rows[: len(kept)]  # and nothing else than whole rows comes back
        assert got.used <= cut


def test_salvage_stops_at_garbage_and_at_a_complete_member():
    rows = lines(5)
    stream = gzmembers.MemberStream()
    blob = b"".join(stream.flush(row) for row in rows)
    assert gzmembers.salvage(blob + b"\x00" * 100).data == b"".join(rows)
    assert gzmembers.salvage(b"not gzip at all").data == b""
    whole = blob + stream.finish()
    assert gzmembers.salvage(whole + b"junk").used == len(whole)


def test_zlib_agrees_a_sync_flush_ends_on_a_byte_boundary():
    stream = gzmembers.MemberStream()
    part = stream.flush(b"a\n")
    assert part.endswith(b"\x00\x00\xff\xff")  # the empty stored block of Z_SYNC_FLUSH
    assert zlib.decompressobj(31).decompress(part) == b"a\n"


def test_rollback_forgets_a_write_that_failed():
    rows = lines(6)
    stream = gzmembers.MemberStream()
    blob = stream.flush(rows[0])
    stream.flush(rows[1])  # pretend this write failed: its bytes are not in blob
    stream.rollback()
    blob += stream.flush(rows[1]) + stream.flush(rows[2])
    stream.finish()
    stream.rollback()  # a failed trailer write, too
    blob += stream.finish()
    assert gzip.decompress(blob) == b"".join(rows[:3])
