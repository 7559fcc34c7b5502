"""Rollout training (exposure bias): rows trained on the state one sampler step reaches, x̂₀ + σε'.

Known answer on Gaussian data: for x0 ~ N(0, a²), x̃ = x0 + σε and the exact first-pass estimate
x̂₀ = k x̃ (k = a²/(a² + σ²)), the rollout state is x' = x̂₀ + σε'.  Among denoisers D(x') = c x' the
loss is minimised by c* = E[x0 x'] / E[x'²] = k a² / (k²(a² + σ²) + σ²) — not the posterior-mean
factor k of plain DSM — so the test tells the two objectives apart.
"""

from __future__ import annotations

import pytest
import torch

from proteindsm.core import SELF_COND_KEY, Batch, DSMObjective, GeometricSchedule, dsm_loss


class ExactThenLinear(torch.nn.Module):
    """First pass (no estimate): the exact score of N(0, a²) data.  Second pass (an estimate given):
    the score of the linear denoiser D(x) = c x, i.e. (c x − x)/σ².  Records every input."""

    def __init__(self, a: float, c: float) -> None:
        super().__init__()
        self.a, self.c = a, c
        self.inputs: list = []

    def forward(self, x, sigma, cond=None):
        self.inputs.append(x.clone())
        s = sigma[:, None]
        has_estimate = cond[SELF_COND_KEY].abs().sum(dim=1, keepdim=True) > 0
        exact = -x / (self.a ** 2 + s ** 2)
        linear = (self.c * x - x) / s ** 2
        return torch.where(has_estimate, linear, exact)


def _rollout_loss(c: float, a: float, sigma: float, n: int = 200_000) -> float:
    g = torch.Generator().manual_seed(0)
    x0 = a * torch.randn(n, 1, generator=g, dtype=torch.float64)
    noise = torch.randn(n, 1, generator=g, dtype=torch.float64)
    fresh = torch.randn(n, 1, generator=g, dtype=torch.float64)
    rows = torch.ones(n, dtype=torch.bool)
    sig = torch.full((n,), sigma, dtype=torch.float64)
    return float(dsm_loss(ExactThenLinear(a, c), x0, sig, noise, self_condition=rows,
                          rollout=rows, rollout_noise=fresh).mean())


@pytest.mark.parametrize("a,sigma", [(1.0, 1.0), (1.0, 2.0)])
def test_rollout_loss_minimiser_matches_the_gaussian_answer(a, sigma):
    k = a ** 2 / (a ** 2 + sigma ** 2)
    expected = k * a ** 2 / (k ** 2 * (a ** 2 + sigma ** 2) + sigma ** 2)
    # the loss is a parabola in c: three evaluations give its vertex
    c = (0.0, 0.5, 1.0)
    l0, l1, l2 = (_rollout_loss(ci, a, sigma) for ci in c)
    curvature = (l2 - 2 * l1 + l0) / 0.25
    slope_at_zero = (l1 - l0) / 0.5 - curvature * 0.5 / 2
    vertex = -slope_at_zero / curvature
    assert vertex == pytest.approx(expected, rel=0.02)
    assert abs(vertex - k) > 0.1            # plain DSM's minimiser is k: the objectives differ


def test_rollout_input_is_estimate_plus_fresh_noise_and_other_rows_are_plain():
    g = torch.Generator().manual_seed(3)
    x0, noise, fresh = (torch.randn(4, 3, generator=g) for _ in range(3))
    sigma = torch.tensor([0.5, 1.0, 2.0, 4.0])
    sc = torch.tensor([True, True, False, True])
    roll = torch.tensor([True, False, False, True])
    model = ExactThenLinear(a=1.5, c=0.9)
    dsm_loss(model, x0, sigma, noise, self_condition=sc, rollout=roll, rollout_noise=fresh)
    first, second = model.inputs
    s = sigma[:, None]
    noisy = x0 + s * noise
    estimate = noisy * 1.5 ** 2 / (1.5 ** 2 + s ** 2)
    assert torch.equal(first, noisy)
    assert torch.allclose(second[roll], (estimate + s * fresh)[roll])
    assert torch.equal(second[~roll], noisy[~roll])
    # no rollout rows: bit-identical to the plain self-conditioned loss
    none = torch.zeros(4, dtype=torch.bool)
    assert torch.equal(dsm_loss(ExactThenLinear(1.5, 0.9), x0, sigma, noise, self_condition=sc, rollout=none,
                                rollout_noise=fresh),
                       dsm_loss(ExactThenLinear(1.5, 0.9), x0, sigma, noise, self_condition=sc))


def test_rollout_rows_must_be_self_conditioned_and_padding_is_not_rolled():
    x0, noise = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    sigma = torch.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="self-conditioned"):
        dsm_loss(ExactThenLinear(1.0, 0.5), x0.flatten(1), sigma, noise.flatten(1),
                 self_condition=torch.tensor([True, False]), rollout=torch.tensor([False, True]),
                 rollout_noise=noise.flatten(1))
    mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5])
    seen = []

    def model(x, sig, cond=None):
        seen.append(x.clone())
        return -x / (1.0 + sig[:, None, None] ** 2)

    rows = torch.tensor([True, True])
    dsm_loss(model, x0, sigma, noise, mask=mask, self_condition=rows, rollout=rows,
             rollout_noise=torch.randn(2, 5, 3))
    assert torch.equal(seen[1][0, 3:], x0[0, 3:])    # padding keeps x0 (not noised, not counted)


