"""EDM wrapper shared by the protein score networks: ``(x, sigma, cond) -> score``.

:func:`parse_cond` reads the mask / residue index of ``cond``; :class:`EDMScoreModel` centres the
backbone ``x`` ``(B, L, 4, 3)`` (Å, N, CA, C, O) on its CA centroid, applies the EDM
preconditioning of :class:`proteindsm.core.denoiser.EDMPreconditioning` around a subclass's
``network`` F, optionally idealises the denoised residues at small σ, and returns the score
``(B, L, 4, 3)`` in Å⁻¹ (0 at padding, zero mean CA score) or the denoiser ``D`` in Å.
Subclasses: :class:`proteindsm.protein.model.network.BackboneScoreNet`,
:class:`proteindsm.protein.model.egnn_baseline.EGNNBaseline`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from proteindsm.core.denoiser import EDMPreconditioning
from proteindsm.errors import InputError
from proteindsm.protein.structure.domain import center_on_ca_centroid, project_zero_ca_centroid
from proteindsm.protein.structure.ideal_geometry import idealise_backbone

__all__ = ["EDMScoreModel", "parse_cond"]


def parse_cond(x: Tensor, cond: dict | None) -> tuple[Tensor, Tensor]:
    """Mask and residue index from ``cond``.

    Args:
        x: ``(B, L, 4, 3)`` backbone (gives B, L and the device).
        cond: None or dict with optional ``"mask"`` bool ``(B, L)`` and ``"residue_index"`` long ``(B, L)``.

    Returns:
        ``(mask, residue_index)``: bool ``(B, L)`` (absent → all True) and long ``(B, L)`` (absent → arange).
    """
    batch, length = x.shape[:2]
    mask = None if cond is None else cond.get("mask")
    res_idx = None if cond is None else cond.get("residue_index")
    if mask is None:
        mask = torch.ones(batch, length, dtype=torch.bool, device=x.device)
    elif tuple(mask.shape) != (batch, length):
        raise InputError(f"cond['mask'] must have shape (B, L) = {(batch, length)}, got {tuple(mask.shape)}")
    if res_idx is None:
        res_idx = torch.arange(length, device=x.device).expand(batch, length)
    elif tuple(res_idx.shape) != (batch, length):
        raise InputError(
            f"cond['residue_index'] must have shape (B, L) = {(batch, length)}, got {tuple(res_idx.shape)}"
        )
    return mask.to(device=x.device, dtype=torch.bool), res_idx.to(device=x.device, dtype=torch.long)



class EDMScoreModel(torch.nn.Module):
    """EDM wrapper shared by the score networks: centring, preconditioning, score, projection.

    Subclasses set ``self.sigma_data`` (Å) and implement
    ``network(x_c, sigma, mask, residue_index, cond) -> F`` on the centred backbone ``x_c``
    ``(B, L, 4, 3)`` (0 at padding), ``sigma`` ``(B,)``, ``mask`` bool ``(B, L)``,
    ``residue_index`` long ``(B, L)`` and the conditioning inputs ``cond`` (a dict, possibly empty:
    ``"ss"`` long ``(B, L)`` secondary-structure tokens, ``"ss_pairs"`` long ``(B, L, L)`` strand-pairing
    tokens (:mod:`proteindsm.protein.data.strand_pairing`), ``"self_cond"`` ``(B, L, 4, 3)`` the previous
    denoised estimate, centred with ``x``'s own CA centroid), returning ``F`` ``(B, L, 4, 3)`` (the
    raw network output of the EDM parametrisation, unit scale).  Inputs are cast to the dtype/device
    of the parameters and the output back to the dtype of ``x``.

    With ``self.ideal_geometry`` True the denoiser is
    ``D = D_raw + g(σ) (idealise(D_raw) − D_raw)`` with ``D_raw = c_skip x_c + c_out F``,
    :func:`proteindsm.protein.structure.ideal_geometry.idealise_backbone` (exact N–CA, CA–C, C=O bonds and
    N–CA–C / CA–C=O angles in every residue) and ``g(σ) = 1 / (1 + (σ/σ_i)⁴)``, ``σ_i =
    self.ideal_sigma`` (Å): ideal residues at small σ (g = 0.9984 at σ = 0.02 Å with σ_i = 0.1 Å)
    and the unconstrained posterior mean at large σ (g < 0.01 above 0.32 Å), where the L2-optimal
    denoiser has shrunken, non-ideal residues (forcing ideal ones there raised the validation loss at
    every σ ≤ 6 Å in a first campaign run).  The score is ``(D − x_c)/σ²``.

    Denoiser contract: the whole EDM parametrisation of
    :class:`proteindsm.core.denoiser.EDMPreconditioning` (:attr:`preconditioning`, at
    ``self.sigma_data``): ``c_in`` and ``c_noise`` feed ``network``, ``D_raw`` is its ``denoise``
    (``c_skip x_c + c_out F``) and the score its ``score`` (``(D_raw − x_c)/σ²`` written from ``F``)
    plus ``correction/σ²``.
    """

    sigma_data: float
    ideal_geometry: bool = False
    ideal_sigma: float = 0.1

    @property
    def preconditioning(self) -> EDMPreconditioning:
        """The core EDM preconditioning at ``self.sigma_data`` (c_skip, c_out, c_in, c_noise, D, score)."""
        return EDMPreconditioning(self.sigma_data)

    def network(self, x_c: Tensor, sigma: Tensor, mask: Tensor, residue_index: Tensor,
                cond: dict | None = None) -> Tensor:
        raise NotImplementedError

    def _prepare(self, x: Tensor, sigma: Tensor | float, cond: dict | None
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, dict]:
        if x.ndim != 4 or tuple(x.shape[-2:]) != (4, 3):
            raise InputError(f"x must be a backbone of shape (B, L, 4, 3) in Å (N, CA, C, O), got {tuple(x.shape)}")
        param = next(self.parameters())
        x = x.to(device=param.device, dtype=param.dtype)
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        if tuple(sigma.shape) != (x.shape[0],):
            raise InputError(f"sigma must have shape (B,) = ({x.shape[0]},) in Å, got {tuple(sigma.shape)}")
        mask, res_idx = parse_cond(x, cond)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        x = torch.where(mask[..., None, None], x, zero)
        x_c, centroid = center_on_ca_centroid(x, mask)
        extras: dict = {}
        if cond is not None and cond.get("ss") is not None:
            ss = cond["ss"]
            if tuple(ss.shape) != tuple(x.shape[:2]):
                raise InputError(f"cond['ss'] must have shape (B, L) = {tuple(x.shape[:2])}, got {tuple(ss.shape)}")
            extras["ss"] = ss.to(device=x.device, dtype=torch.long)
        if cond is not None and cond.get("ss_pairs") is not None:
            pairs = cond["ss_pairs"]
            want = (x.shape[0], x.shape[1], x.shape[1])
            if tuple(pairs.shape) != want:
                raise InputError(f"cond['ss_pairs'] must have shape (B, L, L) = {want}, got {tuple(pairs.shape)}")
            extras["ss_pairs"] = pairs.to(device=x.device, dtype=torch.long)
        if cond is not None and cond.get("self_cond") is not None:
            sc = cond["self_cond"]
            if tuple(sc.shape) != tuple(x.shape):
                raise InputError(f"cond['self_cond'] must have the shape of x {tuple(x.shape)}, got {tuple(sc.shape)}")
            sc = sc.to(device=x.device, dtype=x.dtype)
            extras["self_cond"] = torch.where(mask[..., None, None], sc - centroid, zero)
        return x_c, sigma, mask, res_idx, extras

    def _denoise_centred(self, x_c: Tensor, sigma: Tensor, mask: Tensor, res_idx: Tensor,
                         extras: dict) -> tuple[Tensor, Tensor]:
        """``(F, correction)``: the raw output and ``idealise(D_raw) − D_raw`` (0 without ideal geometry)."""
        f = self.network(x_c, sigma, mask, res_idx, extras)
        if not self.ideal_geometry:
            return f, torch.zeros((), dtype=f.dtype, device=f.device)
        d_raw = self.preconditioning.denoise(x_c, sigma, f)
        gate = 1.0 / (1.0 + (sigma / self.ideal_sigma) ** 4)
        return f, gate[:, None, None, None] * (idealise_backbone(d_raw, mask, res_idx) - d_raw)

    def forward(self, x: Tensor, sigma: Tensor | float, cond: dict | None = None) -> Tensor:
        """Score ``∇_x log p_σ(x)``.

        Args:
            x: ``(B, L, 4, 3)`` backbone in Å (N, CA, C, O).
            sigma: ``(B,)`` noise level in Å.
            cond: None or dict with optional ``"mask"`` bool ``(B, L)``, ``"residue_index"`` long
                ``(B, L)``, ``"ss"`` long ``(B, L)`` (tokens of :mod:`proteindsm.protein.data.secondary_structure`)
                and ``"self_cond"`` ``(B, L, 4, 3)`` (the previous denoised estimate, Å).

        Returns:
            ``(B, L, 4, 3)`` score in Å⁻¹ (dtype of ``x``), 0 at padding, zero mean CA score.
        """
        x_c, sigma, mask, res_idx, extras = self._prepare(x, sigma, cond)
        f, correction = self._denoise_centred(x_c, sigma, mask, res_idx, extras)
        s = sigma[:, None, None, None]
        score = self.preconditioning.score(x_c, sigma, f) + correction / (s * s)
        return project_zero_ca_centroid(score, mask).to(device=x.device, dtype=x.dtype)

    def denoise(self, x: Tensor, sigma: Tensor | float, cond: dict | None = None) -> Tensor:
        """Denoiser ``D(x)`` in Å on the centred backbone (0 at padding): ``c_skip x_c + c_out F``,
        idealised when ``ideal_geometry``.

        Shapes as in :meth:`forward`; the result is projected onto the zero-CA-centroid slice.
        """
        x_c, sigma, mask, res_idx, extras = self._prepare(x, sigma, cond)
        f, correction = self._denoise_centred(x_c, sigma, mask, res_idx, extras)
        d = self.preconditioning.denoise(x_c, sigma, f) + correction
        return project_zero_ca_centroid(d, mask).to(device=x.device, dtype=x.dtype)
