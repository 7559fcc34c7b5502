"""Package layout rules: small modules with one job (issue 16)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "proteindsm"
MAX_LINES = 400


def test_no_module_exceeds_the_line_limit() -> None:
    sizes = {path.relative_to(PACKAGE.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert sizes, f"no Python files found under {PACKAGE}"
    offenders = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not offenders, (f"modules over {MAX_LINES} lines (split them by job): "
                           + ", ".join(f"{name} ({n})" for name, n in sorted(offenders.items())))
