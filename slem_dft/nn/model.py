"""The SLEM network (slem-model.md 2): strictly local node states for onsite blocks, pair
states for hopping blocks, SO(2) convolutions, and the operator heads (H, DM; S by a
two-centre head).

Strict locality (2.7): the hidden pair state V_ij reads n_i, x_ij and the geometry of (i, j)
only, the node message m_ij is built from n_i and V_ij, and n_j enters the edge stream e_ij
alone, which is never aggregated back. So at any depth n_i depends on the atoms within the
cutoff of i, and e_ij on those within the cutoff of i or of j.

That is what lets inference split over atoms (slem-model.md 5): a batch may name, in
``edge_active``, the only edges whose edge stream is wanted (the predicted blocks and their
partners); node states then need the complete stars of the end atoms of those edges and
nothing beyond, see :mod:`slem_dft.chunks`.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from ..errors import ConfigError
from .blocks import (
    BesselBasis,
    ElementScale,
    GatedSO2,
    PolynomialEnvelope,
    SeparableLayerNorm,
    mlp,
    residual_weights,
    scalar_indices,
    scatter_sum,
)
from .irreps import BlockIrreps, PaddedBasis
from .so2 import EdgeFrame

__all__ = ["ScaleShift", "InitLayer", "SLEMLayer", "OperatorHead", "OverlapHead", "SLEM", "hidden_irreps"]


def hidden_irreps(edge_irreps: o3.Irreps, channels: int, lmax: int) -> o3.Irreps:
    """``channels`` copies of every (L, p) the outputs need (and of 0e), for L <= lmax."""
    needed = {(ir.l, ir.p) for _, ir in edge_irreps} | {(0, 1)}
    too_high = sorted(l for l, _ in needed if l > lmax)
    if too_high:
        raise ConfigError(f"lmax={lmax} cannot produce the output degrees {too_high}: "
                          f"lmax must be at least {max(too_high)} (2 x the largest basis l)")
    return o3.Irreps([(channels, (l, p)) for l, p in sorted(needed)]).sort().irreps.simplify()


class ScaleShift(torch.nn.Module):
    """o = sigma_t o_hat + mu_t per type t (species or ordered species pair) and channel;
    mu is non-zero on 0e components only. Buffers set from training statistics."""

    def __init__(self, n_types: int, n_channels: int, dim: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(n_types, n_channels, dim))
        self.register_buffer("shift", torch.zeros(n_types, n_channels, dim))

    def forward(self, o: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """(n, n_channels, dim) normalised outputs, (n,) types -> physical outputs."""
        return o * self.scale[types] + self.shift[types]


def _species_onehot(species: torch.Tensor, n_species: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.nn.functional.one_hot(species, n_species).to(dtype)


class InitLayer(torch.nn.Module):
    """x0, V0, n0 of slem-model.md 2.3; irreps of V0, n0: ``mul`` x (0e + 1o + ... + lmax).

    The node sum runs over the enveloped e0 = W_env(x0) Y (so n0 is smooth at the cutoff); the
    edge stream starts from V0, which is not enveloped: the hopping outputs get the envelope
    once, at the head (see :class:`SLEMLayer`)."""

    def __init__(self, n_species: int, n_radial: int, latent_dim: int, mul: int, lmax: int):
        super().__init__()
        self.irreps_out = o3.Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])
        self.mul, self.lmax = mul, lmax
        self.two_body = mlp([2 * n_species + n_radial, latent_dim, latent_dim])
        self.w_env = torch.nn.Linear(latent_dim, mul * (lmax + 1), bias=False)
        self.sln_v = SeparableLayerNorm(self.irreps_out)
        self.sln_n = SeparableLayerNorm(self.irreps_out)

    def _embed(self, w: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
        w = w.unflatten(1, (self.lmax + 1, self.mul))
        parts = [(w[:, l, :, None] * sh[:, l * l:(l + 1) ** 2][:, None, :]).flatten(1) for l in range(self.lmax + 1)]
        return torch.cat(parts, dim=1)

    def forward(self, pair_in: torch.Tensor, u: torch.Tensor, sh: torch.Tensor, src: torch.Tensor, n_nodes: int,
                inv_sqrt_navg: float):
        """pair_in (E, 2 n_species + n_radial), envelope u (E,), harmonics sh (E, (lmax+1)^2)
        -> x0 (E, latent), V0 (E, dim), n0 (n_nodes, dim)."""
        x_tilde = self.two_body(pair_in)
        x0 = u[:, None] * x_tilde
        e0 = self._embed(self.w_env(x0), sh)
        v0 = self.sln_v(self._embed(self.w_env(x_tilde), sh))
        n0 = self.sln_n(scatter_sum(e0, src, n_nodes) * inv_sqrt_navg)
        return x0, v0, n0


class SLEMLayer(torch.nn.Module):
    """One interaction layer (slem-model.md 2.6): hidden, edge and node updates.

    Envelope: node messages are scaled by the raw pair scalar x (which carries u(r)), so node
    states are smooth when an atom crosses the cutoff. The edge stream is scaled by LayerNorm(x)
    instead and gets u(r) once, at the head: with raw x there as well, a hopping block near the
    cutoff carried u^2 and more, so the network had to output far hoppings 10-1000x larger
    than their size in its own units; they were learned 7-12x worse than by the reference
    (OpenMX si8, 30 epochs, MAE per distance shell 4.6-6.8 Angstrom; docs/model.md).

    Parameters
    ----------
    irreps_in
        Irreps of n, V and e entering the layer.
    irreps_hidden
        Irreps of n, V and e leaving it.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_hidden: o3.Irreps, n_species: int, latent_dim: int,
                 radial_channels: int, parity: bool, res_ratio: float):
        super().__init__()
        ir_in, hid = o3.Irreps(irreps_in), o3.Irreps(irreps_hidden)
        self.irreps_in, self.irreps_out = ir_in, hid
        self.alpha_old, self.alpha_new = residual_weights(res_ratio)
        self.sln_n, self.sln_v_in, self.sln_v = SeparableLayerNorm(ir_in), SeparableLayerNorm(ir_in), SeparableLayerNorm(hid)
        self.so2_h = GatedSO2(ir_in + ir_in, hid, latent_dim, radial_channels, parity)
        self.so2_e = GatedSO2(ir_in + hid + ir_in, hid, latent_dim, radial_channels, parity)
        self.so2_n = GatedSO2(ir_in + hid, hid, latent_dim, radial_channels, parity)
        self.scale_h, self.scale_e, self.scale_n = (ElementScale(hid, latent_dim) for _ in range(3))
        self.res_v, self.res_e, self.res_n = (o3.Linear(ir_in, hid) for _ in range(3))
        self.ln_x = torch.nn.LayerNorm(latent_dim)
        self.register_buffer("hid_scalars", scalar_indices(hid), persistent=False)
        self.latent = mlp([2 * n_species + latent_dim + len(self.hid_scalars), latent_dim, latent_dim])

    def forward(self, n, v, e, x, graph: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """n (nodes, in), v (E, in), e (A, in), x (E, latent) -> updated (n, v, e, x) in
        ``irreps_hidden``. ``graph`` holds src, dst, u, onehot_src, onehot_dst, frame,
        inv_sqrt_navg, and ``active`` (the A edges with an edge stream; ``slice(None)`` for all)
        with their ``frame_active``."""
        src, dst, active = graph["src"], graph["dst"], graph["active"]
        a_old, a_new = self.alpha_old, self.alpha_new
        n_bar = self.sln_n(n)
        # (b) hidden update: n_i, V_ij, x_ij only (never n_j)
        v_hat = self.so2_h(torch.cat([n_bar[src], self.sln_v_in(v)], dim=1), graph["frame"], x)
        ln_x = self.ln_x(x)
        x_new = graph["u"][:, None] * self.latent(
            torch.cat([graph["onehot_src"], ln_x, v_hat[:, self.hid_scalars], graph["onehot_dst"]], dim=1))
        v = a_new * self.scale_h(v_hat, ln_x) + a_old * self.res_v(v)
        x = a_new * x_new + a_old * x
        v_bar = self.sln_v(v)
        # (c) edge update: n_i, V_ij, n_j, on the active edges only
        x_a = x[active]
        e_hat = self.so2_e(torch.cat([n_bar[src[active]], v_bar[active], n_bar[dst[active]]], dim=1),
                           graph["frame_active"], x_a)
        e = a_new * self.scale_e(e_hat, self.ln_x(x_a)) + a_old * self.res_e(e)
        # (d) node update: messages from n_i and V_ij
        m = self.scale_n(self.so2_n(torch.cat([n_bar[src], v_bar], dim=1), graph["frame"], x), x)
        n = a_new * scatter_sum(m, src, n.shape[0]) * graph["inv_sqrt_navg"] + a_old * self.res_n(n)
        return n, v, e, x


def _hermitian_average(edge_irreps: BlockIrreps, features: torch.Tensor, half: torch.Tensor,
                       partner: torch.Tensor) -> torch.Tensor:
    """Blocks of the half edges from both directions: B_ij(R) = (P_ij(R) + P_ji(-R)^T) / 2;
    ``half`` and ``partner`` (H,) index the rows of ``features`` of (i, j, R) and (j, i, -R)."""
    forward, backward = edge_irreps.to_blocks(features[half]), edge_irreps.to_blocks(features[partner])
    return 0.5 * (forward + backward.transpose(-1, -2))


def _active_rows(active: torch.Tensor | slice, half: torch.Tensor, partner: torch.Tensor,
                 n_edges: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``half`` and ``partner`` edges among the ``active`` ones."""
    if isinstance(active, slice):
        return half, partner
    row = torch.full((n_edges,), -1, dtype=torch.long, device=half.device)
    row[active] = torch.arange(len(active), device=half.device)
    half_rows, partner_rows = row[half], row[partner]
    if bool((half_rows < 0).any()) or bool((partner_rows < 0).any()):
        raise ValueError("edge_active must hold every half edge and its reverse")
    return half_rows, partner_rows


class OperatorHead(torch.nn.Module):
    """Linear heads to onsite / hopping irreps, scale-shift per species / species pair, the
    cutoff envelope on hopping outputs, and irreps -> padded blocks."""

    def __init__(self, irreps_hidden: o3.Irreps, node: BlockIrreps, edge: BlockIrreps, n_channels: int,
                 n_species: int):
        super().__init__()
        self.n_channels = n_channels
        self.node_irreps, self.edge_irreps = node, edge
        self.node_linear = o3.Linear(irreps_hidden, node.irreps_out * n_channels)
        self.edge_linear = o3.Linear(irreps_hidden, edge.irreps_out * n_channels)
        self.node_scale = ScaleShift(n_species, n_channels, node.irreps_out.dim)
        self.edge_scale = ScaleShift(n_species * n_species, n_channels, edge.irreps_out.dim)

    def forward(self, n, e, node_types, edge_types, u, half, partner) -> tuple[torch.Tensor, torch.Tensor]:
        """Node features (nodes, hidden), edge features (A, hidden), species (nodes,), ordered
        species pairs (A,), envelope (A,), half and partner (H,) rows of the A edges -> onsite
        (nodes, n_channels, N, N) and hopping (H, n_channels, N, N) blocks."""
        on = self.node_scale(self.node_linear(n).unflatten(1, (self.n_channels, -1)), node_types)
        hop = self.edge_scale(self.edge_linear(e).unflatten(1, (self.n_channels, -1)), edge_types)
        return self.node_irreps.to_blocks(on), _hermitian_average(self.edge_irreps, hop * u[:, None, None], half,
                                                                   partner)


class OverlapHead(torch.nn.Module):
    """Two-centre overlap (slem-model.md 3.1-3.2). Hopping: for each shell pair, one radial
    function per natural-parity L (min(l1, l2) + 1 of them, as many as Slater-Koster
    integrals) of the initial pair scalar x0_ij times Y_L(r_ij): no environment, equivariant
    by construction. Onsite: the per-species constants of the training data (scale 0)."""

    def __init__(self, latent_dim: int, node: BlockIrreps, edge: BlockIrreps, n_species: int):
        super().__init__()
        self.node_irreps, self.edge_irreps = node, edge
        coef, sh_idx, natural, k = [], [], [], 0
        for (mul, ir), sl in zip(edge.irreps_out, edge.irreps_out.slices()):
            is_natural = ir.p == (-1) ** ir.l
            coef += [k] * ir.dim
            sh_idx += list(range(ir.l * ir.l, (ir.l + 1) ** 2))
            natural += [is_natural] * ir.dim
            k += int(is_natural)
        self.lmax = edge.irreps_out.lmax
        self.register_buffer("coef", torch.tensor(coef), persistent=False)
        self.register_buffer("sh_idx", torch.tensor(sh_idx), persistent=False)
        self.register_buffer("natural", torch.tensor(natural), persistent=False)
        self.radial = mlp([latent_dim, latent_dim, max(k, 1)])
        self.node_scale = ScaleShift(n_species, 1, node.irreps_out.dim)
        self.edge_scale = ScaleShift(n_species * n_species, 1, edge.irreps_out.dim)

    def forward(self, x0, vec, node_types, edge_types, u, half, partner):
        """Initial pair scalars (A, latent), edge vectors (A, 3), then as :class:`OperatorHead`."""
        sh = o3.spherical_harmonics(list(range(self.lmax + 1)), vec, normalize=True)
        feats = torch.where(self.natural, self.radial(x0)[:, self.coef] * sh[:, self.sh_idx], 0.0)
        hop = self.edge_scale(feats[:, None], edge_types) * u[:, None, None]
        on = self.node_scale(feats.new_zeros(len(node_types), 1, self.node_irreps.irreps_out.dim), node_types)
        return self.node_irreps.to_blocks(on), _hermitian_average(self.edge_irreps, hop, half, partner)


class SLEM(torch.nn.Module):
    """Strictly localised equivariant message passing for H, DM and S blocks.

    Parameters
    ----------
    basis
        The padded basis and species of the model.
    radii
        (n_species,) per-species radius r_Z (Angstrom); pair cutoff (r_Zi + r_Zj) / 2, used as
        both environment and bond cutoff.
    operators
        Operator name -> spin channels: "H"/"DM" with 1 or 2, "S" with 1.
    channels, lmax, n_layers, latent_dim, radial_channels, n_radial, env_multiplicity,
    avg_num_neighbors, envelope_p, parity, res_ratio
        Hyperparameters (see :class:`slem_dft.config.ModelConfig`).

    ``forward(batch)`` takes a :func:`slem_dft.nn.graph.collate` batch and returns
    ``{op: (onsite (nodes, ch, N, N), hopping (H, ch, N, N))}`` canonical padded blocks;
    hopping blocks are those of ``batch["half"]``. An optional ``batch["edge_active"]`` (A,)
    restricts the edge stream to those edges; it must hold every half edge and its reverse.
    """

    def __init__(self, basis: PaddedBasis, radii, operators: dict[str, int], channels: int = 16,
                 lmax: int | None = None, n_layers: int = 2, latent_dim: int = 32, radial_channels: int = 32,
                 n_radial: int = 8, env_multiplicity: int = 4, avg_num_neighbors: float = 40.0,
                 envelope_p: int = 6, parity: bool = True, res_ratio: float = 0.5):
        super().__init__()
        self.basis, self.operators = basis, dict(operators)
        self.n_species = len(basis.species)
        self.register_buffer("radii", torch.as_tensor(radii, dtype=torch.get_default_dtype()))
        self.node_irreps = BlockIrreps(basis.shell_ls, symmetric=True)
        self.edge_irreps = BlockIrreps(basis.shell_ls, symmetric=False)
        lmax = 2 * basis.lmax if lmax is None else lmax
        self.irreps_hidden = hidden_irreps(self.edge_irreps.irreps_out, channels, lmax)
        self.inv_sqrt_navg = 1.0 / math.sqrt(avg_num_neighbors)
        self.radial = BesselBasis(float(max(radii)), n_radial)
        self.envelope = PolynomialEnvelope(envelope_p)
        self.init = InitLayer(self.n_species, n_radial, latent_dim, env_multiplicity, lmax)
        irreps = [self.init.irreps_out] + [self.irreps_hidden] * n_layers
        self.layers = torch.nn.ModuleList(SLEMLayer(irreps[k], irreps[k + 1], self.n_species, latent_dim,
                                                    radial_channels, parity, res_ratio) for k in range(n_layers))
        self.lmax = lmax
        self.heads = torch.nn.ModuleDict()
        for op, n_ch in self.operators.items():
            if op == "S":
                self.heads[op] = OverlapHead(latent_dim, self.node_irreps, self.edge_irreps, self.n_species)
            else:
                self.heads[op] = OperatorHead(self.irreps_hidden, self.node_irreps, self.edge_irreps, n_ch,
                                              self.n_species)

    def edge_vectors(self, batch: dict) -> torch.Tensor:
        """(E, 3) r_ij = r_j + R.A - r_i (Angstrom)."""
        pos, src, dst = batch["positions"], batch["edge_src"], batch["edge_dst"]
        shift = torch.einsum("ek,ekx->ex", batch["edge_shift"].to(pos.dtype), batch["cell"][batch["edge_graph"]])
        return pos[dst] + shift - pos[src]

    def forward(self, batch: dict) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        species, src, dst, half = batch["species"], batch["edge_src"], batch["edge_dst"], batch["half"]
        vec = self.edge_vectors(batch)
        r = vec.norm(dim=-1)
        dtype = vec.dtype
        u = self.envelope(2.0 * r / (self.radii[species[src]] + self.radii[species[dst]]))
        onehot = _species_onehot(species, self.n_species, dtype)
        active = batch.get("edge_active", slice(None))
        frame = EdgeFrame(vec, self.lmax)
        graph = {"src": src, "dst": dst, "u": u, "onehot_src": onehot[src], "onehot_dst": onehot[dst],
                 "frame": frame, "active": active, "frame_active": frame.select(active),
                 "inv_sqrt_navg": self.inv_sqrt_navg}
        sh = o3.spherical_harmonics(list(range(self.lmax + 1)), vec, normalize=True)
        pair_in = torch.cat([onehot[src], onehot[dst], self.radial(r)], dim=1)
        x0, v, n = self.init(pair_in, u, sh, src, len(species), self.inv_sqrt_navg)
        e = v[active]
        x = x0
        for layer in self.layers:
            n, v, e, x = layer(n, v, e, x, graph)
        half_rows, partner_rows = _active_rows(active, half, batch["reverse"][half], len(src))
        edge_types = (species[src] * self.n_species + species[dst])[active]
        out = {}
        for op, head in self.heads.items():
            inputs = (x0[active], vec[active]) if op == "S" else (n, e)
            out[op] = head(*inputs, species, edge_types, u[active], half_rows, partner_rows)
        return out
