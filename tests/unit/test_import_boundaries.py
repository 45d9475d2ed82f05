"""One-way dependencies: edge -> models, cloud -> models; never edge <-> cloud, models -> neither.

Checked on the source (every import statement, including lazy ones inside functions), so a
violation hidden in a rarely run code path is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "models": {"edge", "cloud"},
    "edge": {"cloud"},
    "cloud": {"edge"},
}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_boundaries(package: str) -> None:
    sources = sorted((REPO / package).rglob("*.py"))
    assert sources, f"no sources found for {package}"
    violations = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sources
        for name in sorted(_imported_top_levels(path) & FORBIDDEN[package])
    ]
    assert violations == []


def test_checker_detects_a_violation(tmp_path: Path) -> None:
    offender = tmp_path / "offender.py"
    offender.write_text(
        "def f():\n    from cloud.storage import open_storage\n    import edge.cli\n"
    )
    assert _imported_top_levels(offender) == {"cloud", "edge"}
