"""timefmt: every UTC text form from epoch ms, and the ISO parser."""

from __future__ import annotations

import pytest
from orderbooks import timefmt

T = 1778584200250  # 2026-05-12T11:10:00.250Z


def test_forms():
    assert timefmt.iso_ms(T) == "2026-05-12T11:10:00.250Z"
    assert timefmt.iso_s(T) == "2026-05-12T11:10:00Z"
    assert timefmt.compact_s(T) == "20260512T111000Z"
    assert timefmt.date_hour(T) == ("2026-05-12", "11")


def test_iso_ms_of_whole_seconds_and_epoch():
    assert timefmt.iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert timefmt.iso_ms(T - 250) == "2026-05-12T11:10:00.000Z"


def test_round_trip():
    assert timefmt.parse_iso_ms(timefmt.iso_ms(T)) == T
    assert timefmt.parse_iso_ms(timefmt.iso_s(T)) == T - 250


def test_parse_rejects_non_times():
    for bad in ("", None, 12, "yesterday"):
        with pytest.raises(ValueError):
            timefmt.parse_iso_ms(bad)
