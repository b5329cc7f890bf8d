"""Training and evaluation of SLEM models (slem-model.md 2.8, 4): statistics, loss, the fit
loop with EMA, clipping, plateau schedule, atomic checkpoints and exact resume."""

from __future__ import annotations

import copy
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .atomic import atomic_path
from .config import FitConfig
from .ddp_training import World, world_from_env
from .domain import TrainingDomain, radials_of
from .errors import ConfigError
from .nn.blocks import _copy_index, scalar_indices, scatter_sum
from .nn.dataset import blocks_to_operator, operator_channels, record_to_sample
from .nn.graph import collate
from .nn.irreps import PaddedBasis
from .nn.model import SLEM
from .spectrum import DEFAULT_KPOINTS, DEFAULT_WINDOW, eigenvalue_errors
from .store import Store

__all__ = [
    "build_model",
    "evaluate",
    "fit",
    "load_checkpoint",
    "loss_targets",
    "operator_loss",
    "set_statistics",
    "shifted_h_targets",
    "target_operators",
]

_UNIT = {"H": 1000.0, "S": 1.0, "DM": 1.0}  # metrics: H in meV


def _cutoff_from_data(records) -> float:
    """Longest stored hopping distance (Angstrom) plus a margin, so every stored block has an edge."""
    longest = 0.0
    for rec in records:
        for op in rec.operators.values():
            e = op.edges
            vec = rec.atoms.positions[e[:, 1]] + e[:, 2:] @ rec.atoms.cell.array - rec.atoms.positions[e[:, 0]]
            longest = max(longest, float(np.linalg.norm(vec, axis=1).max()))
    return longest + 1e-3


def build_model(config: FitConfig, basis: PaddedBasis, radii, operators: dict[str, int],
                avg_num_neighbors: float) -> SLEM:
    m = config.model
    return SLEM(basis, radii, operators, channels=m.channels, lmax=m.lmax, n_layers=m.n_layers,
                latent_dim=m.latent_dim, radial_channels=m.radial_channels, n_radial=m.n_radial,
                env_multiplicity=m.env_multiplicity, avg_num_neighbors=m.avg_num_neighbors or avg_num_neighbors,
                envelope_p=m.envelope_p, parity=m.parity, res_ratio=m.res_ratio)


def _type_stats(features: torch.Tensor, types: torch.Tensor, n_types: int, irreps) -> tuple[torch.Tensor, ...]:
    """Per type: scale (std for 0e, mean copy norm for L > 0) and shift (mean of 0e), float64."""
    copy = _copy_index(irreps)
    scalars = torch.zeros(features.shape[-1], dtype=torch.bool)
    scalars[scalar_indices(irreps)] = True
    scale = torch.ones(n_types, features.shape[1], features.shape[2], dtype=torch.float64)
    shift = torch.zeros_like(scale)
    for t in range(n_types):
        f = features[types == t]
        if len(f) == 0:
            continue
        norms = torch.zeros(f.shape[0], f.shape[1], int(copy.max()) + 1, dtype=torch.float64)
        norms.index_add_(2, copy, f.pow(2))
        sigma = torch.where(scalars, f.std(0, unbiased=False), norms.sqrt().mean(0)[:, copy])
        scale[t] = sigma.clamp(min=1e-3 * float(sigma.max()) + 1e-12)
        shift[t] = torch.where(scalars, f.mean(0), 0.0)
    return scale, shift


