"""Command-line entry point ``proteindsm <command> key=value ...`` (Hydra overrides).

Commands and the primary config each composes (under ``configs/``):

==========  =====================  ==========================================================
command     config                 what it does
==========  =====================  ==========================================================
toy         toy/toy.yaml           train + sample a 2-D toy model, write metrics and plots
image       image/image.yaml       train a σ-conditioned U-Net on small images, FID tracking
train       protein/train.yaml     train a protein score model or property predictor
sample      protein/sample.yaml    sample backbones from a checkpoint, write PDB/mmCIF
design      protein/design.yaml    guided sampling toward a target property
scaffold    protein/scaffold.yaml  backbones that hold a motif (contig syntax), PDB + report
diversify   protein/diversify.yaml variants of a backbone by partial diffusion, PDB + report
evaluate    protein/evaluate.yaml  evaluate generated backbones against real chains
sequences   protein/sequences.yaml ProteinMPNN sequence designs for a folder of backbones
data build  protein/data_build.yaml  turn a folder of PDB/mmCIF files into a corpus .npz
==========  =====================  ==========================================================

This package is the only place that reads configs and instantiates components from them.
Errors from bad input (:class:`proteindsm.errors.InputError`) are printed as one line without a
traceback, exit status 2.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from typing import Callable, Optional, Sequence

from omegaconf import DictConfig

from proteindsm.errors import InputError, SamplerDivergedError

from . import config
from .config import compose

# command -> (config folder, config name, module with run(cfg) -> int)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "toy": ("toy", "toy", "proteindsm.cli.toy"),
    "image": ("image", "image", "proteindsm.cli.image"),
    "train": ("protein", "train", "proteindsm.cli.train"),
    "sample": ("protein", "sample", "proteindsm.cli.sample"),
    "design": ("protein", "design", "proteindsm.cli.design"),
    "scaffold": ("protein", "scaffold", "proteindsm.cli.scaffold"),
    "diversify": ("protein", "diversify", "proteindsm.cli.diversify"),
    "evaluate": ("protein", "evaluate", "proteindsm.cli.evaluate"),
    "sequences": ("protein", "sequences", "proteindsm.cli.sequences"),
    "data build": ("protein", "data_build", "proteindsm.cli.data_build"),
}

USAGE = """usage: proteindsm <command> [key=value ...]

commands:
  sample     sample protein backbones (PDB/mmCIF) from the shipped checkpoint
  design     guided sampling toward a target property (helix_fraction, rg, ...)
  scaffold   backbones that hold a motif: motif=FILE.pdb contig="10-20/A16-30/5-15"
  diversify  variants of a backbone by partial diffusion: input=FILE.pdb sigma=2.0
  evaluate   geometry / secondary structure / diversity metrics of generated backbones
  sequences  ProteinMPNN sequence designs for a folder of backbones (optional package)
  train      train a score model or property predictor (experiment=...)
  data build turn a folder of PDB/mmCIF files into a training corpus
  toy        2-D toy problems (Song & Ermon's mixture, rings, ...)
  image      small-image DSM (digits, MNIST subset) with a σ-conditioned U-Net

options:
  -h, --help     this message; `proteindsm <command> --help` lists a command's keys and defaults
  -V, --version  print the package version

add --cfg to print the composed config instead of running; overrides follow Hydra syntax."""

def _descriptions() -> dict[str, str]:
    """command -> its one-line description (the commands list of :data:`USAGE`)."""
    out = {}
    for line in USAGE.split("commands:")[1].split("options:")[0].strip().splitlines():
        text = line.strip()
        name = "data build" if text.startswith("data build") else text.split()[0]
        out[name] = text[len(name):].strip()
    return out


DESCRIPTIONS = _descriptions()

# command -> the keys that name outputs, and whether each is a folder or a file (checked writable first)
OUTPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "sample": (("out", "dir"),), "design": (("out", "dir"),), "scaffold": (("out", "dir"),), "diversify": (("out", "dir"),),
    "evaluate": (("out", "file"), ("plots", "dir")), "data build": (("out", "file"),),
    "sequences": (("out", "file"),), "toy": (("out", "dir"),),
}


def _quote(arg: str) -> str:
    return shlex.quote(str(arg))


def _help_requested(args: Sequence[str]) -> bool:
    return any(a in ("-h", "--help") for a in args)


def _split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    if argv and argv[0] == "help" and len(argv) > 1:
        argv = [*argv[1:], "--help"]
    if argv[0] == "data":
        if len(argv) < 2 or argv[1] != "build":
            raise InputError("unknown command 'data': did you mean 'proteindsm data build input=DIR out=FILE'?")
        return "data build", list(argv[2:])
    if argv[0] not in COMMANDS:
        import difflib
        close = difflib.get_close_matches(argv[0], [c.split()[0] for c in COMMANDS], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown command {argv[0]!r}; {hint}choose one of: {', '.join(COMMANDS)}")
    return argv[0], list(argv[1:])


def check_inputs(command: str, cfg: DictConfig) -> None:
    """Checks every command gets before any work: ``seed`` an integer, every output path writable."""
    from omegaconf import OmegaConf

    from .config import check_writable, check_seed

    if "seed" in cfg:
        check_seed(cfg.seed)
    for key, kind in OUTPUTS.get(command, ()):
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if value not in (None, "", "???"):
            check_writable(value, kind, key)


def run_command(command: str, overrides: Sequence[str]) -> int:
    """Compose the command's config with ``overrides`` and run it (used by tests too)."""
    folder, name, module = COMMANDS[command]
    show = "--cfg" in overrides
    cfg = compose(folder, name, [o for o in overrides if o != "--cfg"])
    if show:
        from omegaconf import OmegaConf
        print(OmegaConf.to_yaml(cfg))
        return 0
    check_inputs(command, cfg)
    config.LAST_COMMAND = " ".join(["proteindsm", command, *(_quote(o) for o in overrides)])
    config.LAST_OVERRIDES = list(overrides)
    runner: Callable[[DictConfig], int] = importlib.import_module(module).run
    return int(runner(cfg) or 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv:
            print(USAGE, file=sys.stderr)
            return 2
        if argv[0] in ("-h", "--help", "help") and len(argv) == 1:
            print(USAGE)
            return 0
        if argv[0] in ("-V", "--version"):
            from proteindsm.resources import version
            print(f"proteindsm {version()}")
            return 0
        command, overrides = _split_command(argv)
        if _help_requested(overrides):
            from .help import command_help
            folder, name, _ = COMMANDS[command]
            print(command_help(command, folder, name, DESCRIPTIONS.get(command, "")))
            return 0
        return run_command(command, overrides)
    except InputError as exc:
        print(f"proteindsm: error: {exc}", file=sys.stderr)
        return 2
    except SamplerDivergedError as exc:       # settings that are too aggressive for this model
        print(f"proteindsm: error: {exc} (no samples were written)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("proteindsm: interrupted (outputs written so far are complete files; `sample`, `design`, "
              "`scaffold` and `diversify` continue a partial folder and training resumes from its last "
              "checkpoint when rerun with the same command)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
