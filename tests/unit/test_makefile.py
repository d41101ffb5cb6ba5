"""The Makefile's entry points work as the runbook writes them: from the
repository root, with paths relative to it."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_help_shows_values_not_variable_names():
    result = make("help")
    assert result.returncode == 0, result.stderr
    assert "$(" not in result.stdout
    assert "127.0.0.1:8765" in result.stdout


def test_cutover_takes_a_vars_file_relative_to_the_repository_root(tmp_path):
    """`make cutover INVENTORY=inventory.ini EXTRA='-e @vault.yml ...'` as the
    runbook says: the vars file is found beside the inventory, in the root."""
    cache = REPO / ".cache"
    cache.mkdir(exist_ok=True)
    vars_file = cache / f"cutover-vars-{tmp_path.name}.yml"
    inventory = cache / f"cutover-inventory-{tmp_path.name}.ini"
    vars_file.write_text("orderbooks_test_marker: 1\n")
    inventory.write_text("[orderbooks]\nvps ansible_connection=local\n")
    try:
        result = make(
            "cutover",
            f"INVENTORY={inventory.relative_to(REPO)}",
            f"EXTRA=-e @{vars_file.relative_to(REPO)} --syntax-check",
        )
    finally:
        vars_file.unlink()
        inventory.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Could not find or access" not in result.stderr
