"""The installed package holds every subpackage: ``pyproject.toml`` lists packages explicitly
(``proteindsm.configs`` is mapped from the top-level ``configs/``), so a new folder must be added there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages\s*=\s*\[(.*?)\]", text, flags=re.S | re.M)
    assert block is not None, "pyproject.toml has no [tool.setuptools] packages list"
    listed = set(re.findall(r'"([\w.]+)"', block.group(1)))
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "proteindsm").rglob("__init__.py")}
    missing = sorted(found - listed)
    assert not missing, f"subpackages not installed by pyproject.toml: {missing}"
    assert "proteindsm.configs" in listed


def test_protein_subpackages_import_only_earlier_ones() -> None:
    """structure → data → model → analysis → generate (+ sequences, standalone): no subpackage of
    proteindsm.protein imports a later one, so the layout is a DAG that reads as the data flows."""
    import ast

    order = ["structure", "data", "model", "analysis", "generate", "sequences"]
    root = ROOT / "proteindsm" / "protein"
    bad = []
    for f in root.rglob("*.py"):
        parts = f.relative_to(root).parts
        if len(parts) < 2:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("proteindsm.protein."):
                dst = node.module.split(".")[2]
                if dst in order and dst != parts[0] and order.index(dst) > order.index(parts[0]):
                    bad.append(f"{'/'.join(parts)} imports {node.module}")
    assert not bad, bad
