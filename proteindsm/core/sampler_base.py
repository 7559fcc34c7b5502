"""What every sampler shares: the :class:`Sampler` protocol and its :class:`SampleResult`, the prior
draw :func:`prior_sample`, the σ-grid check :func:`check_sigmas` and :class:`SamplerRun`, the
book-keeping of one ``sample`` call (noise, projection, masking, finiteness checks, progress bar,
trajectory).  The algorithms themselves are in :mod:`proteindsm.core.samplers`.

Conventions: ``x`` ``(B, ...)``, ``sigma`` per sample ``(B,)``, an optional ``mask`` of valid
elements ``x.shape[:k]``; randomness only from the ``generator`` argument; tensors stay on the device
of the initial state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Protocol

import torch
from torch import Tensor
from tqdm.auto import tqdm

from proteindsm.errors import InputError, SamplerDivergedError

from .types import Cond, ProjectFn, ScoreFn, apply_mask, identity_project

__all__ = ["CHECK_EVERY", "SampleResult", "Sampler", "SamplerRun", "check_sigmas", "defers_checks", "prior_sample"]


@dataclass
class SampleResult:
    """Final states ``x (B, ...)``, the σ grid used, and (when asked) the trajectory: a list of
    states ``(B, ...)`` on the CPU, the initial state first and one entry per σ level after it."""

    x: Tensor
    sigmas: Tensor
    trajectory: Optional[list[Tensor]] = None
    num_evaluations: int = 0


class Sampler(Protocol):
    """What every sampler offers (see the module docstring for the equations)."""

    def sample(self, score_fn: ScoreFn, x_init: Tensor, sigmas: Tensor, *, mask: Optional[Tensor] = None,
               cond: Cond = None, project: ProjectFn = identity_project,
               generator: Optional[torch.Generator] = None, return_trajectory: bool = False,
               progress: bool = False) -> SampleResult: ...

    def num_evaluations(self, sigmas: Tensor | int) -> int: ...


def prior_sample(shape: tuple[int, ...], sigma_max: float, *, mask: Optional[Tensor] = None,
                 project: ProjectFn = identity_project, generator: Optional[torch.Generator] = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """σ_max·ε, ε ~ N(0, I) in the projected subspace, zero at masked elements: ``shape``."""
    device = generator.device if (generator is not None and device is None) else device
    eps = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    return sigma_max * project(apply_mask(eps, mask), mask)


def check_sigmas(sigmas: Tensor) -> None:
    """Raise :class:`InputError` unless ``sigmas`` is a 1-D, finite, positive, descending grid."""
    if sigmas.dim() != 1 or sigmas.numel() < 1:
        raise InputError(f"sampler σ grid must be a non-empty 1-D tensor, got shape {tuple(sigmas.shape)}")
    if not torch.isfinite(sigmas).all() or (sigmas <= 0).any():
        raise InputError(f"sampler σ grid must be finite and positive, got {sigmas.tolist()}")
    if sigmas.numel() > 1 and (sigmas[1:] >= sigmas[:-1]).any():
        raise InputError("sampler σ grid must be strictly descending (σ_max first, σ_min last)")


def check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"sampler.{name} must be a positive number, got {value!r}")


def num_grid_levels(sigmas: Tensor | int) -> int:
    """The number of levels of a σ grid ``(N,)``, or N itself."""
    return len(sigmas) if torch.is_tensor(sigmas) else int(sigmas)


def check_non_negative_int(name: str, value: int, minimum: int = 0) -> None:
    if int(value) != value or value < minimum:
        raise InputError(f"sampler.{name} must be an integer >= {minimum}, got {value!r}")


CHECK_EVERY = 25
"""On an accelerator, how many steps pass between reads of the divergence flag (see ``SamplerRun.settle``)."""


def defers_checks(device: torch.device) -> bool:
    """Whether the divergence check waits :data:`CHECK_EVERY` steps on ``device`` (not on the CPU)."""
    return device.type != "cpu"


class SamplerRun:
    """Book-keeping shared by the samplers: noise, projection, masking, finiteness checks, progress
    bar and trajectory.  One instance per call of ``sample``."""

    def __init__(self, score_fn: ScoreFn, x: Tensor, sigmas: Tensor, mask: Optional[Tensor], cond: Cond,
                 project: ProjectFn, generator: Optional[torch.Generator], return_trajectory: bool,
                 progress: bool, total: int, name: str) -> None:
        check_sigmas(sigmas)
        self.score_fn, self.mask, self.cond, self.project = score_fn, mask, cond, project
        self.generator = generator
        self.sigmas = sigmas.to(device=x.device, dtype=x.dtype)
        self.batch = x.shape[0]
        self.trajectory: Optional[list[Tensor]] = [x.detach().cpu().clone()] if return_trajectory else None
        self.bar = tqdm(total=total, desc=name, disable=not progress, leave=False, unit="eval")
        self.evaluations = 0
        self._first_bad: Optional[Tensor] = None   # accelerators: first non-finite step, on the device
        self._step_sigma: dict[int, Tensor | float] = {}

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        if torch.is_tensor(sigma):  # a grid entry on x's device: no host round trip
            s = sigma.to(device=x.device, dtype=x.dtype).reshape(()).expand(self.batch).clone()
        else:
            s = torch.full((self.batch,), float(sigma), device=x.device, dtype=x.dtype)
        out = self.score_fn(x, s, self.cond)
        self.evaluations += 1
        self.bar.update(1)
        return self.project(apply_mask(out, self.mask), self.mask)

    def noise(self, x: Tensor) -> Tensor:
        z = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return self.project(apply_mask(z, self.mask), self.mask)

    def settle(self, x: Tensor, step: int, sigma: Tensor | float) -> Tensor:
        """Re-project, zero padding, and stop with a clear error if the state blew up.

        On the CPU every step is checked at once.  On an accelerator the first non-finite step is
        tracked on the device and read back every :data:`CHECK_EVERY` steps (and at the end), so the
        sampler does not wait for the device at each step; the error still names that step and σ."""
        x = self.project(apply_mask(x, self.mask), self.mask)
        if not defers_checks(x.device):
            if not torch.isfinite(x).all():
                self._diverged(step, sigma)
            return x
        bad = ~torch.isfinite(x).all()
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=x.device)
        self._first_bad = torch.where(bad & (self._first_bad < 0), torch.full_like(self._first_bad, step),
                                      self._first_bad)
        self._step_sigma[step] = sigma
        if step % CHECK_EVERY == 0:
            self._check_device()
        return x

    def _check_device(self) -> None:
        if self._first_bad is not None and int(self._first_bad) >= 0:
            step = int(self._first_bad)
            self._diverged(step, self._step_sigma.get(step, float("nan")))
        self._step_sigma.clear()

    def _diverged(self, step: int, sigma: Tensor | float) -> None:
        self.bar.close()
        raise SamplerDivergedError(
            f"sampler produced NaN/inf at step {step} (σ = {float(sigma):.4g}); try a smaller step "
            f"size (eps / snr) or more σ levels")

    def record(self, x: Tensor) -> None:
        if self.trajectory is not None:
            self.trajectory.append(x.detach().cpu().clone())

    def result(self, x: Tensor) -> SampleResult:
        self._check_device()
        self.bar.close()
        return SampleResult(x=x, sigmas=self.sigmas.detach().cpu(), trajectory=self.trajectory,
                            num_evaluations=self.evaluations)