def set_statistics(model: SLEM, samples: list[dict]) -> dict[str, float]:
    """Set every head's scale-shift from the training targets (slem-model.md 2.8; onsite S is
    the per-species mean, scale 0) and return each operator's RMS target (loss normaliser)."""
    batch = collate(samples, torch.float64)
    species, src, dst, half = batch["species"], batch["edge_src"], batch["edge_dst"], batch["half"]
    n_sp = model.n_species
    norms = {}
    for op, head in model.heads.items():
        node = head.node_irreps.to_irreps(batch[f"node_{op}"])
        hop = batch[f"half_{op}"]
        edge = head.edge_irreps.to_irreps(torch.cat([hop, hop.transpose(-1, -2)]))  # both directions
        edge_types = torch.cat([species[src[half]] * n_sp + species[dst[half]],
                                species[dst[half]] * n_sp + species[src[half]]])
        for ss, feats, types, n_types, irreps in ((head.node_scale, node, species, n_sp, head.node_irreps.irreps_out),
                                                  (head.edge_scale, edge, edge_types, n_sp * n_sp,
                                                   head.edge_irreps.irreps_out)):
            scale, shift = _type_stats(feats, types, n_types, irreps)
            ss.scale.copy_(scale)
            ss.shift.copy_(shift)
        if op == "S":
            head.node_scale.scale.zero_()
        norms[op] = float(torch.cat([batch[f"node_{op}"].flatten(), hop.flatten()]).pow(2).mean().sqrt())
    return norms


def _element_masks(model: SLEM, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    om = torch.as_tensor(model.basis.orbital_mask(), device=batch["species"].device)
    s, half = batch["species"], batch["half"]
    node = om[s][:, :, None] & om[s][:, None, :]
    edge = om[s[batch["edge_src"][half]]][:, :, None] & om[s[batch["edge_dst"][half]]][:, None, :]
    return node[:, None], edge[:, None]


def shifted_h_targets(onsite: torch.Tensor, hopping: torch.Tensor, batch: dict,
                      masks: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """H targets moved by the best constant mu* S_ref per structure (slem-model.md 4.2).

    mu* = <H_pred - H_ref, S_ref> / <S_ref, S_ref> (eV) over the valid elements of every onsite
    block and, counted twice (their partners are the transposes), of every hermitian-half
    hopping block, summed over spin channels; mu* is detached from the graph.

    Parameters
    ----------
    onsite, hopping
        Predicted H blocks (n, ch, N, N) and (H, ch, N, N), eV.
    batch
        Holds ``node_H``, ``half_H`` and the overlap targets ``node_S``, ``half_S`` (1 channel).
    masks
        Valid-element masks (n, 1, N, N) and (H, 1, N, N) of :func:`_element_masks`.

    Returns
    -------
    The shifted targets H_ref + mu* S_ref, shaped as ``onsite`` and ``hopping``.
    """
    n_graphs = batch["cell"].shape[0]
    parts = ((onsite, batch["node_H"], batch["node_S"] * masks[0], batch["node_graph"], 1.0),
             (hopping, batch["half_H"], batch["half_S"] * masks[1], batch["edge_graph"][batch["half"]], 2.0))
    num = torch.zeros(n_graphs, dtype=onsite.dtype, device=onsite.device)
    den = torch.zeros_like(num)
    for pred, target, s, graph, weight in parts:
        num = num + weight * scatter_sum(((pred.detach() - target) * s).sum((1, 2, 3)), graph, n_graphs)
        den = den + weight * pred.shape[1] * scatter_sum(s.pow(2).sum((1, 2, 3)), graph, n_graphs)
    mu = num / den.clamp(min=torch.finfo(den.dtype).tiny)
    return tuple(target + mu[graph][:, None, None, None] * s for _, target, s, graph, _ in parts)


def loss_targets(model: SLEM, out: dict, batch: dict, onsite_shift: bool = False) -> dict:
    """op -> (onsite, hopping) targets of the loss and metrics; H shifted by mu* S with
    ``onsite_shift`` (:func:`shifted_h_targets`)."""
    targets = {op: (batch[f"node_{op}"], batch[f"half_{op}"]) for op in out}
    if onsite_shift and "H" in out:
        targets["H"] = shifted_h_targets(*out["H"], batch, _element_masks(model, batch))
    return targets


def operator_loss(model: SLEM, out: dict, batch: dict, norms: dict[str, float],
                  onsite_shift: bool = False) -> torch.Tensor:
    """Sum over operators of (l_onsite + l_hopping) / 2 with l = (MAE + RMSE) / 2 over valid
    block elements, each operator divided by its RMS target (slem-model.md 4.1); H compared up
    to mu* S per structure with ``onsite_shift`` (4.2)."""
    node_mask, edge_mask = _element_masks(model, batch)
    targets = loss_targets(model, out, batch, onsite_shift)
    total = 0.0
    for op, (onsite, hopping) in out.items():
        terms = []
        for pred, target, mask in zip((onsite, hopping), targets[op], (node_mask, edge_mask)):
            err = ((pred - target) / norms[op])[mask.expand_as(pred)]
            terms.append(0.5 * (err.abs().mean() + err.pow(2).mean().sqrt()) if err.numel() else err.sum())
        total = total + 0.5 * (terms[0] + terms[1])
    return total


def target_operators(operators: dict[str, int], onsite_shift: bool) -> dict[str, int]:
    """Operators whose targets a sample needs: the predicted ones, plus S for the onsite shift."""
    return {**operators, "S": 1} if onsite_shift and "H" in operators else dict(operators)


def _prepare(config: FitConfig):
    """Records -> (basis, radii, operators, train samples, validation samples, avg neighbours,
    training domain)."""
    records = [rec for p in config.data.stores for rec in Store(p)]
    val_records = [rec for p in config.data.val_stores for rec in Store(p)]
    if not val_records:
        order = np.random.default_rng(config.train.seed).permutation(len(records))
        n_val = int(round(config.data.val_fraction * len(records)))
        if n_val >= len(records):
            raise ConfigError(f"data.val_fraction leaves no training structure out of {len(records)}")
        val_records = [records[k] for k in order[:n_val]]
        records = [records[k] for k in order[n_val:]]
    basis = PaddedBasis.from_species(sb for rec in records + val_records for sb in rec.basis.species)
    operators = {op: operator_channels(records[0], op) for op in config.data.operators}
    cutoff = config.data.cutoff or _cutoff_from_data(records)
    radii = [cutoff] * len(basis.species)
    if config.train.onsite_shift and any("S" not in r.operators for r in records + val_records):
        raise ConfigError("train.onsite_shift needs the overlap S in every store (convert with --operators H,S)")
    targets = target_operators(operators, config.train.onsite_shift)
    train = [record_to_sample(r, basis, radii, targets) for r in records]
    val = [record_to_sample(r, basis, radii, targets) for r in val_records]
    avg = float(np.mean([len(s["edge_src"]) / len(s["species"]) for s in train]))
    everything = records + val_records
    domain = TrainingDomain.from_records(everything, reach=cutoff, radials=radials_of(everything))
    return basis, radii, operators, train, val, avg, domain


def _scheduler(optimizer, config: FitConfig):
    t = config.train
    if t.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t.epochs, eta_min=t.min_lr)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=t.lr_factor, patience=t.lr_patience,
                                                      min_lr=t.min_lr)


