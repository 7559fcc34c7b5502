"""Self-conditioning in the core: training passes, the sampling wrapper, and 'off = unchanged'."""

from __future__ import annotations

import torch

from proteindsm.core import (SELF_COND_KEY, AnnealedLangevin, Batch, DSMObjective, GeometricSchedule, SelfConditioning,
                             dsm_loss, prior_sample)

from .gaussians import gaussian_score


class Recorder(torch.nn.Module):
    """The exact score of N(0, s² I) data, recording the self-conditioning input of every call."""

    def __init__(self, s_data: float = 1.5) -> None:
        super().__init__()
        self.s_data = s_data
        self.seen: list = []

    def forward(self, x, sigma, cond=None):
        self.seen.append(None if cond is None or SELF_COND_KEY not in cond else cond[SELF_COND_KEY].clone())
        return -x / (self.s_data ** 2 + sigma[:, None] ** 2)


def test_training_passes_feed_tweedie_estimate_to_chosen_rows():
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    sigma = torch.tensor([0.5, 1.0, 2.0, 4.0])
    model = Recorder()
    rows = torch.tensor([True, False, True, False])
    loss = dsm_loss(model, x0, sigma, noise, self_condition=rows)
    first, second = model.seen
    assert torch.equal(first, torch.zeros(4, 3))                        # the first pass has no estimate
    x = x0 + sigma[:, None] * noise
    tweedie = x - sigma[:, None] ** 2 * x / (1.5 ** 2 + sigma[:, None] ** 2)
    assert torch.allclose(second[rows], tweedie[rows]) and torch.equal(second[~rows], torch.zeros(2, 3))
    # a model that ignores the estimate gets exactly the plain loss
    assert torch.equal(loss, dsm_loss(Recorder(), x0, sigma, noise))


def test_objective_rate_zero_is_the_plain_objective():
    sched = GeometricSchedule(sigma_min=0.1, sigma_max=5.0)
    batch = Batch(x=torch.randn(6, 3, generator=torch.Generator().manual_seed(1)))
    plain, sc0 = DSMObjective(sched), DSMObjective(sched, self_conditioning_rate=0.0)
    d1, d2 = plain.draw(batch, torch.Generator().manual_seed(2)), sc0.draw(batch, torch.Generator().manual_seed(2))
    assert d1.keys() == d2.keys() and all(torch.equal(d1[k], d2[k]) for k in d1)
    model = Recorder()
    sc0(model, batch, d2)
    assert model.seen == [None]                                         # no extra key, one pass
    half = DSMObjective(sched, self_conditioning_rate=0.5).draw(Batch(x=torch.zeros(4000, 3)),
                                                                torch.Generator().manual_seed(3))
    assert 0.46 < half["self_condition"].float().mean() < 0.54


def test_sampling_wrapper_feeds_previous_estimate_and_resets():
    model = Recorder()
    sc = SelfConditioning(model)
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(4))
    s1, s2 = torch.full((2,), 3.0), torch.full((2,), 1.0)
    out1 = sc(x, s1)
    out2 = sc(x, s2)
    assert torch.equal(model.seen[0], torch.zeros(2, 3))
    assert torch.allclose(model.seen[1], x + 9.0 * out1)                # x̂₀ = x + σ² s of the last call
    sc(x, 1.4 * s2)                                  # EDM churn raises σ by ≤ √2: the same run
    assert torch.allclose(model.seen[2], x + 1.0 * out2)
    sc(x, s1)                                                           # σ jumped up: a new run
    assert torch.equal(model.seen[3], torch.zeros(2, 3))


def test_sampling_with_a_self_conditioned_exact_score_is_unchanged():
    """Known answer: a score that ignores the estimate samples N(0, s²) exactly as without wrapper."""
    sigmas = GeometricSchedule(sigma_min=0.01, sigma_max=10.0).levels(10)
    sampler = AnnealedLangevin(eps=2e-5, steps_per_level=100)
    score = gaussian_score(torch.zeros(2), 1.5)
    runs = []
    for fn in (score, SelfConditioning(score)):
        g = torch.Generator().manual_seed(5)
        x_init = prior_sample((4000, 2), float(sigmas[0]), generator=g)
        runs.append(sampler.sample(fn, x_init, sigmas, generator=g).x)
    assert torch.equal(runs[0], runs[1])
    assert abs(runs[0].std().item() - 1.5) < 0.05
