"""FID-style metrics on the features of our own classifier (not Inception).

No Inception-v3 weights are available offline, so the Fréchet distance is computed on the
``feature_dim``-dimensional penultimate activations of a small classifier trained on the same data set
(:mod:`proteindsm.image.classifier`).  The numbers rank models and samplers on one data set and one
classifier; they are **not** comparable with FIDs reported in the literature.

    FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})        (Heusel et al. 2017)

Besides FID the classifier's predictions on generated images give
* ``class_hist``: fraction of samples predicted as each class (class balance);
* ``label_entropy``: entropy (nats) of that histogram — ln 10 ≈ 2.303 for perfectly balanced digits;
* ``mean_pred_entropy``: mean entropy of the per-sample predictive distribution (low = confident,
  recognisable samples); ``mean_confidence``: mean max-probability.
FID is biased upward for few samples: compare numbers computed with the same sample count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .classifier import ImageClassifier


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(F,)`` and covariance ``(F, F)`` (float64) of features ``(N, F)``."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂), with ``scipy.linalg.sqrtm``; a tiny ridge
    ``eps·I`` is added when the product is singular (as pytorch-fid does)."""
    diff = np.atleast_1d(mu1 - mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    covmean = _sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        offset = np.eye(cov1.shape[0]) * eps
        covmean = _sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """Matrix square root (``scipy.linalg.sqrtm``; its return signature changed across SciPy versions)."""
    import warnings

    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


@dataclass
class ImageMetrics:
    """Frozen feature classifier + reference feature statistics (usually the training images)."""

    classifier: ImageClassifier
    ref_mu: np.ndarray
    ref_cov: np.ndarray
    num_classes: int

    @classmethod
    def from_reference(cls, classifier: ImageClassifier, reference: Tensor) -> "ImageMetrics":
        mu, cov = gaussian_stats(features_of(classifier, reference))
        return cls(classifier=classifier.eval(), ref_mu=mu, ref_cov=cov, num_classes=classifier.config.num_classes)

    def fid(self, images: Tensor) -> float:
        mu, cov = gaussian_stats(features_of(self.classifier, images))
        return frechet_distance(mu, cov, self.ref_mu, self.ref_cov)

    def evaluate(self, images: Tensor, target_class: Optional[int] = None) -> dict:
        """All metrics of images ``(N, C, H, W)`` in [0, 1]: fid, class_hist, label_entropy,
        mean_pred_entropy, mean_confidence, and ``target_fraction`` when ``target_class`` is given."""
        feats, logits = features_and_logits(self.classifier, images)
        mu, cov = gaussian_stats(feats)
        probs = torch.softmax(logits.double(), dim=1)
        pred = probs.argmax(1)
        hist = torch.bincount(pred, minlength=self.num_classes).double() / len(pred)
        nz = hist[hist > 0]
        out = {
            "fid": frechet_distance(mu, cov, self.ref_mu, self.ref_cov),
            "num_samples": int(len(images)),
            "class_hist": [round(float(v), 4) for v in hist],
            "label_entropy": float(-(nz * nz.log()).sum()),
            "max_label_entropy": math.log(self.num_classes),
            "mean_pred_entropy": float(-(probs * probs.clamp_min(1e-12).log()).sum(1).mean()),
            "mean_confidence": float(probs.max(1).values.mean()),
        }
        if target_class is not None:
            out["target_fraction"] = float((pred == target_class).double().mean())
        return out


@torch.no_grad()
def features_and_logits(classifier: ImageClassifier, images: Tensor, batch_size: int = 500) -> tuple[np.ndarray, Tensor]:
    """Features ``(N, F)`` (numpy float64) and logits ``(N, K)`` (CPU) of clean images."""
    classifier.eval()
    dev = next(classifier.parameters()).device
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        xb = images[i:i + batch_size].to(dev).float()
        f = classifier.features(xb)
        feats.append(f.double().cpu())
        logits.append(classifier.head(f).float().cpu())
    return torch.cat(feats).numpy(), torch.cat(logits)


def features_of(classifier: ImageClassifier, images: Tensor) -> np.ndarray:
    return features_and_logits(classifier, images)[0]
