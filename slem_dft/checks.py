"""Physics checks of parsed data: hermiticity, positive overlap, electron count, and the
eigenvalues of H(k), S(k) against what the DFT code itself printed.

Every comparison carries a tolerance that means something: 1 meV for eigenvalues, or the
precision the reference was printed with where that is coarser (for a dense dump: a bound
built from half a unit of the last printed digit of every element).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse.linalg
from threadpoolctl import threadpool_limits

from .data import BlockMatrix, Record
from .kspace import DENSE_LIMIT, BlochSum, generalized_eigenvalues, spin_expand
from .reference import BandReference, DenseReference

__all__ = ["CheckTolerances", "CheckReport", "check_record", "trace_dm_s", "spin_moment", "min_overlap_eigenvalue"]

#: k-points (reduced) at which S(k) must be positive definite: Gamma, zone-boundary and generic points.
_S_KPOINTS = np.array(
    [[0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5], [0.1234, 0.2345, 0.3456], [-0.31, 0.17, 0.43]]
)


#: Matrix size from which the eigenvalue solves of a check keep threaded BLAS.
_THREADED_SIZE = 400


@dataclass(frozen=True)
class CheckTolerances:
    """Pass/fail thresholds of :func:`check_record`.

    Attributes
    ----------
    hermiticity : float
        max |O_ij(R) - O_ji(-R)^dagger| (eV for H, electrons for DM, 1 for S).
    electrons : float
        |Tr(DM S) - N_electrons|.
    eigenvalue_meV : float
        Eigenvalue deviation floor; a coarser printed reference raises it to its precision.
    overlap_min_eigenvalue : float
        Smallest eigenvalue S(k) may have.
    spin_moment : float
        |moment from DM and S - moment the run printed| per component (mu_B); runs print
        three decimals.
    """

    hermiticity: float = 1e-6
    electrons: float = 1e-4
    eigenvalue_meV: float = 1.0
    overlap_min_eigenvalue: float = 1e-8
    spin_moment: float = 2e-3


@dataclass
class CheckReport:
    """Results of :func:`check_record`; ``to_dict`` gives the JSON of ``slem-dft check --json``."""

    code: str
    path: str
    nspin: int
    n_atoms: int
    n_orbitals: int
    operators: list[str]
    hermiticity: dict[str, float] = field(default_factory=dict)
    s_min_eigenvalue: float | None = None
    trace_dm_s: float | None = None
    electrons: float | None = None
    spin_moment: list[float] | None = None
    spin_moment_reported: list[float] | None = None
    eigenvalues: list[dict] = field(default_factory=list)
    dense: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        devs = [e["max_dev_meV"] for e in self.eigenvalues] + [
            d["eigenvalue_max_dev_meV"] for d in self.dense if d.get("eigenvalue_max_dev_meV") is not None
        ]
        out = dataclasses.asdict(self)
        out.update(
            hermiticity_max_dev=max(self.hermiticity.values()) if self.hermiticity else None,
            eigenvalue_max_dev_meV=max(devs) if devs else None,
            passed=self.passed,
        )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def format_text(self) -> str:
        """A short human-readable summary."""
        d = self.to_dict()
        lines = [
            f"{self.path}  [{self.code}, nspin {self.nspin}, {self.n_atoms} atoms, {self.n_orbitals} orbitals, "
            f"operators {', '.join(self.operators)}]"
        ]
        for op, dev in self.hermiticity.items():
            lines.append(f"  hermiticity {op:<2}  max |O_ij(R) - O_ji(-R)^+| = {dev:.2e}")
        if self.s_min_eigenvalue is not None:
            lines.append(f"  overlap      min eigenvalue of S(k) = {self.s_min_eigenvalue:.3e}")
        if self.trace_dm_s is not None:
            ne = "unknown" if self.electrons is None else f"{self.electrons:g}"
            lines.append(f"  electrons    Tr(DM S) = {self.trace_dm_s:.8f}  (run: {ne})")
        if self.spin_moment is not None:
            lines.append(
                f"  spin moment  from DM and S: {np.round(self.spin_moment, 4).tolist()} mu_B"
                f"  (run: {self.spin_moment_reported})"
            )
        for e in self.eigenvalues:
            lines.append(
                f"  eigenvalues  {e['n_kpoints']} k x {e['n_bands']} bands vs {e['reference']}: "
                f"max dev {e['max_dev_meV']:.3g} meV (tolerance {e['tolerance_meV']:.3g} meV)"
            )
        for x in self.dense:
            parts = [
                f"{op} max dev {x[f'{op}_max_dev']:.2e} ({x[f'{op}_max_dev_over_bound']:.2f} of print bound)"
                for op in ("H", "S")
                if x.get(f"{op}_max_dev") is not None
            ]
            if x.get("eigenvalue_max_dev_meV") is not None:
                parts.append(
                    f"eigenvalues {x['eigenvalue_max_dev_meV']:.3g} meV (tol {x['eigenvalue_tolerance_meV']:.3g})"
                )
            lines.append(f"  dense dump   k={np.round(x['kpoint'], 4).tolist()} {x['reference']}: " + "; ".join(parts))
        if d["eigenvalue_max_dev_meV"] is None:
            lines.append("  eigenvalues  no reference in this run")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  FAILED: {f}" for f in self.failures]
        lines.append("  result: " + ("passed" if self.passed else "FAILED"))
        return "\n".join(lines)


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj))


def trace_dm_s(dm: BlockMatrix, s: BlockMatrix) -> float:
    """Tr(DM S) = Re sum_{R,ij,spins} DM_ij(R) conj(S_ij(R)), summed over DM's spin channels.

    S of a spinor run may be spinless (one channel) or spinor (four channels, matched by
    channel); a collinear DM pairs both channels with the one S.
    """
    total = 0.0
    for e, (i, j, *R) in enumerate(dm.edges.tolist()):
        f = s.find(i, j, R)
        if f is None:
            continue
        d, o = dm.block(e), s.block(f)
        if dm.spin == "spinor" and s.spin != "spinor":
            total += float(np.real(np.sum((d[0] + d[3]) * np.conj(o[0]))))
        else:
            total += float(np.real(np.sum(d * np.conj(o))))
    return total


def spin_moment(dm: BlockMatrix, s: BlockMatrix) -> np.ndarray:
    """Total spin moment (mx, my, mz) in mu_B: m_a = Re sum DM^{ss'}_ij(R) conj(S_ij(R)) (sigma_a)_{s's}.

    Collinear DM: (0, 0, sum (DM_up - DM_down) S). A spinless DM has no moment (zeros).
    """
    m = np.zeros(3)
    if dm.spin == "none":
        return m
    for e, (i, j, *R) in enumerate(dm.edges.tolist()):
        f = s.find(i, j, R)
        if f is None:
            continue
        d, o = dm.block(e), np.conj(s.block(f)[0])
        if dm.spin == "collinear":
            m[2] += float(np.sum((d[0] - d[1]) * o))
        else:  # channels uu, ud, du, dd
            uu, ud, du, dd = (np.sum(d[c] * o) for c in range(4))
            m += np.real([ud + du, 1j * ud - 1j * du, uu - dd])
    return m


def min_overlap_eigenvalue(record: Record, kpoints: np.ndarray | None = None) -> float:
    """Smallest eigenvalue of S(k) over ``kpoints`` (default: a fixed sample; Gamma only for
    gamma-only records)."""
    s = BlochSum(record.operators["S"], record.orbital_counts)
    if kpoints is None:
        kpoints = _S_KPOINTS[:1] if record.gamma_only else _S_KPOINTS
    lowest = math.inf
    for k in kpoints:
        sk = s(k)
        if sk.shape[0] <= DENSE_LIMIT:
            ev = generalized_eigenvalues(sk, None)[0]
        else:
            ev = scipy.sparse.linalg.eigsh(sk, k=1, which="SA", return_eigenvectors=False)[0]
        lowest = min(lowest, float(ev))
    return lowest


def check_record(
    record: Record,
    references: Sequence[BandReference | DenseReference] = (),
    tolerances: CheckTolerances = CheckTolerances(),
    overlap: BlockMatrix | None = None,
) -> CheckReport:
    """Run every check the record's data allows; failures are collected, not raised.

    ``overlap`` is an S to use for Tr(DM S) and the spin moment when the record has none
    (the exact two-centre S of :mod:`slem_dft.overlap`)."""
    # Many small eigenproblems: threaded BLAS only adds overhead there, and with several
    # processes on few cores it oversubscribes them (measured 4x slower on 26x26 matrices).
    small = record.n_orbitals * (2 if record.nspin == 4 else 1) < _THREADED_SIZE
    with threadpool_limits(1 if small else None):
        return _check_record(record, references, tolerances, overlap)


def _check_record(record, references, tolerances, overlap) -> CheckReport:
    report = CheckReport(
        record.source.code,
        record.source.path,
        record.nspin,
        len(record.atoms),
        record.n_orbitals,
        list(record.operators),
        electrons=record.n_electrons,
        notes=list(record.source.notes),
    )
    ops = record.operators
    for name, op in ops.items():
        dev = op.hermiticity_deviation()
        report.hermiticity[name] = dev
        if dev > tolerances.hermiticity:
            report.failures.append(f"{name} is not hermitian: max deviation {dev:.3e} > {tolerances.hermiticity:g}")
    if "S" in ops:
        report.s_min_eigenvalue = min_overlap_eigenvalue(record)
        if report.s_min_eigenvalue < tolerances.overlap_min_eigenvalue:
            report.failures.append(f"S(k) is not positive definite: min eigenvalue {report.s_min_eigenvalue:.3e}")
    if "S" not in ops and overlap is not None:
        ops = {**ops, "S": overlap}
        report.notes.append("Tr(DM S) uses the exact two-centre S from the basis files (the run has no S)")
    if "S" in ops and "DM" in ops:
        report.trace_dm_s = trace_dm_s(ops["DM"], ops["S"])
        if record.n_electrons is not None and abs(report.trace_dm_s - record.n_electrons) > tolerances.electrons:
            report.failures.append(
                f"Tr(DM S) = {report.trace_dm_s:.6f} differs from the run's {record.n_electrons:g} electrons"
            )
        if ops["DM"].spin != "none":
            _check_moment(record, ops, tolerances, report)
    for ref in references:
        if isinstance(ref, BandReference):
            _check_bands(record, ref, tolerances, report)
        else:
            _check_dense(record, ref, tolerances, report)
    return report


def _check_moment(record: Record, ops, tol: CheckTolerances, report: CheckReport) -> None:
    m = spin_moment(ops["DM"], ops["S"])
    report.spin_moment = m.tolist()
    if record.spin_moment is None:
        return
    ref = np.asarray(record.spin_moment, dtype=float)
    report.spin_moment_reported = [None if np.isnan(x) else float(x) for x in ref]
    given = ~np.isnan(ref)
    if np.any(np.abs(m[given] - ref[given]) > tol.spin_moment):
        report.failures.append(
            f"spin moment {np.round(m, 4).tolist()} from DM and S differs from the run's {ref.tolist()}"
        )


def _check_bands(record: Record, ref: BandReference, tol: CheckTolerances, report: CheckReport) -> None:
    if "H" not in record.operators or "S" not in record.operators:
        report.notes.append(f"{ref.path}: eigenvalues not compared (needs both H and S)")
        return
    H = BlochSum(record.operators["H"], record.orbital_counts)
    S = BlochSum(record.operators["S"], record.orbital_counts)
    expand = record.operators["H"].spin == "spinor" and record.operators["S"].spin != "spinor"
    worst, n_bands = 0.0, 0
    for channel in range(ref.energies.shape[0]):
        for k, e_ref in zip(ref.kpoints, ref.energies[channel]):
            e = generalized_eigenvalues(H(k, channel), spin_expand(S(k)) if expand else S(k))
            n_bands = min(len(e), len(e_ref))
            worst = max(worst, float(np.abs(e[:n_bands] - e_ref[:n_bands]).max()))
    tolerance_meV = max(tol.eigenvalue_meV, 1e3 * ref.resolution)
    report.eigenvalues.append(
        dict(
            reference=ref.path,
            n_kpoints=len(ref.kpoints),
            n_bands=n_bands,
            max_dev_meV=1e3 * worst,
            tolerance_meV=tolerance_meV,
        )
    )
    if 1e3 * worst > tolerance_meV:
        report.failures.append(f"eigenvalues differ from {ref.path} by {1e3 * worst:.3g} meV > {tolerance_meV:.3g} meV")


def _check_dense(record: Record, ref: DenseReference, tol: CheckTolerances, report: CheckReport) -> None:
    """Compare H(k), S(k) element by element within a rounding bound: the printed precision of
    the dump plus that of the parsed file summed over R, plus a noise floor of 1e-12 max|O|."""
    counts, out = record.orbital_counts, {"reference": ref.path, "kpoint": ref.kpoint}
    ours, bounds = {}, {}
    for name, mat, res in (("H", ref.H, ref.H_resolution), ("S", ref.S, ref.S_resolution)):
        if mat is None or name not in record.operators:
            continue
        op = BlochSum(record.operators[name], counts)
        ours[name] = op(ref.kpoint, ref.channel).toarray()
        rel = record.source.precision.get(name, 0.0)
        bounds[name] = (
            res + rel * op(ref.kpoint, ref.channel, magnitude=True).toarray().real + 1e-12 * np.abs(mat).max()
        )
        dev = np.abs(ours[name] - mat)
        out[f"{name}_max_dev"] = float(dev.max())
        out[f"{name}_max_dev_over_bound"] = float((dev / bounds[name]).max())
        if out[f"{name}_max_dev_over_bound"] > 1.0:
            report.failures.append(
                f"{name}(k={ref.kpoint.tolist()}) differs from {ref.path} beyond its print precision "
                f"(max dev {dev.max():.3e})"
            )
    if "H" in ours and "S" not in ours and ref.S is not None:
        # A run without S (e.g. gamma-only H files): both spectra use the dump's S.
        ours["S"], bounds["S"] = ref.S, ref.S_resolution
    if "H" in ours and "S" in ours:
        e_ours = generalized_eigenvalues(ours["H"], ours["S"])
        e_ref = generalized_eigenvalues(ref.H, ref.S)
        # First-order bound: |de| <= (||dH|| + |e| ||dS||) / lambda_min(S), Frobenius norms.
        lam = float(np.linalg.eigvalsh(0.5 * (ref.S + ref.S.conj().T))[0])
        bound = (np.linalg.norm(bounds["H"]) + np.abs(e_ref).max() * np.linalg.norm(bounds["S"])) / lam
        dev_meV = 1e3 * float(np.abs(e_ours - e_ref).max())
        out.update(eigenvalue_max_dev_meV=dev_meV, eigenvalue_tolerance_meV=max(tol.eigenvalue_meV, 1e3 * bound))
        if dev_meV > out["eigenvalue_tolerance_meV"]:
            report.failures.append(
                f"eigenvalues at k={ref.kpoint.tolist()} differ from {ref.path} by {dev_meV:.3g} meV"
            )
    report.dense.append(out)
