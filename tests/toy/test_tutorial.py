"""docs/tutorial_core.md runs as written (its python blocks are executed in order) and gives the
results it promises."""

from __future__ import annotations

import re
from pathlib import Path

import torch

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial_core.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_tutorial_runs(tmp_path, monkeypatch):
    blocks = python_blocks(TUTORIAL.read_text())
    assert len(blocks) >= 7
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "tutorial"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{TUTORIAL.name}[block {i}]", "exec"), ns)
    for name, fractions in ns["results"].items():
        assert torch.allclose(fractions, torch.full((3,), 1 / 3), atol=0.05), (name, fractions)
    assert ns["frac_class_1"] > 0.95
    assert ns["frac_right"] > 0.95
    assert (tmp_path / "runs" / "tutorial_score" / "checkpoint.safetensors").is_file()
    assert ns["ckpt"].step == 2000