def _metrics(model: SLEM, samples: list[dict], norms: dict, dtype, device, onsite_shift: bool = False,
             world: World | None = None) -> dict:
    """Validation loss and MAE per operator (H in meV, up to mu* S with ``onsite_shift``) over
    valid elements; with several processes each takes every size-th sample and the sums are
    pooled, so all see the same numbers."""
    world = world or World()
    ops = list(model.heads)
    loss, sums, counts = 0.0, dict.fromkeys(ops, 0.0), dict.fromkeys(ops, 0)
    with torch.no_grad():
        for sample in samples[world.rank::world.size]:
            batch = collate([sample], dtype, device)
            out = model(batch)
            loss += float(operator_loss(model, out, batch, norms, onsite_shift))
            targets = loss_targets(model, out, batch, onsite_shift)
            for op, preds in out.items():
                for pred, target, mask in zip(preds, targets[op], _element_masks(model, batch)):
                    err = (pred - target)[mask.expand_as(pred)].abs()
                    sums[op] += float(err.sum()) * _UNIT[op]
                    counts[op] += err.numel()
    pooled = world.sum([loss, *sums.values(), *counts.values()], device)
    loss, sums, counts = pooled[0], pooled[1:1 + len(ops)], pooled[1 + len(ops):]
    names = {"H": "h_mae_meV", "S": "s_mae", "DM": "dm_mae"}
    return {"val_loss": loss / max(len(samples), 1),
            **{names[op]: total / count for op, total, count in zip(ops, sums, counts) if count}}


