"""25 random SIGKILLs of a real `orderbooks collect` against the simulator, then verify.

The long version (200 kills) is `make kill-campaign N=200`; see docs/data-format.md.
"""

from __future__ import annotations

from harness import kill_campaign


def test_kill_campaign_25(tmp_path):
    result = kill_campaign.run_campaign(25, seed=11, work_dir=tmp_path)
    assert result["violations"] == []
    assert result["ok"] is True
    assert result["verify_exit"] == 0
    counts = result["verify_counts"]
    assert counts["files_failed"] == 0 and counts["files"] >= 10
    assert counts["recovered"] == result["partials_recovered"] >= 10
    # kills during interpreter start-up come before any run manifest exists
    assert 10 <= counts["runs_crashed"] <= 25
    assert counts["runs"] == counts["runs_crashed"] + 1 and counts["runs_unfinished"] == 0
    assert (
        result["torn_tails_injected"] > 0 and result["files_cut_back"] >= result["torn_tails_injected"] // 2
    )
