"""Building blocks of SLEM (slem-model.md 2.2, 2.4, 2.5): radial basis, envelope, MLPs,
separable layer norm, edge-conditioned element scaling, the gated SO(2) convolution, residual
mixing and a pure-torch scatter (``index_add_``, no compiled extension)."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.nn import Gate

from .so2 import EdgeFrame, SO2Linear

__all__ = ["scatter_sum", "BesselBasis", "PolynomialEnvelope", "mlp", "SeparableLayerNorm", "ElementScale",
           "GatedSO2", "residual_weights", "scalar_indices"]


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """Sum rows of ``src`` (E, ...) into (dim_size, ...) at ``index`` (E,)."""
    return src.new_zeros((dim_size,) + src.shape[1:]).index_add_(0, index, src)


def scalar_indices(irreps: o3.Irreps) -> torch.Tensor:
    """Indices of the 0e components of ``irreps``."""
    return torch.cat([torch.arange(sl.start, sl.stop) for (mul, ir), sl in zip(irreps, irreps.slices())
                      if ir == o3.Irrep("0e")] + [torch.zeros(0, dtype=torch.long)])


def _copy_index(irreps: o3.Irreps) -> torch.Tensor:
    """(irreps.dim,) index of the irrep copy each component belongs to."""
    return torch.repeat_interleave(torch.arange(irreps.num_irreps),
                                   torch.tensor([ir.dim for mul, ir in irreps for _ in range(mul)], dtype=torch.long))


class BesselBasis(torch.nn.Module):
    """B_k(r) = (2 / r_max) sin(w_k r / r_max) / r, trainable w_k initialised to k pi.

    Input (E,) distances (Angstrom), output (E, n_basis)."""

    def __init__(self, r_max: float, n_basis: int):
        super().__init__()
        self.r_max = float(r_max)
        self.w = torch.nn.Parameter(math.pi * torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return (2.0 / self.r_max) * torch.sin(self.w * r[:, None] / self.r_max) / r[:, None]


class PolynomialEnvelope(torch.nn.Module):
    """u(s) = 1 - (p+1)(p+2)/2 s^p + p(p+2) s^(p+1) - p(p+1)/2 s^(p+2) for s < 1, else 0.

    u, u' and u'' vanish at s = 1, so anything multiplied by u goes smoothly to zero there."""

    def __init__(self, p: int = 6):
        super().__init__()
        self.p = p

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        p = self.p
        u = 1 - (p + 1) * (p + 2) / 2 * s**p + p * (p + 2) * s ** (p + 1) - p * (p + 1) / 2 * s ** (p + 2)
        return torch.where(s < 1, u, torch.zeros_like(u))


def mlp(dims: list[int], bias: bool = True) -> torch.nn.Sequential:
    """Linear layers ``dims[0] -> ... -> dims[-1]`` with SiLU between them."""
    layers: list[torch.nn.Module] = []
    for k in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[k], dims[k + 1], bias=bias))
        if k < len(dims) - 2:
            layers.append(torch.nn.SiLU())
    return torch.nn.Sequential(*layers)