class _EMA:
    """Exponential moving average of a model's floating-point parameters, with warm-up: update
    n uses decay min(decay, (1 + n) / (10 + n)).

    Why the warm-up: with a constant 0.99 and one step per structure, a 9-structure set makes
    270 steps in 30 epochs, after which the average still holds 7 % of the random initial
    weights and lags ~11 epochs behind; measured on OpenMX si8 (30 epochs) the validated
    average was 2.7x worse than the raw weights (27.4 vs 10.2 meV)."""

    def __init__(self, model: SLEM, decay: float):
        self.decay, self.model, self.updates = decay, copy.deepcopy(model), 0

    def update(self, model: SLEM) -> None:
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        self.updates += 1
        with torch.no_grad():
            for avg, p in zip(self.model.parameters(), model.parameters()):
                avg.lerp_(p, 1.0 - decay) if decay else avg.copy_(p)


def _train_epoch(model, ema, optimizer, samples, norms, config, generator, dtype, device,
                 world: World | None = None) -> float:
    """One pass in a seeded random order (this process's shard of it); gradients averaged over
    the processes before each step. Returns the mean training loss over all processes."""
    world = world or World()
    model.train()
    order = world.shard(torch.randperm(len(samples), generator=generator).tolist())
    batches = [order[k:k + config.train.batch_size] for k in range(0, len(order), config.train.batch_size)]
    parameters = list(model.parameters())
    total = 0.0
    bar = None
    if config.train.progress and world.is_root:
        from tqdm import tqdm
        bar = tqdm(batches, leave=False, desc="train")
    for n, idx in enumerate(bar if bar is not None else batches, 1):
        batch = collate([samples[k] for k in idx], dtype, device)
        loss = operator_loss(model, model(batch), batch, norms, config.train.onsite_shift)
        optimizer.zero_grad()
        loss.backward()
        world.average_gradients(parameters)
        if config.train.clip_grad:
            torch.nn.utils.clip_grad_norm_(parameters, config.train.clip_grad)
        optimizer.step()
        ema.update(model)
        total += float(loss.detach())
        if bar is not None:
            bar.set_postfix(loss=f"{total / n:.4g}")
    total, steps = world.sum([total, len(batches)], device)
    return total / steps


def fit(config: FitConfig, out_dir: str | os.PathLike, resume: bool = False, echo=print) -> list[dict]:
    """Train a model; writes ``last.pt``, ``best.pt`` and ``metrics.csv`` to ``out_dir``.

    With ``resume`` the run continues from ``last.pt`` (written at the end of every epoch with
    the weights, EMA, optimiser, schedule and random states), so a killed run continues exactly
    as if it had not stopped. Returns the per-epoch metrics."""
    world = world_from_env(config.train.device)
    try:
        return _fit(config, Path(out_dir), resume, echo if world.is_root else (lambda *_: None), world)
    finally:
        world.close()


