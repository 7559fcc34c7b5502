"""Image inpainting through the core conditioning on a known part (no image-specific sampler).

The known pixels of an image are a :class:`proteindsm.core.KnownPart` (values = the image, mask = the
visible pixels); either core mechanism turns the score model into a conditioned score function on the
one contract ``(x, σ, cond) -> score`` and any core sampler runs it unchanged:

* ``replacement`` — :class:`proteindsm.core.Replacement` (RePaint-style): the known pixels' score is
  that of their noised value, (y − x_k)/σ², the hidden pixels keep the model's score; the final
  denoising step lands the known pixels on y;
* ``reconstruction`` — :class:`proteindsm.core.ReconstructionGuidance`: the model's score plus the
  gradient of −‖M(y − x̂₀)‖²/(2r²(σ)) through the denoiser (one backward pass per evaluation).

Conventions (as the rest of the image domain): images ``(N, C, H, W)`` float32 in [0, 1]; masks bool
``(N, C, H, W)`` (or ``(C, H, W)`` for one mask shared by all images), **True = known (visible)**.
The mode names say which region is *hidden* (inpainted): ``left_half`` hides the left half and keeps
the right half, ``top_half`` hides the top half, ``centre`` hides the central square of half the side
(a quarter of the pixels), ``random`` hides a seeded random ``fraction`` of each image's pixels.
A mask file (``.npy`` or PNG, of the image size) says the opposite thing: its nonzero pixels are the
*known* ones (0 = hidden, to be completed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from proteindsm.core import (GeometricSchedule, KnownPart, ReconstructionGuidance, Replacement, Sampler,
                             prior_sample, with_conditioning)
from proteindsm.errors import InputError

from .datasets import DATA_RANGE

__all__ = ["MODES", "METHODS", "build_mask", "check_mask", "load_mask_file", "mechanism", "inpaint_images",
           "inpainting_metrics", "masked_view"]

#: ``inpaint=`` modes (the region that is hidden and completed).
MODES = ("left_half", "top_half", "centre", "random")
#: ``inpaint_method=`` values (the core mechanisms); ``none`` = unconditional (the baseline).
METHODS = ("replacement", "reconstruction", "none")

MASK_SUFFIXES = (".npy", ".png")


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise InputError(f"image shape must be (C, H, W) with positive sizes, got {tuple(shape)}")
    c, h, w = (int(s) for s in shape)
    return c, h, w


def build_mask(mode: str, shape: Sequence[int], *, num: int = 1, fraction: float = 0.5, seed: int = 0) -> Tensor:
    """Known-pixel masks ``(num, C, H, W)`` bool (True = known) for ``mode`` in :data:`MODES`.

    ``left_half``: the left ⌊W/2⌋ columns hidden; ``top_half``: the top ⌊H/2⌋ rows hidden;
    ``centre``: the central ⌊H/2⌋ × ⌊W/2⌋ square hidden; ``random``: in every image round(fraction·H·W)
    pixels hidden, drawn without replacement from ``numpy.random.default_rng([seed, i])`` for image i
    (so image i has the same mask whatever ``num``).  All channels of a pixel share its state.
    """
    c, h, w = _check_shape(shape)
    if mode not in MODES:
        raise InputError(f"inpaint must be one of {', '.join(MODES)} (or pass inpaint_mask=FILE), got {mode!r}")
    if int(num) < 1:
        raise InputError(f"number of masks must be >= 1, got {num}")
    known = torch.ones(int(num), h, w, dtype=torch.bool)
    if mode == "left_half":
        known[:, :, : w // 2] = False
    elif mode == "top_half":
        known[:, : h // 2, :] = False
    elif mode == "centre":
        sh, sw = h // 2, w // 2
        r0, c0 = (h - sh) // 2, (w - sw) // 2
        known[:, r0:r0 + sh, c0:c0 + sw] = False
    else:
        f = float(fraction)
        if not (0.0 < f < 1.0):
            raise InputError(f"inpainting.fraction (hidden share of the pixels for inpaint=random) must be in "
                             f"(0, 1), got {fraction}")
        k = int(round(f * h * w))
        if k < 1 or k >= h * w:
            raise InputError(f"inpainting.fraction={f} hides {k} of {h * w} pixels; need at least 1 hidden and 1 known")
        flat = known.view(int(num), h * w)
        for i in range(int(num)):
            hidden = np.random.default_rng([int(seed), i]).choice(h * w, size=k, replace=False)
            flat[i, torch.from_numpy(hidden)] = False
    if not bool((~known).any(dim=(1, 2)).all()):
        raise InputError(f"inpaint={mode} hides no pixel of a {h}×{w} image (too small for this mode)")
    return known[:, None].expand(int(num), c, h, w).contiguous()


def check_mask(known: Tensor, shape: Sequence[int], where: str = "mask") -> Tensor:
    """``known`` ``(H, W)``, ``(1, H, W)`` or ``(C, H, W)`` → bool ``(C, H, W)``; one :class:`InputError`
    for a wrong shape, non-finite values, or a mask that hides nothing / keeps nothing."""
    c, h, w = _check_shape(shape)
    arr = torch.as_tensor(known)
    if arr.dtype != torch.bool:
        if not (arr.dtype.is_floating_point or arr.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32,
                                                             torch.int64)):
            raise InputError(f"{where}: values must be numbers or booleans, got dtype {arr.dtype}")
        if arr.dtype.is_floating_point and not bool(torch.isfinite(arr).all()):
            raise InputError(f"{where}: values must be finite (nonzero = known, 0 = hidden), found NaN or inf")
        arr = arr != 0
    if tuple(arr.shape) == (h, w) or tuple(arr.shape) == (1, h, w):
        arr = arr.reshape(1, h, w).expand(c, h, w)
    elif tuple(arr.shape) != (c, h, w):
        raise InputError(f"{where}: shape {tuple(arr.shape)} does not match the images ({h}, {w}) "
                         f"(or ({c}, {h}, {w})): the mask must have the image size, H×W = {h}×{w}")
    if bool(arr.all()):
        raise InputError(f"{where}: every pixel is known (nonzero); nothing to inpaint (0 = hidden)")
    if not bool(arr.any()):
        raise InputError(f"{where}: no pixel is known (all zero); nonzero = known, 0 = hidden")
    return arr.contiguous()


def load_mask_file(path: str | os.PathLike, shape: Sequence[int]) -> Tensor:
    """Read a known-pixel mask from ``.npy`` (bool or numbers, ``(H, W)`` / ``(C, H, W)``) or PNG (an
    image of W×H pixels, any mode; a pixel is known when any of its channels is nonzero) → bool
    ``(C, H, W)``, checked by :func:`check_mask`.  One :class:`InputError` for a missing or unreadable
    file, another suffix, a wrong size or bad values."""
    p = Path(os.path.expanduser(str(path)))
    where = f"inpaint_mask {p}"
    if p.suffix.lower() not in MASK_SUFFIXES:
        raise InputError(f"{where}: the mask must be a .npy array or a .png image (nonzero = known)")
    if not p.is_file():
        raise InputError(f"{where}: file not found")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{where}: not a readable .npy array ({exc})") from None
        if not (arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
            raise InputError(f"{where}: values must be numbers or booleans, got dtype {arr.dtype}")
        if np.issubdtype(arr.dtype, np.unsignedinteger) and arr.dtype != np.uint8:
            arr = arr.astype(np.int64)
        tensor = torch.from_numpy(np.ascontiguousarray(arr))
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                im.load()
                arr = np.asarray(im.convert("RGBA") if im.mode in ("P", "PA") else im)
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"{where}: not a readable PNG image ({exc})") from None
        if arr.ndim == 3:
            rgb = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
            arr = (rgb != 0).any(axis=-1)
        tensor = torch.from_numpy(np.ascontiguousarray(arr != 0))
    return check_mask(tensor, shape, where)


def mechanism(method: str, known: KnownPart, *, scale: float = 1.0, tolerance: float = 0.0,
              sigma_data: Optional[float] = 0.5, through_model: bool = True,
              sigma_max: Optional[float] = None) -> Optional[Replacement | ReconstructionGuidance]:
    """The core conditioning term for ``method`` in :data:`METHODS` (None for ``none``)."""
    if method == "replacement":
        return Replacement(known)
    if method == "reconstruction":
        return ReconstructionGuidance(known, scale=float(scale), tolerance=float(tolerance), sigma_data=sigma_data,
                                      through_model=bool(through_model), sigma_max=sigma_max)
    if method == "none":
        return None
    raise InputError(f"inpaint_method must be one of {', '.join(METHODS[:2])}, got {method!r}")


def inpaint_images(model: nn.Module, sampler: Sampler, schedule: GeometricSchedule, images: Tensor, known: Tensor, *,
                   method: str = "reconstruction", num_levels: Optional[int] = None, seed: int = 0,
                   batch_size: int = 500, composite: bool = True, progress: bool = False,
                   **mechanism_options: Any) -> Tensor:
    """Complete the hidden pixels of ``images`` ``(N, C, H, W)`` given the known ones (``known`` bool
    ``(N, C, H, W)`` or ``(C, H, W)``, True = known) → ``(N, C, H, W)`` on the CPU, clipped to [0, 1].

    The model ``(x, σ, cond) -> score`` is wrapped by :func:`mechanism` (``method``, ``mechanism_options``:
    ``scale``, ``tolerance``, ``sigma_data``, ``through_model``, ``sigma_max``) through
    :func:`proteindsm.core.with_conditioning` and handed to ``sampler`` on the schedule's σ grid; the
    initial noise and the sampler's noise come from one generator seeded with ``seed`` exactly as in
    :func:`proteindsm.image.sampling.sample_images`, so ``method="none"`` gives the same (unconditional)
    images as ``sample_images`` with that seed and batch size.  ``composite``: the result holds the known
    pixels exactly (known pixels of ``images``, generated ones elsewhere); without it, the sampler's
    own output (replacement ends on the known values up to float rounding; reconstruction only near them).
    """
    if images.dim() != 4:
        raise InputError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    n, shape = len(images), tuple(images.shape[1:])
    known = known.to(torch.bool)
    if known.dim() == 3:
        known = known.unsqueeze(0).expand(n, *shape)
    if tuple(known.shape) != tuple(images.shape):
        raise InputError(f"known-pixel mask {tuple(known.shape)} does not match the images {tuple(images.shape)}")
    if method not in METHODS:
        mechanism(method, KnownPart(images[:1], known[:1]))  # raises the one-line error
    dev = next(model.parameters()).device
    model.eval()
    sigmas = schedule.levels(num_levels, device=dev)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        xb = images[start:start + b].to(dev, torch.float32)
        mb = known[start:start + b].to(dev)
        term = mechanism(method, KnownPart(values=xb, mask=mb), **mechanism_options)
        score_fn = with_conditioning(model, term)
        x0 = prior_sample((b, *shape), schedule.sigma_max, generator=gen, device=dev)
        res = sampler.sample(score_fn, x0, sigmas, generator=gen, progress=progress)
        out.append(res.x.float().cpu())
    x = torch.cat(out) if out else torch.empty((0, *shape))
    x = x.clamp(*DATA_RANGE)
    if composite:
        x = torch.where(known.cpu(), images.float().cpu(), x)
    return x


def masked_view(images: Tensor, known: Tensor, hidden_rgb: Sequence[float] = (0.55, 0.1, 0.1)) -> Tensor:
    """RGB ``(N, 3, H, W)`` pictures of the visible part: grey images (or RGB) with the hidden pixels
    painted ``hidden_rgb`` (for the grids)."""
    rgb = images.float().cpu()
    if rgb.shape[1] == 1:
        rgb = rgb.expand(-1, 3, -1, -1)
    known = known.to(torch.bool).cpu()
    if known.dim() == 3:
        known = known.unsqueeze(0).expand(len(images), *known.shape)
    hidden = (~known.all(dim=1, keepdim=True)).expand_as(rgb)
    colour = torch.tensor(list(hidden_rgb), dtype=rgb.dtype)[None, :, None, None].expand_as(rgb)
    return torch.where(hidden, colour, rgb).contiguous()


def inpainting_metrics(originals: Tensor, known: Tensor, completions: Tensor, *, labels: Optional[Tensor] = None,
                       classifier: Optional[nn.Module] = None, unconditional: Optional[Tensor] = None) -> dict[str, Any]:
    """What the metrics file records for one inpainting run (``(N, C, H, W)`` tensors, ``known`` True = known):

    * ``mse_hidden`` — mean squared error of the completion on the hidden pixels (pixel units², [0, 1] range),
      and ``mse_hidden_unconditional`` for the unconditional samples when given (their hidden pixels
      against the originals'), ``known_fraction``;
    * with ``classifier`` and ``labels``: ``label_kept`` — the fraction of completions the (held-out)
      feature classifier labels as the original's label; ``label_kept_unconditional`` for the
      unconditional samples paired one-to-one with the originals (≈ 1/num_classes); ``classifier_accuracy``
      on the originals themselves (the ceiling); ``label_kept_visible_only`` with the hidden pixels set to
      0 (what the visible part alone tells the classifier); ``class_hist`` of the completions.
    """
    from .classifier import predict

    known = known.to(torch.bool).cpu()
    if known.dim() == 3:
        known = known.unsqueeze(0).expand_as(originals)
    hidden = ~known
    orig = originals.float().cpu()

    def mse(x: Tensor) -> float:
        return float(((x.float().cpu() - orig) ** 2)[hidden].mean())

    res: dict[str, Any] = {"num_images": int(len(orig)), "known_fraction": float(known.float().mean()),
                           "mse_hidden": mse(completions)}
    if unconditional is not None:
        res["mse_hidden_unconditional"] = mse(unconditional)
    if classifier is not None and labels is not None:
        y = labels.cpu()
        pred = predict(classifier, completions.float()).argmax(1)
        res["label_kept"] = float((pred == y).float().mean())
        if unconditional is not None:
            res["label_kept_unconditional"] = float((predict(classifier, unconditional.float()).argmax(1) == y)
                                                    .float().mean())
        res["classifier_accuracy"] = float((predict(classifier, orig).argmax(1) == y).float().mean())
        res["label_kept_visible_only"] = float((predict(classifier, torch.where(known, orig, torch.zeros_like(orig)))
                                                .argmax(1) == y).float().mean())
        k = int(getattr(getattr(classifier, "config", None), "num_classes", int(pred.max()) + 1))
        res["class_hist"] = torch.bincount(pred, minlength=k).tolist()
    return res
