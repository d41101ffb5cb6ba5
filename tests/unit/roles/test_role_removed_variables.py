"""The roles read the host layout (``orderbooks_common_*``) directly: no role
keeps a variable whose default only repeats one of those values, and every
variable name the roles stopped reading stops site.yml, rollback.yml and
layout.yml (so also the gate) with a message naming what to set instead.

The refusal is one task with one list, roles/orderbooks_common/tasks/removed.yml.
The plays run for real here, in check mode on this machine
(``ansible_connection=local``, no become), with ``--tags`` naming a tag no task
has: only ``always`` tasks run, and the refusal is one of them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from testkit.playbooks import run_playbook

from gate import layout

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "roles"
ANSIBLE_DIR = REPO / "ansible"
PLAYBOOK_BIN = str(Path(sys.executable).with_name("ansible-playbook"))
REMOVED_TASKS = ROLES / "orderbooks_common" / "tasks" / "removed.yml"
ALIAS = re.compile(r"\s*\{\{-?\s*orderbooks_common_\w+\s*-?\}\}\s*")

# The 38 role variables that only repeated an orderbooks_common_* value (issue 21),
# pinned with the variable that replaces each.
ALIASES_REMOVED = {
    "orderbooks_account_name": "orderbooks_common_user",
    "orderbooks_account_group": "orderbooks_common_group",
    "orderbooks_account_home": "orderbooks_common_data_dir",
    "orderbooks_collector_releases_path": "orderbooks_common_releases_path",
    "orderbooks_collector_current_path": "orderbooks_common_current_path",
    "orderbooks_collector_env_file": "orderbooks_common_collector_env_file",
    "orderbooks_collector_data_dir": "orderbooks_common_data_dir",
    "orderbooks_collector_metrics_file": "orderbooks_common_metrics_file",
    "orderbooks_collector_group": "orderbooks_common_group",
    "orderbooks_layout_code_root": "orderbooks_common_code_root",
    "orderbooks_layout_releases_path": "orderbooks_common_releases_path",
    "orderbooks_layout_data_dir": "orderbooks_common_data_dir",
    "orderbooks_layout_config_dir": "orderbooks_common_config_dir",
    "orderbooks_layout_user": "orderbooks_common_user",
    "orderbooks_layout_group": "orderbooks_common_group",
    "orderbooks_metrics_file": "orderbooks_common_metrics_file",
    "orderbooks_metrics_group": "orderbooks_common_group",
    "orderbooks_rclone_binary": "orderbooks_common_rclone_binary",
    "orderbooks_rclone_config_dir": "orderbooks_common_rclone_config_dir",
    "orderbooks_rclone_config_file": "orderbooks_common_rclone_config_file",
    "orderbooks_rclone_user": "orderbooks_common_user",
    "orderbooks_rclone_group": "orderbooks_common_group",
    "orderbooks_rollback_releases_path": "orderbooks_common_releases_path",
    "orderbooks_rollback_current_path": "orderbooks_common_current_path",
    "orderbooks_systemd_user": "orderbooks_common_user",
    "orderbooks_systemd_group": "orderbooks_common_group",
    "orderbooks_systemd_command": "orderbooks_common_command",
    "orderbooks_systemd_data_dir": "orderbooks_common_data_dir",
    "orderbooks_systemd_rclone_config_dir": "orderbooks_common_rclone_config_dir",
    "orderbooks_systemd_collector_env_file": "orderbooks_common_collector_env_file",
    "orderbooks_systemd_upload_env_file": "orderbooks_common_upload_env_file",
    "orderbooks_systemd_collector_unit": "orderbooks_common_collector_unit",
    "orderbooks_systemd_upload_unit": "orderbooks_common_upload_unit",
    "orderbooks_systemd_upload_timer": "orderbooks_common_upload_timer",
    "orderbooks_uploader_env_file": "orderbooks_common_upload_env_file",
    "orderbooks_uploader_data_dir": "orderbooks_common_data_dir",
    "orderbooks_uploader_rclone_config": "orderbooks_common_rclone_config_file",
    "orderbooks_uploader_group": "orderbooks_common_group",
}
# Removed earlier, refused by the same task since.
EARLIER_REMOVED = {
    "orderbooks_collector_python": "orderbooks_python_interpreter",
    "orderbooks_uploader_remote": "orderbooks_rclone_remote_name",
}


def load(path: Path):
    return yaml.safe_load(path.read_text())


def role_defaults() -> dict[str, dict]:
    return {p.parents[1].name: load(p) or {} for p in sorted(ROLES.glob("*/defaults/main.yml"))}


def refusal_list() -> dict[str, str]:
    (task,) = load(REMOVED_TASKS)
    assert "ansible.builtin.fail" in task
    return task["vars"]["orderbooks_common_removed"]


def strings(value):
    """Every string inside a default (lists and dicts opened)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_the_alias_pattern_catches_an_alias_and_nothing_derived():
    assert ALIAS.fullmatch("{{ orderbooks_common_data_dir }}")
    assert ALIAS.fullmatch("{{orderbooks_common_group}}")
    assert not ALIAS.fullmatch("{{ orderbooks_common_metrics_file | dirname }}")
    assert not ALIAS.fullmatch("{{ orderbooks_common_code_root }}/releases")


