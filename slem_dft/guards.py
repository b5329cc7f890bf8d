"""Physics guards before an export (issue 12): what a DFT code would choke on or silently
misuse. Operators are made exactly hermitian; an overlap that is not positive definite (or
nearly singular) is replaced by the exact two-centre overlap where the radial orbitals are
known, else refused; Tr(DM S) is compared with the electron count and, on request, the DM is
scaled to it."""

from __future__ import annotations

import dataclasses

from .checks import min_overlap_eigenvalue, trace_dm_s
from .data import Record
from .errors import ConventionError, SlemDFTError

__all__ = ["MIN_OVERLAP_EIGENVALUE", "ROUNDING", "guard_for_export"]

#: Smallest eigenvalue of S(k) accepted: below it S(k) is (nearly) singular and a DFT code's
#: Cholesky factorisation fails or amplifies errors.
MIN_OVERLAP_EIGENVALUE = 1e-5

#: Relative asymmetry of a hermitian operator explained by float64 arithmetic in the DFT code.
ROUNDING = 1e-12


def _exact_overlap(record: Record):
    from .overlap import TwoCenterOverlap, overlap_blocks
    from .registry import read_radial_basis

    return overlap_blocks(record, TwoCenterOverlap(read_radial_basis(record)))


def guard_for_export(
    record: Record, renormalise_dm: bool = False, min_overlap: float = MIN_OVERLAP_EIGENVALUE
) -> tuple[Record, list[str]]:
    """The record made safe to export, and one line per thing done or found.

    Raises :class:`ConventionError` for an S that is not usable and cannot be replaced."""
    notes, operators = [], dict(record.operators)
    for name, op in operators.items():
        deviation = op.hermiticity_deviation()
        # an asymmetry within the printed digits (text files) or float64 rounding (binary files)
        # is the source's own: kept, so parsed data goes out as it came in
        largest = float(abs(op.values).max(initial=0.0))
        if deviation > max(record.source.precision.get(name, 0.0), ROUNDING) * largest:
            operators[name] = op.hermitised()
            notes.append(f"{name}: made hermitian (largest deviation {deviation:.3g})")
    if "S" in operators and not record.gamma_only:
        lowest = min_overlap_eigenvalue(dataclasses.replace(record, operators=operators))
        if lowest >= min_overlap:
            notes.append(f"S: smallest eigenvalue of S(k) {lowest:.3g} (positive definite)")
        else:
            try:
                operators["S"] = _exact_overlap(record)
            except SlemDFTError as exc:
                if lowest <= 0.0:
                    raise ConventionError(
                        f"{record.source.path}: S(k) is not positive definite (eigenvalue "
                        f"{lowest:.3g}) and the exact overlap is not available ({exc})"
                    ) from None
                notes.append(
                    f"S: warning: nearly singular, smallest eigenvalue of S(k) {lowest:.3g} < {min_overlap:g} "
                    f"(no exact overlap to replace it: {exc})"
                )
            else:
                exact = min_overlap_eigenvalue(dataclasses.replace(record, operators=operators))
                notes.append(
                    f"S: smallest eigenvalue of S(k) {lowest:.3g} < {min_overlap:g}: replaced by the exact "
                    f"two-centre overlap (smallest eigenvalue {exact:.3g})"
                )
    if "DM" in operators and "S" in operators and record.n_electrons is not None:
        trace = trace_dm_s(operators["DM"], operators["S"])
        notes.append(
            f"DM: Tr(DM S) = {trace:.6f} for {record.n_electrons:g} electrons "
            f"(difference {trace - record.n_electrons:+.3g})"
        )
        if renormalise_dm and trace > 0:
            operators["DM"] = operators["DM"].map_values(record.n_electrons / trace)
            notes.append(f"DM: scaled by {record.n_electrons / trace:.6f} to hold {record.n_electrons:g} electrons")
    return dataclasses.replace(record, operators=operators), notes
