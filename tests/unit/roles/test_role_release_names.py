"""Release names are UTC timestamps only, so "name order = age order" holds for
cleanup and rollback: ``-e orderbooks_release=hotfix`` stops site.yml and
rollback.yml before anything runs, with a message naming the variable.

The plays run for real, but only their ``always`` tasks (``--tags`` names a tag
no task has) in check mode on this machine (``ansible_connection=local``,
no become): the name check is one of them; nothing else runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from testkit.playbooks import run_playbook

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_DIR = REPO / "ansible"
PLAYBOOK_BIN = str(Path(sys.executable).with_name("ansible-playbook"))
COMMON = yaml.safe_load((REPO / "roles" / "orderbooks_common" / "defaults" / "main.yml").read_text())


def play(inventory: Path, playbook: str, release: str) -> subprocess.CompletedProcess[str]:
    return run_playbook(
        [
            playbook,
            "-i",
            str(inventory),
            "--check",
            "--tags",
            "orderbooks-name-check-only",
            "-e",
            "ansible_become=false",
            "-e",
            f"orderbooks_release={release}",
        ]
    )


@pytest.mark.parametrize("playbook", ["site.yml", "rollback.yml"])
@pytest.mark.parametrize("release", ["hotfix", "2026-01-01", "20260101T000000Z-2", "20260101t000000z"])
def test_a_name_that_is_not_a_timestamp_stops_the_play(inventory, playbook, release):
    result = play(inventory, playbook, release)
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"orderbooks_release={release} is not a release name" in " ".join(result.stdout.split())


@pytest.mark.parametrize("playbook", ["site.yml", "rollback.yml"])
def test_a_timestamp_name_passes_the_check(inventory, playbook):
    result = play(inventory, playbook, "20260101T000000Z")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "is not a release name" not in result.stdout


def test_the_pattern_and_the_format_agree():
    import re
    import time

    name = time.strftime(COMMON["orderbooks_common_release_format"], time.gmtime(0))
    assert name == "19700101T000000Z"
    assert re.fullmatch(COMMON["orderbooks_common_release_pattern"].strip("^$"), name)
