"""The DSM loss is minimised by the true noised score (Gaussian data, linear model)."""

from __future__ import annotations

import torch

from proteindsm.core import Batch, DSMObjective, GeometricSchedule, dsm_loss

from .gaussians import gaussian_score


class LinearScale(torch.nn.Module):
    """s(x, σ) = −a(σ)·x with a free a per σ bucket (σ fixed per bucket in this test)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.log_a = torch.nn.Parameter(torch.zeros(n))

    def forward(self, x, sigma, cond=None):
        return -self.log_a.exp()[cond["bucket"]].unsqueeze(-1) * x


def test_linear_model_converges_to_true_noised_score():
    """Full-batch training on a fixed Gaussian sample (100k points per σ) so the minimiser of the
    empirical DSM loss is within ~1% of the population one, a = 1/(s² + σ²)."""
    torch.manual_seed(0)
    s_data = 1.5
    sigmas = torch.tensor([0.3, 1.0, 3.0])
    n = 100_000
    g = torch.Generator().manual_seed(0)
    b = torch.arange(len(sigmas)).repeat_interleave(n)
    x0 = s_data * torch.randn(len(b), 3, generator=g)
    noise = torch.randn(len(b), 3, generator=g)
    model = LinearScale(len(sigmas))
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = dsm_loss(model, x0, sigmas[b], noise, cond={"bucket": b}).mean()
        loss.backward()
        return loss

    opt.step(closure)
    learned = model.log_a.exp().detach()
    expected = 1.0 / (s_data ** 2 + sigmas ** 2)
    assert torch.allclose(learned, expected, rtol=0.02), (learned, expected)


def test_true_score_has_lower_loss_than_perturbed_scores():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(4096, 2, generator=g)
    sigma = torch.full((4096,), 0.7)
    noise = torch.randn(4096, 2, generator=g)
    true = dsm_loss(gaussian_score(torch.zeros(2), 1.0), x0, sigma, noise).mean()
    for scale in (0.8, 1.2):
        wrong = dsm_loss(lambda x, s, c: scale * gaussian_score(torch.zeros(2), 1.0)(x, s), x0, sigma, noise).mean()
        assert wrong > true


def test_mask_excludes_padding_from_loss():
    x0 = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    noise = torch.randn(2, 5, 3)
    sigma = torch.ones(2)
    score = gaussian_score(torch.zeros(3), 1.0)
    base = dsm_loss(score, x0, sigma, noise, mask=mask)
    x0b = x0.clone()
    x0b[0, 3:] = 100.0  # garbage in padding must not matter
    assert torch.allclose(base, dsm_loss(score, x0b, sigma, noise, mask=mask))


def test_objective_draw_is_deterministic_and_shardable():
    obj = DSMObjective(GeometricSchedule(0.01, 10.0))
    batch = Batch(x=torch.randn(6, 2))
    d1 = obj.draw(batch, torch.Generator().manual_seed(5))
    d2 = obj.draw(batch, torch.Generator().manual_seed(5))
    assert torch.equal(d1["noise"], d2["noise"]) and torch.equal(d1["sigma"], d2["sigma"])
    assert ((d1["sigma"] >= 0.01) & (d1["sigma"] <= 10.0)).all()
