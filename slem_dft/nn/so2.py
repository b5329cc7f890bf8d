"""SO(2) convolution in the edge frame (slem-model.md 2.4), with the parity rule of 2.4.4.

Rotating every feature into the frame where the edge lies along e3nn's polar axis (e_y)
reduces the edge-direction tensor product to independent linear maps per order |m|: a dense
map on the m = 0 components and a complex multiplication (A + iB) on each (+m, -m) pair, which
commutes with rotations about the edge. With eta = p (-1)^l per channel, inversion flips the
frame by a pi rotation perpendicular to the edge, under which the (+m, -m) parts of a channel
pick up opposite signs times eta; hence W0 and A connect channels of equal eta, B channels of
different eta, and only natural-parity (eta = +1) outputs get a bias. The map is then O(3)-
equivariant: f_out(Q x) = D_out(Q) f_out(x) for proper and improper Q.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from .e3nn_basis import edge_frame_angles, wigner_D

__all__ = ["EdgeFrame", "SO2Linear"]


class EdgeFrame:
    """Wigner matrices D^l(R_e), l = 0..lmax, of the rotations R_e e_y = r_ij / |r_ij|.

    Computed once per forward pass and shared by every layer (the geometry does not change).

    Parameters
    ----------
    vectors
        (E, 3) edge vectors r_ij (Angstrom).
    lmax
        Largest degree needed.
    """

    def __init__(self, vectors: torch.Tensor, lmax: int):
        alpha, beta = edge_frame_angles(vectors)
        self.D = [wigner_D(l, alpha, beta) for l in range(lmax + 1)]  # (E, 2l+1, 2l+1) each

    def select(self, index: torch.Tensor | slice) -> "EdgeFrame":
        """The frames of a subset of the edges (``index`` into the E edges)."""
        if isinstance(index, slice) and index == slice(None):
            return self
        frame = EdgeFrame.__new__(EdgeFrame)
        frame.D = [d[index] for d in self.D]
        return frame

    def _apply(self, x: torch.Tensor, irreps: o3.Irreps, transpose: bool) -> torch.Tensor:
        out = []
        for (mul, ir), sl in zip(irreps, irreps.slices()):
            d = self.D[ir.l]
            block = x[:, sl].reshape(-1, mul, ir.dim)
            # row vectors: f^T D = (D^T f)^T into the frame, f^T D^T = (D f)^T back out
            out.append((block @ (d if transpose else d.transpose(-1, -2))).reshape(-1, mul * ir.dim))
        return torch.cat(out, dim=-1)

    def to_frame(self, x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
        """(E, irreps.dim) -> D^l(R_e)^T f for every irrep copy."""
        return self._apply(x, irreps, transpose=True)

    def from_frame(self, x: torch.Tensor, irreps: o3.Irreps) -> torch.Tensor:
        """(E, irreps.dim) -> D^l(R_e) f for every irrep copy."""
        return self._apply(x, irreps, transpose=False)


def _channels(irreps: o3.Irreps) -> list[tuple[int, int, int]]:
    """(offset of component m=-l, l, eta) of every irrep copy."""
    out = []
    for (mul, ir), sl in zip(irreps, irreps.slices()):
        for c in range(mul):
            out.append((sl.start + c * ir.dim, ir.l, ir.p * (-1) ** ir.l))
    return out


class SO2Linear(torch.nn.Module):
    """Edge-frame linear map, one weight set per |m| (slem-model.md 2.4.2).

    Parameters
    ----------
    irreps_in, irreps_out
        Feature irreps (any order, repeated entries allowed).
    parity
        Apply the parity selection rule (default). False gives the reference's SO(3)-only
        layer, kept to show that the rule is what buys inversion equivariance.

    Attributes
    ----------
    n_scales : int
        Number of per-edge input scales :meth:`forward` takes: one per (m, input channel of
        degree >= m), the edge-conditioned weights of slem-model.md 2.4.3.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, parity: bool = True):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        cin, cout = _channels(self.irreps_in), _channels(self.irreps_out)
        self.mmax = min(self.irreps_in.lmax, self.irreps_out.lmax)
        self.n_scales = 0
        targets = []
        for m in range(self.mmax + 1):
            ins = [(o, l, e) for o, l, e in cin if l >= m]
            outs = [(o, l, e) for o, l, e in cout if l >= m]
            self.n_scales += len(ins)
            same = torch.tensor([[float(eo == ei or not parity) for _, _, ei in ins] for _, _, eo in outs])
            differ = torch.tensor([[float(eo != ei or not parity) for _, _, ei in ins] for _, _, eo in outs])
            for sign in (1, -1) if m else (1,):
                self.register_buffer(f"in{m}_{sign}", torch.tensor([o + l + sign * m for o, l, _ in ins]), persistent=False)
                targets.append(torch.tensor([o + l + sign * m for o, l, _ in outs]))
            self.register_buffer(f"mask_a{m}", same, persistent=False)
            fan_in = max(len(ins), 1) * (2 if m else 1)
            self.register_parameter(f"a{m}", torch.nn.Parameter(torch.randn(len(outs), len(ins)) / math.sqrt(fan_in)))
            if m:
                self.register_buffer(f"mask_b{m}", differ, persistent=False)
                self.register_parameter(f"b{m}", torch.nn.Parameter(torch.randn(len(outs), len(ins)) / math.sqrt(fan_in)))
        natural = torch.tensor([float(e == 1 or not parity) for o, l, e in cout])
        self.register_buffer("bias_mask", natural, persistent=False)
        self.bias = torch.nn.Parameter(torch.zeros(len(cout)))
        order = torch.cat(targets)
        perm = torch.full((self.irreps_out.dim,), len(order), dtype=torch.long)  # orders |m| > mmax stay 0
        perm[order] = torch.arange(len(order))
        self.register_buffer("out_perm", perm, persistent=False)

    def forward(self, x: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the map to features already in the edge frame.

        Parameters
        ----------
        x
            (E, irreps_in.dim) features in the edge frame.
        scales
            (E, n_scales) edge-conditioned input scales, or None.

        Returns
        -------
        (E, irreps_out.dim) features in the edge frame.
        """
        parts, s = [], 0
        for m in range(self.mmax + 1):
            a = getattr(self, f"a{m}") * getattr(self, f"mask_a{m}")
            plus = x[:, getattr(self, f"in{m}_1")]
            width = plus.shape[1]
            if scales is not None:
                plus = plus * scales[:, s:s + width]
            if m == 0:
                parts.append(plus @ a.T + self.bias * self.bias_mask)
            else:
                minus = x[:, getattr(self, f"in{m}_-1")]
                if scales is not None:
                    minus = minus * scales[:, s:s + width]
                b = getattr(self, f"b{m}") * getattr(self, f"mask_b{m}")
                parts += [plus @ a.T - minus @ b.T, plus @ b.T + minus @ a.T]
            s += width
        parts.append(x.new_zeros(x.shape[0], 1))
        return torch.cat(parts, dim=-1)[:, self.out_perm]
