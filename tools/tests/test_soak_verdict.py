"""The soak verdict (soak_verdict.decide) and the soak's fault schedule (soak.plan_schedule)."""

from __future__ import annotations

import itertools

import pytest
from harness.soak import FAULT_ORDER, MIN_DURATION_S, WARMUP_S, exclusion_windows, plan_schedule
from harness.soak_verdict import NEEDS_REVIEW, PASS, FaultWindow, decide

T0 = 1_800_000_000_000
S = 1000


def window(kind: str, at_s: int, seconds: int) -> FaultWindow:
    return FaultWindow.of(kind, T0 + at_s * S, T0 + (at_s + seconds) * S)


FAULTS = [
    window("down", 60, 20),
    window("429", 120, 15),
    window("sigkill", 180, 1),
    window("restart", 240, 2),
    window("disk", 300, 15),
]


def gap(start_s: float, end_s: float, cause: str, **causes: int) -> dict:
    return {
        "series": "10684",
        "slug": "btc-updown-5m-1",
        "start_ms": int(T0 + start_s * S),
        "end_ms": int(T0 + end_s * S),
        "cause": cause,
        "causes": causes or {cause: 1},
    }


GAPS = [
    gap(59.4, 81.2, "connect", connect=40, discovery=2),
    gap(119.6, 137.0, "rate_limited"),
    gap(179.8, 182.5, "restart"),
    gap(239.9, 243.0, "not_running", **{}),
    gap(299.5, 316.0, "disk_floor"),
]
GAPS[3]["causes"] = {}  # a gap between two runs that no record explains
VERIFY_OK = {"ok": True, "counts": {"files": 3, "files_failed": 0}, "problems": []}


def quality(gaps=GAPS, coverage=99.9, damaged=0) -> dict:
    return {"gaps": gaps, "totals": {"coverage_pct": coverage}, "files": {"damaged": damaged}}


def test_all_faults_visible_clean_files_and_coverage_pass():
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality())
    assert decision["verdict"] == PASS, decision["reasons"]
    assert decision["reasons"] == []
    assert [f["visible"] for f in decision["faults"]] == [True] * 5
    assert decision["faults"][0]["gap_causes"] == {"connect": 1}


def test_verify_failure_is_a_reason():
    verify = {"ok": False, "counts": {"files": 3, "files_failed": 1}, "problems": ["raw/x: sha256 differs"]}
    decision = decide(faults=FAULTS, verify=verify, quality=quality())
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == [
        "orderbooks verify failed: 1 of 3 sealed files failed: raw/x: sha256 differs"
    ]


def test_missing_verify_report_is_a_reason():
    decision = decide(faults=FAULTS, verify=None, quality=quality())
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == ["orderbooks verify produced no report"]


def test_damaged_sealed_file_in_quality_is_a_reason():
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(damaged=2))
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == ["quality found 2 damaged sealed file(s)"]


def test_fault_without_any_gap_is_a_reason():
    gaps = [g for g in GAPS if g["cause"] != "rate_limited"]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps))
    assert decision["verdict"] == NEEDS_REVIEW
    assert len(decision["reasons"]) == 1
    assert decision["reasons"][0].startswith("fault 429 at ")
    assert "expected cause rate_limited, found no gap" in decision["reasons"][0]


def test_fault_whose_gap_has_another_cause_is_a_reason():
    gaps = [*GAPS[:4], gap(299.5, 316.0, "unexplained", **{})]
    gaps[4]["causes"] = {}
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps))
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == [
        f"fault disk at {T0 + 300 * S}..{T0 + 315 * S} not visible: "
        "expected cause disk_floor, found unexplained x1"
    ]


def test_expected_cause_among_a_gaps_causes_counts():
    gaps = [gap(59.4, 81.2, "discovery", discovery=50, connect=10), *GAPS[1:]]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps))
    assert decision["verdict"] == PASS
    assert decision["faults"][0]["gaps_with_expected_cause"] == 1


