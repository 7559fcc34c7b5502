"""Sampling gives finite images in [0, 1] with every core sampler; guidance and FID behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.core import AnnealedLangevin, GeometricSchedule, ProbabilityFlowODE, ReverseSDE
from proteindsm.image.classifier import ClassifierConfig, ImageClassifier
from proteindsm.image.fid import ImageMetrics, frechet_distance, gaussian_stats
from proteindsm.image.sampling import class_guidance, sample_images
from proteindsm.image.unet import ImageUNet, UNetConfig

SCHED = GeometricSchedule(0.01, 5.0, num_levels=4)


def tiny() -> ImageUNet:
    torch.manual_seed(0)
    return ImageUNet(UNetConfig(channels=8, emb_dim=32, groups=4))


@pytest.mark.parametrize("sampler", [AnnealedLangevin(eps=2e-5, steps_per_level=3), ReverseSDE(corrector_steps=1),
                                     ProbabilityFlowODE()], ids=["langevin", "pc", "ode"])
def test_samples_are_finite_and_in_range(sampler):
    x = sample_images(tiny(), sampler, SCHED, 10, (1, 8, 8), seed=1, batch_size=4)
    assert x.shape == (10, 1, 8, 8)
    assert torch.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
    raw = sample_images(tiny(), sampler, SCHED, 4, (1, 8, 8), seed=1, clip=False)
    assert torch.isfinite(raw).all()
    # same seed, same samples
    assert torch.equal(x[:4], sample_images(tiny(), sampler, SCHED, 4, (1, 8, 8), seed=1, batch_size=4))


def test_classifier_guidance_moves_samples_toward_the_class():
    torch.manual_seed(0)
    clf = ImageClassifier(ClassifierConfig(width=8, feature_dim=16, noise_conditional=True))
    model = tiny()
    sampler = AnnealedLangevin(eps=2e-5, steps_per_level=5)
    x0 = sample_images(model, sampler, SCHED, 16, (1, 8, 8), seed=3, clip=False)
    xg = sample_images(model, sampler, SCHED, 16, (1, 8, 8), seed=3, clip=False,
                       guidance=[class_guidance(clf, 3, 5.0)])
    s = torch.full((16,), 0.01)
    lp = lambda x: torch.log_softmax(clf(x, s), 1)[:, 3].mean()  # noqa: E731
    with torch.no_grad():
        assert lp(xg) > lp(x0)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 4))
    mu, cov = gaussian_stats(f)
    assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-6
    # 1-D Gaussians: (μ1-μ2)² + (s1-s2)²
    d = frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([2.0]), np.array([[4.0]]))
    assert d == pytest.approx(4.0 + 1.0)
    # metrics on a classifier's features
    clf = ImageClassifier(ClassifierConfig(width=8, feature_dim=16))
    ref = torch.rand(300, 1, 8, 8)
    m = ImageMetrics.from_reference(clf, ref)
    same = m.evaluate(ref, target_class=2)
    other = m.evaluate(torch.rand(300, 1, 8, 8) * 0.2)
    assert same["fid"] < 1e-6 < other["fid"]
    assert abs(sum(same["class_hist"]) - 1) < 1e-3 and 0 <= same["target_fraction"] <= 1
    assert 0 <= same["label_entropy"] <= same["max_label_entropy"] + 1e-9