def _fit(config: FitConfig, out: Path, resume: bool, echo, world: World) -> list[dict]:
    if world.is_root:
        out.mkdir(parents=True, exist_ok=True)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.train.dtype]
    device = world.device(config.train.device)
    torch.manual_seed(config.train.seed)  # the same initial weights in every process
    basis, radii, operators, train, val, avg, domain = _prepare(config)
    model = build_model(config, basis, radii, operators, avg)
    norms = set_statistics(model, train)
    model = model.to(dtype=dtype, device=device)
    ema = _EMA(model, config.train.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    scheduler = _scheduler(optimizer, config)
    generator = torch.Generator().manual_seed(config.train.seed)
    history, best, start = [], float("inf"), 0
    if resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", weights_only=True, map_location=device)
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        ema.updates = state["ema_updates"]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["rng"])
        history, best, start = state["history"], state["best"], state["epoch"]
        echo(f"resuming after epoch {start}")
    header = ["epoch", "train_loss", "val_loss", "lr", *[k for k in ("h_mae_meV", "s_mae", "dm_mae")
                                                      if {"h_mae_meV": "H", "s_mae": "S", "dm_mae": "DM"}[k]
                                                      in operators], "train_seconds", "seconds"]
    started = time.perf_counter()
    for epoch in range(start + 1, config.train.epochs + 1):
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, ema, optimizer, train, norms, config, generator, dtype, device, world)
        train_seconds = time.perf_counter() - t0
        metrics = _metrics(ema.model, val or train, norms, dtype, device, config.train.onsite_shift, world)
        scheduler.step(*([metrics["val_loss"]] if config.train.lr_schedule == "plateau" else []))
        row = {"epoch": epoch, "train_loss": train_loss, **metrics, "lr": optimizer.param_groups[0]["lr"],
               "train_seconds": train_seconds, "seconds": time.perf_counter() - t0}
        history.append(row)
        echo("  ".join(f"{k} {row[k]:.5g}" if isinstance(row[k], float) else f"{k} {row[k]}" for k in header))
        out_of_time = bool(config.train.max_minutes) and time.perf_counter() - started > 60.0 * config.train.max_minutes
        out_of_time = world.sum([float(out_of_time)], device)[0] > 0  # every process stops at the same epoch
        if not world.is_root:  # rank 0 alone writes
            if out_of_time:
                break
            continue
        with open(out / "metrics.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(history)
        checkpoint = {"config": config.to_dict(), "basis": basis.to_dict(), "radii": list(radii),
                      "domain": domain.to_dict(),
                      "operators": operators, "avg_num_neighbors": avg, "norms": norms,
                      "weights": ema.model.state_dict(), "versions": {"slem_dft": __version__, "torch": str(torch.__version__)},
                      "model": model.state_dict(), "ema": ema.model.state_dict(), "ema_updates": ema.updates, "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                      "rng": torch.get_rng_state(), "history": history, "epoch": epoch,
                      "best": min(best, metrics["val_loss"])}
        if metrics["val_loss"] < best:
            best = metrics["val_loss"]
            with atomic_path(out / "best.pt") as tmp:
                torch.save(checkpoint, tmp)
        with atomic_path(out / "last.pt") as tmp:
            torch.save(checkpoint, tmp)
        if out_of_time:
            echo(f"stopping after epoch {epoch}: train.max_minutes = {config.train.max_minutes} reached")
            break
    drift = world.check_in_sync(list(model.parameters()))
    if drift != 0.0:
        raise RuntimeError(f"training processes drifted apart (largest weight difference {drift:g})")
    return history


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[SLEM, dict]:
    """The model (EMA weights) of a checkpoint, and the checkpoint dict."""
    state = torch.load(path, weights_only=True, map_location=device)
    config = FitConfig.from_dict(state["config"])
    model = build_model(config, PaddedBasis.from_dict(state["basis"]), state["radii"], state["operators"],
                        state["avg_num_neighbors"])
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.train.dtype]
    model = model.to(dtype=dtype, device=device)
    model.load_state_dict(state["weights"])
    return model.eval(), state


