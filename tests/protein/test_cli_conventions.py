"""CLI habits: --help / --version exit 0; bad values, unknown keys and unwritable outputs give one
`proteindsm: error:` line, exit 2, no traceback, nothing written, before any model loads."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from proteindsm.cli import COMMANDS, main


def test_version_and_top_level_help(capsys):
    from proteindsm.resources import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"proteindsm {version()}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: proteindsm" in out and "sample" in out and "--version" in out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_lists_options_defaults_and_descriptions(command, capsys):
    argv = command.split() + ["--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: proteindsm {command}") and "options" in out
    if command == "sample":
        assert "num=8" in out and "backbones per length" in out and "sampler=langevin_sheet_wide" in out
        assert "steric.scale=1.0" in out and "langevin_fast" in out


def test_help_runs_as_a_process():
    res = subprocess.run([sys.executable, "-m", "proteindsm.cli", "sample", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "seed=0" in res.stdout


def _fails_fast(capsys, argv, message, out=None):
    t0 = time.perf_counter()
    assert main(argv) == 2
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("proteindsm: error:"), err
    assert message in err and "Traceback" not in err
    assert seconds < 2.0, seconds
    if out is not None:
        assert not out.exists()


@pytest.mark.parametrize("command", ["sample", "design", "scaffold", "evaluate", "sequences", "data build"])
def test_seed_must_be_an_integer(command, tmp_path, capsys):
    out = tmp_path / "out"
    _fails_fast(capsys, command.split() + ["seed=abc", f"out={out}"], "seed must be a non-negative integer", out)


@pytest.mark.parametrize("command,extra", [
    ("sample", []), ("design", ["property=helix_fraction", "target=0.5"]),
    ("scaffold", ["contig=5-10"]), ("evaluate", ["samples=."]), ("data build", ["input=."]),
    ("sequences", ["samples=."]),
])
def test_unwritable_out_fails_before_any_work(command, extra, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fails_fast(capsys, command.split() + extra + [f"out={blocker / 'sub' / 'x.json'}"], "not writable")
    assert blocker.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_out_folder_that_is_a_file_and_file_that_is_a_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _fails_fast(capsys, ["sample", f"out={blocker}"], "is a file")
    _fails_fast(capsys, ["evaluate", "samples=.", f"out={tmp_path}"], "is a folder")


@pytest.mark.parametrize("argv,suggestion", [
    (["sample", "lenght=40"], "did you mean 'length'"),
    (["sample", "steric.scal=1"], "did you mean 'steric.scale'"),
    (["design", "tagret=0.5"], "did you mean 'target'"),
    (["evaluate", "sample=DIR"], "did you mean 'samples'"),
])
def test_unknown_key_names_the_closest_one(argv, suggestion, tmp_path, capsys):
    _fails_fast(capsys, argv + [f"out={tmp_path / 'o'}"], suggestion, tmp_path / "o")


def test_unknown_command_suggests(capsys):
    assert main(["smaple"]) == 2
    assert "did you mean 'sample'" in capsys.readouterr().err


@pytest.mark.parametrize("arg,message", [("save_trajectory=abc", "save_trajectory must be true or false"),
                                         ("view=3", "view must be true or false"),
                                         ("progress=maybe", "progress must be true or false")])
def test_flags_must_be_booleans(arg, message, tmp_path, capsys):
    _fails_fast(capsys, ["sample", arg, f"out={tmp_path / 'o'}"], message, tmp_path / "o")


def test_cli_modules_import_each_other_without_a_cycle():
    """No import cycle among ``proteindsm.cli`` modules (e.g. train ↔ train_predictor), counting
    imports inside functions too; shared helpers live in ``cli/config.py``."""
    import ast
    from pathlib import Path

    import proteindsm.cli as cli

    root = Path(cli.__file__).parent
    graph = {}
    for path in root.glob("*.py"):
        name = path.stem
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level == 1:
                    deps |= {mod.split(".")[0]} if mod else {a.name for a in node.names}
                elif mod.startswith("proteindsm.cli."):
                    deps.add(mod.split(".")[2])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[2] for a in node.names if a.name.startswith("proteindsm.cli.")}
        graph[name] = {d for d in deps if (root / f"{d}.py").exists() and d != name}
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for d in sorted(graph[n]):
            assert state.get(d) != 1, f"import cycle: {' -> '.join(path + [n, d])}"
            if d not in state:
                visit(d, path + [n])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [])
    assert "train" not in graph["train_predictor"]
