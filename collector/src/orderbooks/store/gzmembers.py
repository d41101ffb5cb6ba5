"""Gzip members: build one, walk a file member by member with CRC checks.

A data file is a concatenation of complete gzip members (RFC 1952), one per
flush. ``zlib.decompressobj(wbits=31)`` reaches ``eof`` only after it has read
a member's trailer and checked its CRC-32 and ISIZE, so a member counts as
complete only when the decompressor says so. Anything after the last complete
member (a member cut by a crash, zeros left by a power loss, a flipped byte)
is the damaged tail; ``scan`` reports where the good prefix ends.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: wbits for a gzip wrapper (header + CRC-32/ISIZE trailer).
GZIP_WBITS = 31
READ_CHUNK = 1 << 20


def compress_member(data: bytes, level: int = 6) -> bytes:
    """One complete gzip member holding *data*."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


@dataclass(frozen=True)
class Member:
    index: int  # 0-based position in the file
    start: int  # byte offset of the member's first byte
    end: int  # byte offset just after its trailer
    data: bytes  # decompressed content


class DamagedTail(Exception):
    """Bytes after the last complete member that do not form a complete member."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"damaged tail at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


def iter_members(handle: BinaryIO, chunk_size: int = READ_CHUNK) -> Iterator[Member]:
    """Yield every complete, CRC-checked member from the start of *handle*.

    Raises DamagedTail (after yielding the good members) when the bytes after
    the last complete member are truncated or corrupt. A file of zero bytes
    yields nothing and raises nothing.
    """
    pending = b""
    offset = 0
    index = 0
    while True:
        if not pending:
            pending = handle.read(chunk_size)
            if not pending:
                return
        decompressor = zlib.decompressobj(GZIP_WBITS)
        start = offset
        parts: list[bytes] = []
        while True:
            try:
                parts.append(decompressor.decompress(pending))
            except zlib.error as exc:
                raise DamagedTail(start, f"corrupt member: {exc}") from None
            if decompressor.eof:
                used = len(pending) - len(decompressor.unused_data)
                offset += used
                pending = decompressor.unused_data
                break
            offset += len(pending)
            pending = handle.read(chunk_size)
            if not pending:
                raise DamagedTail(start, f"incomplete member ({offset - start} bytes, no trailer)")
        yield Member(index=index, start=start, end=offset, data=b"".join(parts))
        index += 1


@dataclass
class ScanResult:
    size: int  # file size in bytes
    members: int  # complete members
    good_end: int  # offset just after the last complete member
    tail_error: str | None  # why the bytes after good_end are not a member (None: no tail)

    @property
    def tail_bytes(self) -> int:
        return self.size - self.good_end

    @property
    def clean(self) -> bool:
        return self.tail_error is None and self.good_end == self.size


class Walk:
    """Iterate the complete members of *path*; once the iteration ends, ``result`` holds the ScanResult.

    A damaged tail ends the iteration (it is not raised); ``result`` says where it starts.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.result: ScanResult | None = None

    def __iter__(self) -> Iterator[Member]:
        members = 0
        good_end = 0
        tail_error: str | None = None
        with open(self.path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            try:
                for member in iter_members(handle):
                    members += 1
                    good_end = member.end
                    yield member
            except DamagedTail as exc:
                tail_error = exc.reason
        self.result = ScanResult(size=size, members=members, good_end=good_end, tail_error=tail_error)


def scan(path: Path, on_member: Callable[[Member], None] | None = None) -> ScanResult:
    """Walk *path* member by member; call *on_member* for each complete one."""
    walk = Walk(path)
    for member in walk:
        if on_member is not None:
            on_member(member)
    assert walk.result is not None
    return walk.result


def split_lines(data: bytes) -> list[bytes]:
    """The JSONL lines of one member's content (every line ends with a newline)."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


class MemberStream:
    """One gzip member written cycle by cycle: each ``flush`` ends on a Z_SYNC_FLUSH.

    Deflate keeps its 32 kB window across flushes, so a row compresses
    against the rows written before it in the same member (the previous
    snapshot of the same book, when a stream holds few books). After each
    ``flush`` the bytes written so far decompress up to the last flushed
    byte even without a trailer; ``salvage`` reads them back after a crash.
    ``finish`` writes the trailer: the member is then complete.
    """

    def __init__(self, level: int = 6) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
        self._saved = self._compressor.copy()
        self.flushes = 0

    def flush(self, data: bytes) -> bytes:
        """The bytes to append so that *data* is recoverable from the file."""
        self._saved = self._compressor.copy()
        self.flushes += 1
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """The bytes that close the member (final block, CRC-32, ISIZE)."""
        self._saved = self._compressor.copy()
        return self._compressor.flush(zlib.Z_FINISH)

    def rollback(self) -> None:
        """Forget the last ``flush`` or ``finish`` (its bytes never reached the disk)."""
        self._compressor = self._saved
        self._saved = self._compressor.copy()


@dataclass(frozen=True)
class Salvage:
    data: bytes  # complete lines decompressed from the cut member
    used: int  # bytes of the cut member that produced them (the rest is dropped)


def salvage(tail: bytes) -> Salvage:
    """What a member cut short (no trailer) still holds: its complete lines.

    Decompresses *tail* (bytes from the member's first byte to the end of the
    file) as far as deflate can go, stops at corruption, and keeps the content
    up to the last newline. ``used`` is a byte count of the input consumed
    (an upper bound of the sync-flushed prefix): callers rewrite the lines as
    a new complete member rather than keeping these bytes.
    """
    decompressor = zlib.decompressobj(GZIP_WBITS)
    out: list[bytes] = []
    used = 0
    step = READ_CHUNK
    start = 0
    while start < len(tail):
        piece = tail[start : start + step]
        before = decompressor.copy()
        try:
            out.append(decompressor.decompress(piece))
        except zlib.error:
            if step == 1:
                break
            decompressor, step = before, 1  # replay this piece byte by byte up to the bad byte
            continue
        used = start + len(piece)
        start = used
        if decompressor.eof:
            used -= len(decompressor.unused_data)
            break
    data = b"".join(out)
    cut = data.rfind(b"\n") + 1
    return Salvage(data=data[:cut], used=used)