def _accumulate_mae(acc: dict, basis: PaddedBasis, sample: dict, out: dict, targets: dict, masks) -> None:
    """Add |pred - target| sums and element counts of one structure to ``acc[op][group]`` for
    the groups all, onsite / hopping, species pair (e.g. Si-Si) and shell-degree pair (s-p)."""
    ls = np.repeat(basis.shell_ls, [2 * l + 1 for l in basis.shell_ls])
    s, half = sample["species"], sample["half"]
    ends = {"onsite": (s, s), "hopping": (s[sample["edge_src"][half]], s[sample["edge_dst"][half]])}
    for op, preds in out.items():
        table = acc.setdefault(op, {})
        for (kind, (si, sj)), pred, target, mask in zip(ends.items(), preds, targets[op], masks):
            err = ((pred - target).abs() * mask).double().numpy() * _UNIT[op]  # (n, ch, N, N)
            count = np.broadcast_to(mask.numpy(), err.shape)
            pair = np.array([f"{basis.species[a]}-{basis.species[b]}" for a, b in zip(si, sj)])
            groups = {"all": slice(None), kind: slice(None), **{p: pair == p for p in set(pair.tolist())}}
            for key, sel in groups.items():
                entry = table.setdefault(key, [0.0, 0])
                entry[0] += float(err[sel].sum())
                entry[1] += int(count[sel].sum())
            e, c = err.sum((0, 1)), count.sum((0, 1))
            for l1 in range(basis.lmax + 1):
                for l2 in range(basis.lmax + 1):
                    m = np.ix_(ls == l1, ls == l2)
                    entry = table.setdefault(f"{'spdfg'[l1]}-{'spdfg'[l2]}", [0.0, 0])
                    entry[0] += float(e[m].sum())
                    entry[1] += int(c[m].sum())


def _eigen_summary(reports: list[dict], window: float) -> dict:
    """Pool the per-structure :func:`eigenvalue_errors` reports (meV)."""
    errors = np.concatenate([r["errors"] for r in reports]) * 1000.0
    return {"eig_mae_meV": float(errors.mean()) if errors.size else float("nan"),
            "eig_max_meV": float(errors.max()) if errors.size else float("nan"),
            "eig_states": int(errors.size), "eig_window_eV": window, "eig_kpoints": reports[0]["kpoints"],
            "eig_fermi_source": sorted({r["fermi_source"] for r in reports}),
            "eig_aligned": any(r["shift"] != 0.0 for r in reports)}


def evaluate(model_path: str | os.PathLike, store: str | os.PathLike, kpoints=DEFAULT_KPOINTS,
             window: float = DEFAULT_WINDOW) -> dict:
    """Errors of a model on a store.

    MAE per operator (H in meV), onsite vs hopping, per species pair and per shell-degree pair,
    over the blocks of the model's graph (valid elements); H up to mu* S per structure if the
    model was trained with ``train.onsite_shift``. Where the store has H and S: the error of the
    band energies of the predicted H (with the store's S) against the stored H, S at
    ``kpoints`` (reduced) for the bands within E_F +- ``window`` (eV), see
    :func:`slem_dft.spectrum.eigenvalue_errors` (``eig_mae_meV``, ``eig_max_meV``, ...).
    """
    model, state = load_checkpoint(model_path)
    shift = FitConfig.from_dict(state["config"]).train.onsite_shift
    dtype = next(model.parameters()).dtype
    acc: dict = {}
    spectra = []
    with torch.no_grad():
        for rec in Store(store):
            sample = record_to_sample(rec, model.basis, state["radii"], target_operators(state["operators"], shift))
            batch = collate([sample], dtype)
            out = model(batch)
            _accumulate_mae(acc, model.basis, sample, out, loss_targets(model, out, batch, shift),
                            _element_masks(model, batch))
            if "H" in out and {"H", "S"} <= set(rec.operators):
                onsite, hopping = (x.double().numpy() for x in out["H"])
                predicted = blocks_to_operator(model.basis, sample, onsite, hopping)
                spectra.append(eigenvalue_errors(rec, predicted, kpoints, window, align=shift))
    tables = {op: {k: v[0] / v[1] for k, v in groups.items() if v[1]} for op, groups in acc.items()}
    result = {"tables": tables, "units": {"H": "meV", "S": "1", "DM": "electrons"}}
    for op, name in (("H", "h_mae_meV"), ("S", "s_mae"), ("DM", "dm_mae")):
        if op in tables:
            result[name] = tables[op]["all"]
    if spectra:
        result.update(_eigen_summary(spectra, window))
    return result
