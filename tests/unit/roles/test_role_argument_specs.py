"""Every role's meta/argument_specs.yml declares exactly its defaults/main.yml,
with the same default values (a templated default, ``{{ ... }}``, is documented
in the spec by the value it renders to, so only its presence is compared)."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").is_file())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_every_role_with_defaults_is_checked():
    assert ROLE_NAMES
    assert all((ROLES / name / "meta" / "argument_specs.yml").is_file() for name in ROLE_NAMES)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_argument_specs_match_defaults(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    assert sorted(options) == sorted(defaults), f"{role}: specs and defaults differ"
    for name, spec in options.items():
        assert "default" in spec, f"{role}: {name} lacks a default in its spec"
        if "{{" not in str(defaults[name]):
            assert spec["default"] == defaults[name], f"{role}: {name} defaults differ"
