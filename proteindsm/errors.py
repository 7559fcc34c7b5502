"""Error types shown to users: one clear message naming the file/field and what was expected."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (a file, a config field, a CLI argument, a checkpoint).

    The message names the offending file or field and says what was expected.  The CLI prints it
    without a traceback and exits with status 2.
    """


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupt, or belongs to another model."""


class SamplerDivergedError(RuntimeError):
    """A sampler produced NaN/inf; the message names the step index and σ at which it happened."""