def test_no_role_default_is_a_pure_alias_of_the_host_layout():
    defaults = role_defaults()
    assert len(defaults) > 5
    aliases = [
        f"{role}: {name}"
        for role, values in defaults.items()
        if role != "orderbooks_common"
        for name, value in values.items()
        if any(ALIAS.fullmatch(text) for text in strings(value))
    ]
    assert not aliases, f"read orderbooks_common_* directly instead of {aliases}"


def test_the_alias_count_went_to_zero_from_38():
    assert len(ALIASES_REMOVED) == 38


@pytest.mark.parametrize(("name", "replacement"), sorted({**ALIASES_REMOVED, **EARLIER_REMOVED}.items()))
def test_each_removed_name_is_refused_naming_its_replacement(name, replacement):
    refused = refusal_list()
    assert name in refused, f"{name} is not in {REMOVED_TASKS.relative_to(REPO)}"
    assert refused[name].split()[0] == replacement


def test_every_refused_name_is_gone_and_every_replacement_exists():
    defaults = role_defaults()
    defined = {name for values in defaults.values() for name in values}
    specified = set()
    for spec in ROLES.glob("*/meta/argument_specs.yml"):
        for entry in load(spec)["argument_specs"].values():
            specified |= set(entry.get("options") or {})
    refused = refusal_list()
    assert set(refused) == set(ALIASES_REMOVED) | set(EARLIER_REMOVED)
    assert not set(refused) & (defined | specified)
    named = {text.split()[0] for text in refused.values()}
    assert named <= defined, f"replacements that are no role variable: {sorted(named - defined)}"


def test_no_role_file_reads_a_removed_name():
    refused = refusal_list()
    word = re.compile(r"\b(" + "|".join(sorted(refused)) + r")\b")
    found = []
    for path in sorted(ROLES.rglob("*")):
        if path.is_file() and path != REMOVED_TASKS and path.suffix in {".yml", ".j2", ".py"}:
            found += [f"{path.relative_to(REPO)}: {m}" for m in word.findall(path.read_text())]
    assert not found, found


# ---------------------------------------------------------------- the plays, for real


def play(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [playbook, "-i", str(inventory), "-e", "ansible_become=false", *extra]
    if playbook != "layout.yml":
        argv += ["--check", "--tags", "orderbooks-removed-check-only"]
    return run_playbook(argv)


def said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


SET_TWO = '{"orderbooks_systemd_data_dir": "/srv/books", "orderbooks_layout_user": "books"}'


@pytest.mark.parametrize("playbook", ["site.yml", "rollback.yml", "layout.yml"])
def test_a_removed_name_stops_the_play_naming_its_replacement(inventory, playbook):
    result = play(inventory, playbook, "-e", SET_TWO)
    assert result.returncode != 0, result.stdout[-2000:]
    text = said(result)
    for old, new in (
        ("orderbooks_systemd_data_dir", "orderbooks_common_data_dir"),
        ("orderbooks_layout_user", "orderbooks_common_user"),
    ):
        assert f"{old} is set but no longer read: set {new} instead." in text


@pytest.mark.parametrize("playbook", ["site.yml", "rollback.yml", "layout.yml"])
def test_without_a_removed_name_the_refusal_is_skipped(inventory, playbook):
    result = play(inventory, playbook)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "no longer read" not in result.stdout


def test_the_gate_refuses_an_inventory_that_sets_a_removed_name(tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[orderbooks]\nold ansible_host=192.0.2.3 orderbooks_systemd_command=/usr/bin/true\n"
    )
    with pytest.raises(layout.LayoutError) as caught:
        layout.resolve(inventory, "old")
    assert "set orderbooks_common_command instead" in " ".join(str(caught.value).split())