def test_objective_rollout_draws_a_subset_of_self_conditioned_rows_and_zero_draws_nothing():
    sched = GeometricSchedule(sigma_min=0.1, sigma_max=5.0)
    batch = Batch(x=torch.zeros(4000, 3))
    d0 = DSMObjective(sched, self_conditioning_rate=0.5).draw(batch, torch.Generator().manual_seed(1))
    d1 = DSMObjective(sched, self_conditioning_rate=0.5, rollout_rate=0.5).draw(batch, torch.Generator().manual_seed(1))
    assert "rollout" not in d0 and all(torch.equal(d0[k], d1[k]) for k in d0)   # same draws before the new keys
    assert not bool((d1["rollout"] & ~d1["self_condition"]).any())
    assert 0.22 < d1["rollout"].float().mean() < 0.28
    with pytest.raises(ValueError, match="rollout_rate"):
        DSMObjective(sched, rollout_rate=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DSMObjective(sched, self_conditioning_rate=0.5, rollout_rate=1.5)


def test_k_step_rollout_runs_the_sampler_steps_on_the_rollout_rows_only():
    """rollout_noise (B, k, ...): after the first step, k − 1 gradient-free passes on the rollout rows
    alone, each fed the previous estimate; the trained pass sees x̂₀_last + σ ε'_k with x̂₀_last as
    its self-conditioning input.  The other rows are exactly as without a rollout."""
    g = torch.Generator().manual_seed(5)
    x0, noise = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    fresh = torch.randn(4, 3, 3, generator=g).movedim(1, 0)          # k = 3; fresh[j] is step j's noise
    sigma = torch.tensor([0.5, 1.0, 2.0, 4.0])
    sc = torch.tensor([True, True, False, True])
    roll = torch.tensor([True, False, False, True])
    calls = []

    def model(x, sig, cond=None):                                  # D(x) = 0.8 x + 0.1 x̂₀(previous)
        calls.append((x.clone(), sig.clone(), cond[SELF_COND_KEY].clone()))
        s = sig[:, None]
        return (0.8 * x + 0.1 * cond[SELF_COND_KEY] - x) / s ** 2

    dsm_loss(model, x0, sigma, noise, self_condition=sc, rollout=roll, rollout_noise=fresh.movedim(0, 1))
    assert len(calls) == 4                                         # first pass, 2 rollout passes, trained pass
    s = sigma[:, None]
    noisy = x0 + s * noise
    est = torch.where(sc[:, None], 0.8 * noisy, torch.zeros_like(noisy))      # first pass: no estimate
    assert torch.equal(calls[0][0], noisy)
    x, prev = (est + s * fresh[0])[roll], est[roll]
    for j, (inp, sig, sc_in) in enumerate(calls[1:3]):
        assert torch.equal(sig, sigma[roll]) and torch.allclose(inp, x) and torch.allclose(sc_in, prev)
        prev = 0.8 * x + 0.1 * prev
        x = prev + s[roll] * fresh[j + 1][roll]
    final_x, _, final_sc = calls[3]
    assert torch.allclose(final_x[roll], x) and torch.allclose(final_sc[roll], prev)
    assert torch.equal(final_x[~roll], noisy[~roll]) and torch.equal(final_sc[~roll], est[~roll])
    # k = 1 given with its leading axis is the one-step rollout
    one = dsm_loss(model, x0, sigma, noise, self_condition=sc, rollout=roll, rollout_noise=fresh[:1].movedim(0, 1))
    assert torch.equal(one, dsm_loss(model, x0, sigma, noise, self_condition=sc, rollout=roll, rollout_noise=fresh[0]))


def test_objective_rollout_steps_draws_k_noises_and_checks_its_value():
    sched = GeometricSchedule(sigma_min=0.1, sigma_max=5.0)
    batch = Batch(x=torch.zeros(6, 3))
    one = DSMObjective(sched, self_conditioning_rate=0.5, rollout_rate=0.5).draw(batch, torch.Generator().manual_seed(2))
    four = DSMObjective(sched, self_conditioning_rate=0.5, rollout_rate=0.5, rollout_steps=4).draw(
        batch, torch.Generator().manual_seed(2))
    assert one["rollout_noise"].shape == (6, 3) and four["rollout_noise"].shape == (6, 4, 3)   # batch-first
    from proteindsm.core.types import shard_draw
    assert shard_draw(four, 1, 2)["rollout_noise"].shape == (3, 4, 3)        # a data-parallel shard keeps all k
    assert all(torch.equal(one[k], four[k]) for k in ("sigma", "noise", "self_condition", "rollout"))
    for bad in (0, 2.5, True, "abc", float("nan"), float("inf")):
        with pytest.raises(ValueError, match="rollout_steps"):
            DSMObjective(sched, self_conditioning_rate=0.5, rollout_rate=0.5, rollout_steps=bad)
