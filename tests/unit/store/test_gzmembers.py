"""gzmembers: one member per flush, CRC-checked walk, damaged tails found."""

from __future__ import annotations

import gzip
import io
import itertools

import pytest
from orderbooks.store import gzmembers


def three_members() -> tuple[bytes, list[bytes]]:
    payloads = [b"".join(b'{"n":%d}\n' % (10 * m + i) for i in range(10)) for m in range(3)]
    return b"".join(gzmembers.compress_member(p) for p in payloads), payloads


def test_member_is_a_standalone_gzip_file():
    member = gzmembers.compress_member(b"hello\n", level=9)
    assert gzip.decompress(member) == b"hello\n"
    assert member[:2] == b"\x1f\x8b"


def test_concatenated_members_read_as_one_gzip_stream():
    blob, payloads = three_members()
    assert gzip.decompress(blob) == b"".join(payloads)


def test_iter_members_yields_offsets_and_content():
    blob, payloads = three_members()
    members = list(gzmembers.iter_members(io.BytesIO(blob), chunk_size=7))
    assert [m.data for m in members] == payloads
    assert members[0].start == 0
    assert members[-1].end == len(blob)
    assert all(a.end == b.start for a, b in itertools.pairwise(members))


@pytest.mark.parametrize("chunk_size", [1, 5, 1 << 20])
def test_every_cut_keeps_exactly_the_complete_members(chunk_size):
    blob, payloads = three_members()
    ends = [m.end for m in gzmembers.iter_members(io.BytesIO(blob))]
    for cut in range(len(blob) + 1):
        good = []
        with pytest.raises(gzmembers.DamagedTail) if cut not in (0, *ends) else _no_error():
            good.extend(gzmembers.iter_members(io.BytesIO(blob[:cut]), chunk_size=chunk_size))
        complete = sum(1 for end in ends if end <= cut)
        assert [m.data for m in good] == payloads[:complete], cut


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_flipped_byte_in_a_member_is_a_damaged_tail(tmp_path):
    blob, _ = three_members()
    ends = [m.end for m in gzmembers.iter_members(io.BytesIO(blob))]
    damaged = bytearray(blob)
    damaged[ends[0] + 20] ^= 0xFF  # inside the second member's deflate data
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(damaged))
    result = gzmembers.scan(path)
    assert result.members == 1
    assert result.good_end == ends[0]
    assert result.tail_error is not None
    assert not result.clean


def test_crc_mismatch_is_detected_even_when_deflate_data_is_valid(tmp_path):
    member = bytearray(gzmembers.compress_member(b"abc\n"))
    member[-8] ^= 0x01  # CRC-32 in the trailer
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(member))
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(bytes(member))
    result = gzmembers.scan(path)
    assert result.members == 0
    assert "corrupt" in (result.tail_error or "")


def test_trailing_zeros_after_power_loss_are_a_damaged_tail(tmp_path):
    blob, _ = three_members()
    path = tmp_path / "x.gz"
    path.write_bytes(blob + b"\0" * 4096)
    result = gzmembers.scan(path)
    assert result.members == 3
    assert result.good_end == len(blob)
    assert result.tail_bytes == 4096


def test_empty_file_is_clean(tmp_path):
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    result = gzmembers.scan(path)
    assert (result.members, result.good_end, result.tail_error, result.clean) == (0, 0, None, True)


def test_split_lines():
    assert gzmembers.split_lines(b"") == []
    assert gzmembers.split_lines(b"a\nb\n") == [b"a", b"b"]
    assert gzmembers.split_lines(b"a\nb") == [b"a", b"b"]