def test_gap_far_from_the_window_does_not_count():
    gaps = [g for g in GAPS if g["cause"] != "disk_floor"] + [gap(400, 410, "disk_floor")]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps))
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["faults"][4]["gaps_overlapping"] == 0


def test_failure_records_alone_make_a_fault_visible():
    gaps = [g for g in GAPS if g["cause"] != "disk_floor"]
    records = [{"start_ms": T0 + 305 * S, "end_ms": T0 + 305 * S, "error": "disk_floor"}]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps), records=records)
    assert decision["verdict"] == PASS
    assert decision["faults"][4]["records_with_expected_class"] == {"disk_floor": 1}


def test_records_of_another_class_do_not_make_a_fault_visible():
    gaps = [g for g in GAPS if g["cause"] != "disk_floor"]
    records = [{"start_ms": T0 + 305 * S, "end_ms": T0 + 305 * S, "error": "connect"}]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps), records=records)
    assert decision["verdict"] == NEEDS_REVIEW


def test_seamless_clean_restart_is_not_required_to_show():
    gaps = [g for g in GAPS if g["cause"] != "not_running"]
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(gaps))
    assert decision["verdict"] == PASS
    restart = decision["faults"][3]
    assert (restart["kind"], restart["visible"], restart["ok"]) == ("restart", False, True)


def test_coverage_below_the_bar_is_a_reason():
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(coverage=99.49))
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == ["coverage outside the injected faults 99.49% < 99.5%"]


def test_coverage_exactly_at_the_bar_passes():
    assert decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(coverage=99.5))["verdict"] == PASS


def test_no_rows_at_all_is_a_reason():
    decision = decide(faults=FAULTS, verify=VERIFY_OK, quality=quality(coverage=None))
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == ["no coverage figure: no row was collected outside the faults"]


def test_problems_the_soak_noticed_are_reasons():
    decision = decide(
        faults=FAULTS,
        verify=VERIFY_OK,
        quality=quality(),
        run_problems=["collector exited on its own with status 1 at 2027-01-15T08:00:00Z"],
    )
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == [
        "soak run: collector exited on its own with status 1 at 2027-01-15T08:00:00Z"
    ]


def test_a_soak_without_faults_is_not_a_pass():
    decision = decide(faults=[], verify=VERIFY_OK, quality=quality())
    assert decision["verdict"] == NEEDS_REVIEW
    assert decision["reasons"] == ["no fault was injected"]


def test_every_reason_is_reported_at_once():
    decision = decide(faults=FAULTS, verify=None, quality=quality(gaps=[], coverage=90.0, damaged=1))
    assert decision["verdict"] == NEEDS_REVIEW
    assert len(decision["reasons"]) == 2 + 4 + 1  # verify, damaged, 4 required faults, coverage


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultWindow.of("flood", T0, T0 + S)


# ---------------------------------------------------------------- schedule


def test_schedule_puts_every_kind_once_per_round_in_order_without_overlap():
    plan = plan_schedule(300)
    assert [p.kind for p in plan] == list(FAULT_ORDER)
    assert plan[0].at_s >= WARMUP_S
    for before, after in itertools.pairwise(plan):
        assert before.at_s + before.seconds + 20 <= after.at_s
    assert plan[-1].at_s + plan[-1].seconds <= 300 - 30


def test_schedule_repeats_rounds_over_a_long_soak():
    plan = plan_schedule(86_400, rounds=24)
    assert len(plan) == 24 * len(FAULT_ORDER)
    assert plan[-1].at_s < 86_400 - 30


def test_schedule_refuses_a_duration_too_short_for_the_faults():
    with pytest.raises(ValueError, match="too short"):
        plan_schedule(MIN_DURATION_S - 1)
    assert plan_schedule(MIN_DURATION_S)


def test_exclusion_windows_add_a_margin_around_each_fault():
    (start, end), *_ = exclusion_windows([window("down", 60, 20)])
    assert start < T0 + 60 * S
    assert end > T0 + 80 * S
