"""The redundant rehearsal's schedule of cuts and its pass criteria (pure parts)."""

from __future__ import annotations

from collections import Counter

import pytest
from harness.redundant import Cut, cut_schedule, judge

T0 = 1_800_000_000_000


def test_each_host_is_cut_in_the_middle_of_its_own_share():
    assert cut_schedule(["a", "b"], 240, 60) == [Cut("a", 30, 90), Cut("b", 150, 210)]
    assert cut_schedule(["a", "b"], 100, 25) == [Cut("a", 12.5, 37.5), Cut("b", 62.5, 87.5)]


@pytest.mark.parametrize(
    ("hosts", "seconds", "cut"), [([], 100, 25), (["a", "b"], 100, 50), (["a", "b"], 240, 20)]
)
def test_a_schedule_that_cannot_show_anything_is_refused(hosts, seconds, cut):
    with pytest.raises(ValueError):
        cut_schedule(hosts, seconds, cut)


def _gap(start_s, end_s, cause="connect"):
    return {"start_ms": T0 + int(start_s * 1000), "end_ms": T0 + int(end_s * 1000), "cause": cause}


A_CUT_SEEN = _gap(12.6, 39.0)  # host a's cut (12.5-37.5 s) as its own data shows it
B_CUT_SEEN = _gap(62.6, 88.0)


def _union(union_pct, *, a_pct=72.0, a_gaps=(A_CUT_SEEN,), b_gaps=(B_CUT_SEEN,)):
    """A union report of hosts a and b cut as _measured schedules them (source b at 73.5 %)."""
    return {
        "totals": {"coverage_pct": union_pct},
        "sources": [
            {"source": "a", "totals": {"coverage_pct": a_pct}, "gaps": list(a_gaps)},
            {"source": "b", "totals": {"coverage_pct": 73.5}, "gaps": list(b_gaps)},
        ],
    }


def _measured(**changes):
    cuts = cut_schedule(["a", "b"], 100, 25)
    report = _union(99.1, b_gaps=(B_CUT_SEEN, _gap(1, 2, "restart")))
    fields = dict(
        cuts=cuts,
        t0_ms=T0,
        fetched_rows={"a": 700, "b": 720},
        report=report,
        merge_rc=0,
        verify_rc=0,
        merged_keys=Counter({("t", "1", "h"): 1, ("t", "2", "h"): 1}),
        merged_observations=1420,
        merged_report={"totals": {"coverage_pct": 98.6}},
    )
    fields.update(changes)
    return judge(**fields)


def test_a_good_run_passes_every_criterion():
    criteria = _measured()
    assert all(c.passed for c in criteria), [c for c in criteria if not c.passed]
    assert len(criteria) == 10


def _failed(criteria):
    return [c.name for c in criteria if not c.passed]


def test_each_failure_is_named():
    report = _measured()[0]
    assert report.detail == "a: 700 rows, b: 720 rows"
    assert _failed(_measured(fetched_rows={"a": 700, "b": 0})) == [
        "every host's copy fetched from its prefix",
        "one observation per source row",
    ]
    assert _failed(_measured(merge_rc=1)) == ["orderbooks merge exits 0 (no conflict)"]
    assert _failed(_measured(verify_rc=1)) == ["orderbooks verify of the merged folder exits 0"]
    assert _failed(_measured(merged_keys=Counter({("t", "1", "h"): 2}))) == [
        "each (token_id, timestamp, hash) once in the merged folder"
    ]
    assert _failed(_measured(merged_report={"totals": {"coverage_pct": 97.0}})) == [
        "the merged folder's coverage equals the union's within 1 point"
    ]


def test_a_cut_that_did_not_show_in_a_source_fails():
    report = _union(99.0, a_pct=95.0, a_gaps=[_gap(12.6, 16.0)])
    failed = _failed(_measured(report=report))
    assert failed == ["each source at or under 90 %", "a's own data shows its cut, with a recorded cause"]


def test_a_cut_without_a_recorded_cause_fails():
    report = _union(99.0, a_gaps=[_gap(12.6, 39.0, "unexplained")])
    assert _failed(_measured(report=report)) == ["a's own data shows its cut, with a recorded cause"]


def test_a_union_with_a_hole_fails():
    union = _union(90.0)
    assert "the union at or over 97 %" in _failed(
        _measured(report=union, merged_report={"totals": {"coverage_pct": 90.0}})
    )
