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
