"""Lists in the docs that name files stay true: the README's documents, the
architecture's module map, the gate package's module list."""

import re
from pathlib import Path

import gate

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "collector" / "src" / "orderbooks"


def test_readme_links_every_document():
    readme = (REPO / "README.md").read_text()
    missing = [p.name for p in sorted((REPO / "docs").iterdir()) if f"(docs/{p.name})" not in readme]
    assert not missing, f"README.md does not link: {missing}"


def test_architecture_names_every_package_and_top_level_module():
    architecture = (REPO / "docs" / "architecture.md").read_text()
    packages = [p.parent.name for p in sorted(PACKAGE.glob("*/__init__.py"))]
    modules = [p.name for p in sorted(PACKAGE.glob("*.py")) if not p.name.startswith("__")]
    missing = [f"{m}/" for m in packages if f"**`{m}/`" not in architecture]
    missing += [m for m in modules if f"`{m}`" not in architecture]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def test_gate_module_list_names_existing_modules_only():
    listed = re.findall(r"^- ``(\w+)``", gate.__doc__ or "", flags=re.MULTILINE)
    here = Path(gate.__file__).parent
    assert listed
    assert [m for m in listed if not (here / f"{m}.py").is_file()] == []
    assert sorted(listed) == sorted(p.stem for p in here.glob("*.py") if p.stem != "__init__")


def test_every_repository_path_the_docs_name_exists():
    """A command in the docs that names a test, script or file of this
    repository names one that is there."""
    named = set()
    texts = [*(REPO / "docs").glob("*.md"), REPO / "README.md", REPO / "Makefile", REPO / "inventory.example"]
    for path in texts:
        named |= set(
            re.findall(
                r"\b(?:tests|tools|gate|collector|roles|ansible)/[\w./-]+\.(?:py|sh|toml|yml|j2)\b",
                path.read_text(),
            )
        )
    assert named
    assert sorted(p for p in named if not (REPO / p).exists()) == []