class SeparableLayerNorm(torch.nn.Module):
    """Layer norm that treats 0e channels and l > 0 irreps separately (slem-model.md 2.5).

    0e channels: subtract their mean, divide by their RMS. All l > 0 components: divide by
    sqrt(mean over degrees of the mean square per degree), no mean subtraction. Affine: one
    scale per irrep copy, one bias per 0e channel. Input and output (n, irreps.dim)."""

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-5):
        super().__init__()
        self.irreps_in = self.irreps_out = o3.Irreps(irreps)
        self.eps = eps
        self.register_buffer("scalar_idx", scalar_indices(self.irreps_in), persistent=False)
        hi = [(sl, ir.l) for (mul, ir), sl in zip(self.irreps_in, self.irreps_in.slices()) if ir.l > 0]
        hi_idx = torch.cat([torch.arange(sl.start, sl.stop) for sl, _ in hi] + [torch.zeros(0, dtype=torch.long)])
        degrees = sorted({l for _, l in hi})
        group = torch.cat([torch.full((sl.stop - sl.start,), degrees.index(l)) for sl, l in hi]
                          + [torch.zeros(0, dtype=torch.long)])
        average = torch.zeros(len(hi_idx), max(len(degrees), 1))
        average[torch.arange(len(hi_idx)), group] = 1.0
        average /= average.sum(0).clamp(min=1) * max(len(degrees), 1)  # mean per degree, then over degrees
        self.register_buffer("hi_idx", hi_idx, persistent=False)
        self.register_buffer("average", average, persistent=False)
        self.register_buffer("copy", _copy_index(self.irreps_in), persistent=False)
        self.weight = torch.nn.Parameter(torch.ones(self.irreps_in.num_irreps))
        self.bias = torch.nn.Parameter(torch.zeros(len(self.scalar_idx)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        if len(self.scalar_idx):
            s = x[:, self.scalar_idx]
            s = s - s.mean(-1, keepdim=True)
            out[:, self.scalar_idx] = s / torch.sqrt(s.pow(2).mean(-1, keepdim=True) + self.eps)
        if len(self.hi_idx):
            h = x[:, self.hi_idx]
            mean_square = (h.pow(2) @ self.average.to(x.dtype)).sum(-1, keepdim=True)
            out[:, self.hi_idx] = h / torch.sqrt(mean_square + self.eps)
        out = out * self.weight[self.copy]
        if len(self.scalar_idx):
            out[:, self.scalar_idx] = out[:, self.scalar_idx] + self.bias
        return out


class ElementScale(torch.nn.Module):
    """y_{c,l} = s_c(x) y_{c,l}, y_{c,0e} += t_c(x), with s, t a bias-free linear map of an
    invariant x (so they vanish with x, which carries the cutoff envelope).

    Inputs (n, irreps.dim) features and (n, latent_dim) invariants."""

    def __init__(self, irreps: o3.Irreps, latent_dim: int):
        super().__init__()
        self.irreps_in = self.irreps_out = o3.Irreps(irreps)
        self.register_buffer("copy", _copy_index(self.irreps_in), persistent=False)
        self.register_buffer("scalar_idx", scalar_indices(self.irreps_in), persistent=False)
        self.n_copies = self.irreps_in.num_irreps
        self.linear = torch.nn.Linear(latent_dim, self.n_copies + len(self.scalar_idx), bias=False)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        st = self.linear(x)
        out = y * st[:, :self.n_copies][:, self.copy]
        shift = torch.zeros_like(out)
        shift[:, self.scalar_idx] = st[:, self.n_copies:]
        return out + shift


class GatedSO2(torch.nn.Module):
    """Edge-conditioned SO(2) convolution, gate and channel mixing (slem-model.md 2.4-2.5):

        y = Linear( Gate( D(R_e) SO2( D(R_e)^T f ; w(x) ) ) )

    Parameters
    ----------
    irreps_in
        Input feature irreps (a concatenation of node / edge features).
    irreps_out
        Output irreps; its 0e part passes through SiLU, every l > 0 copy is gated by a sigmoid
        of its own extra 0e scalar.
    latent_dim, radial_channels
        Width of the invariant x and of the hidden layer of the MLP that gives the
        per-(m, channel) edge weights w(x).
    parity
        Parity selection rule of the SO(2) layer (see :class:`SO2Linear`).
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, latent_dim: int, radial_channels: int,
                 parity: bool = True):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        scalars = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in self.irreps_out if ir.l > 0])
        self.gate = Gate(scalars, [torch.nn.functional.silu] * len(scalars),
                         o3.Irreps(f"{gated.num_irreps}x0e"), [torch.sigmoid], gated)
        self.so2 = SO2Linear(self.irreps_in, self.gate.irreps_in, parity)
        self.weights = torch.nn.Sequential(torch.nn.LayerNorm(latent_dim), mlp([latent_dim, radial_channels,
                                                                                self.so2.n_scales]))
        self.post = o3.Linear(self.gate.irreps_out, self.irreps_out)

    def forward(self, f: torch.Tensor, frame: EdgeFrame, x: torch.Tensor) -> torch.Tensor:
        """(E, irreps_in.dim) features, the edges' frame, (E, latent_dim) invariants ->
        (E, irreps_out.dim)."""
        y = self.so2(frame.to_frame(f, self.irreps_in), self.weights(x))
        return self.post(self.gate(frame.from_frame(y, self.so2.irreps_out)))


def residual_weights(ratio: float = 0.5) -> tuple[float, float]:
    """(alpha_old, alpha_new) = (1, c) / sqrt(1 + c^2): f <- alpha_new f_new + alpha_old f_old."""
    norm = math.sqrt(1.0 + ratio * ratio)
    return 1.0 / norm, ratio / norm
