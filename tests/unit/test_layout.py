"""tests/pyproject.toml installs every helper module of tests/support, and nothing
under tests/ is reached through PYTHONPATH."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_support_module_is_installed():
    project = tomllib.loads((REPO / "tests" / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["py-modules"])
    present = {p.stem for p in (REPO / "tests" / "support").glob("*.py")}
    assert present == listed, "list each tests/support/*.py in tests/pyproject.toml's py-modules"


def test_no_pythonpath_into_tests():
    offenders = []
    for path in [
        REPO / "Makefile",
        REPO / "pyproject.toml",
        *(REPO / "tests").rglob("*.py"),
        *(REPO / "tests").rglob("*.sh"),
    ]:
        if path.name == "test_layout.py":
            continue
        text = path.read_text()
        if "PYTHONPATH" in text or "pythonpath" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
