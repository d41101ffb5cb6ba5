"""The repository's shape holds: the collector's sub-packages import only
downward (docs/architecture.md, "Import rules"), the top level stays small, no
module grows past its limit, the gate imports nothing from the collector, the
dev tooling is installed from tools/pyproject.toml and nothing under tests/ is
reached through PYTHONPATH."""

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "collector" / "src" / "orderbooks"

#: A sub-package may import the top-level modules, itself, and the
#: sub-packages of a lower rank: never one of the same or a higher rank.
RANKS = {
    "store": 1,
    "api": 1,
    "markets": 2,
    "health": 2,
    "offload": 2,
    "quality": 2,
    "capture": 3,
    "commands": 4,
}
#: The top-level modules: the foundation every sub-package may use, and the
#: entry points (cli, __main__) that reach the commands by name.
TOP_LEVEL = {"__init__", "__main__", "cli", "exitcodes", "logs", "timefmt", "clock", "records", "config"}
MAX_TOP_LEVEL = 10
MAX_LINES = 600


def imported_modules(path: Path) -> set[str]:
    """Every ``orderbooks...`` module *path* imports (``from orderbooks.x import y``
    counts as both ``orderbooks.x`` and ``orderbooks.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("orderbooks")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orderbooks"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def package_of(dotted: str) -> str | None:
    """``orderbooks.store.writer`` -> ``store``; a top-level module -> None."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def test_top_level_holds_only_the_foundation_and_the_entry_points():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert len(modules) <= MAX_TOP_LEVEL
    assert modules == TOP_LEVEL
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(RANKS)


def test_every_sub_package_says_what_it_owns():
    for name in RANKS:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"orderbooks.{name} has no docstring saying what it owns"


def test_imports_run_only_downward():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0] if len(relative.parts) > 1 else None
        for dotted in imported_modules(path):
            target = package_of(dotted)
            if own is None:
                # The foundation imports no sub-package (cli reaches commands by name).
                if target is not None:
                    upward.append(f"{relative} -> {dotted}")
            elif target is not None and target != own and RANKS[target] >= RANKS[own]:
                upward.append(f"{relative} -> {dotted}")
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a store module importing offload is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from orderbooks.offload.upload import Uploader\nfrom orderbooks.store import paths\n")
    targets = {package_of(d) for d in imported_modules(bad)}
    assert "offload" in targets and RANKS["offload"] >= RANKS["store"]


def test_no_module_is_longer_than_the_limit():
    roots = [PACKAGE, REPO / "gate" / "src", REPO / "tools"]
    long = {
        str(p.relative_to(REPO)): n
        for root in roots
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_gate_imports_nothing_from_the_collector():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "gate" / "src").rglob("*.py")
        if any(m.startswith("orderbooks") for m in imported_modules(p))
    ]
    assert offenders == []


def test_every_tools_package_is_installed():
    project = tomllib.loads((REPO / "tools" / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    present = {p.parent.name for p in (REPO / "tools").glob("*/__init__.py")}
    assert present == listed, "list each tools/<package> in tools/pyproject.toml's packages"


def test_tests_hold_only_tests():
    helpers = [
        str(p.relative_to(REPO))
        for p in (REPO / "tests").rglob("*.py")
        if not p.name.startswith(("test_", "conftest"))
    ]
    assert helpers == []


def test_no_pythonpath_into_tests():
    offenders = []
    for path in [
        REPO / "Makefile",
        REPO / "pyproject.toml",
        *(REPO / "tests").rglob("*.py"),
        *(REPO / "tools").rglob("*.sh"),
    ]:
        if path.name == "test_package_layout.py":
            continue
        text = path.read_text()
        if "PYTHONPATH" in text or "pythonpath" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
