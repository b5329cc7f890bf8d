"""Files SIESTA reads back: ``<SystemLabel>.DM`` (``DM.UseSaveDM``), ``<SystemLabel>.HSX``
(version 1, which SIESTA 5 writes and sisl reads) and ``<SystemLabel>.slem-dft.fdf`` with the
fdf lines that use them (formats-siesta.md sections 3, 4.2, 6, 7, 8 and 9).

Sparsity. SIESTA lists, in each row io (a unit-cell orbital of atom ia), the orbitals jo
connected to io, in the order its ``hsparse`` finds them: the neighbour atoms of ia ordered by
their bond vector x_ij (by z, then y, then x, coordinates equal within 1e-8 Bohr counting as
equal), and within a neighbour its orbitals in basis order. io and jo are connected when their
orbitals overlap (rc_i + rc_j > r_ij) or both overlap one Kleinman-Bylander projector
(rc_i + rc_kb > r_ik and rc_j + rc_kb > r_jk). H, S and DM share this pattern. With the
species' ``.ion.xml`` files (the cutoffs of orbitals and projectors) :func:`siesta_pattern`
generates it for any structure; SIESTA's own DM files are reproduced byte for byte
(docs/export.md). Without them every element of the stored blocks is listed, in the same
neighbour order: SIESTA copies a DM element by element into its own pattern, so such a file
is read the same.

Columns are numbered jo = is * no_u + juo with ``is`` the image of the lattice offset R in
SIESTA's canonical order for the written nsc (x fastest; each axis 0, 1, ..., n//2, -(n//2),
..., -1; section 3); nsc is the smallest odd supercell holding every R, and 1 1 1 for
Gamma-only (folded) records, which are SIESTA's own Gamma-only layout.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers
from ase.neighborlist import primitive_neighbor_list

from slem_dft.atomic import write_files
from slem_dft.basisfiles.ion import IonFile, check_basis, find_ion_files, read_ion
from slem_dft.conventions import orbital_table, siesta_image_index, siesta_image_offsets, siesta_spin_components
from slem_dft.data import BlockMatrix, Record
from slem_dft.errors import ConventionError, MissingInputError, SlemDFTWarning
from slem_dft.layouts import SIESTA_HSX_SPECIES
from slem_dft.units import BOHR_TO_ANG_SIESTA5, RY_TO_EV_CODATA2018, siesta_units

__all__ = [
    "SparsityPattern",
    "default_system_label",
    "dm_bytes",
    "fdf_text",
    "hsx_bytes",
    "operator_values",
    "ordvec",
    "siesta_pattern",
    "export_files",
    "spin_components",
    "write_inputs",
]

#: Coordinates closer than this (Bohr) count as equal when ordering neighbours (``hsparse``).
ORDER_TOL = 1e-8
_SPIN_FDF = {1: "non-polarized", 2: "polarized", 4: "non-colinear", 8: "spin-orbit"}


@dataclass(frozen=True, eq=False)
class SparsityPattern:
    """SIESTA's sparse layout of one structure (formats-siesta.md sections 1 and 3).

    Attributes
    ----------
    nsc : (3,) int64, supercell of the column numbering
    numh : (no_u,) int64, elements per row
    col : (nnz,) int64, 0-based column is * no_u + juo of each element, rows one after another
    isc_off : (n_s, 3) int64, lattice offset of each image, canonical order
    atom_i, atom_j : (nnz,) int64, atom of the row and of the column orbital
    local_i, local_j : (nnz,) int64, canonical orbital index of row and column within their atom
    sign : (nnz,) float64, product of the SIESTA (-1)^m signs of both orbitals
    R : (nnz, 3) int64, lattice offset of the column's image
    """

    nsc: np.ndarray
    numh: np.ndarray
    col: np.ndarray
    isc_off: np.ndarray
    atom_i: np.ndarray
    atom_j: np.ndarray
    local_i: np.ndarray
    local_j: np.ndarray
    sign: np.ndarray
    R: np.ndarray

    @property
    def no_u(self) -> int:
        return int(self.numh.size)


def default_system_label(record: Record) -> str:
    """The SystemLabel of the run the record was read from (the stem of its SIESTA files),
    else SIESTA's default ``siesta``."""
    if record.source.code == "siesta":
        for files in record.source.files.values():
            if files:
                return Path(files[0]).name.split(".")[0]
    return "siesta"


def _pattern_bohr(record: Record) -> float:
    """Angstrom per Bohr for the sparsity decisions: that of the SIESTA version a SIESTA record
    was read with (its positions and the ``.ion.xml`` cutoffs are in that Bohr), else SIESTA 5's.
    The files themselves are written in SIESTA 5 units (CODATA 2018), as HSX v1 is read."""
    return siesta_units(record.source.code_version)[1] if record.source.code == "siesta" else BOHR_TO_ANG_SIESTA5


# -- neighbour order -------------------------------------------------------------------------
def ordvec(vectors: np.ndarray, tol: float = ORDER_TOL) -> np.ndarray:
    """Order of bond vectors as SIESTA's ``hsparse`` takes them: by z; among runs of z equal
    within ``tol``, by y; among runs of equal (z, y), by x.

    Parameters
    ----------
    vectors : (n, 3) float64, Bohr

    Returns
    -------
    (n,) int64 permutation
    """
    order = np.argsort(vectors[:, 2], kind="stable")
    for axis in (1, 0):
        v = vectors[order]
        same = np.all(np.abs(np.diff(v[:, axis + 1 :], axis=0)) <= tol, axis=1)
        run_id = np.concatenate([[0], np.cumsum(~same)])  # runs of equal higher coordinates
        order = order[np.lexsort((v[:, axis], run_id))]
    return order


def _neighbours(record: Record, radius: float, bohr: float, edges: np.ndarray | None):
    """Per unit-cell atom: (neighbour atom (n,), lattice offset (n, 3), x_ij (n, 3) Bohr) in
    ``ordvec`` order. Neighbours are the atoms closer than ``radius`` (Bohr, the atom itself
    included) or, with ``edges`` ((n, 5) rows (i, j, R)), the blocks listed there."""
    cell = record.atoms.cell.array / bohr
    xa = record.atoms.positions / bohr
    if edges is None:
        i, j, R = primitive_neighbor_list(
            "ijS",
            record.atoms.pbc,
            record.atoms.cell.array,
            record.atoms.positions,
            radius * bohr,
            self_interaction=True,
        )
    else:
        i, j, R = edges[:, 0], edges[:, 1], edges[:, 2:]
    R = np.asarray(R, dtype=np.int64)
    out = []
    for ia in range(len(record.atoms)):
        pick = np.flatnonzero(i == ia)
        xij = xa[j[pick]] + R[pick] @ cell - xa[ia]
        order = ordvec(xij)
        out.append((j[pick][order], R[pick][order], xij[order]))
    return out


# -- connectivity ----------------------------------------------------------------------------
def _kb_reach(ion: IonFile, rc_i: float, r: np.ndarray) -> np.ndarray:
    """(n,) the largest cutoff (Bohr) among the KB projectors of atoms of species ``ion`` at
    distances ``r`` (Bohr) that an orbital of cutoff ``rc_i`` overlaps (rc_i + rc_kb > r);
    -inf where it overlaps none."""
    kb = ion.kb_cutoffs
    hit = rc_i + kb[None, :] > r[:, None]
    return np.where(hit, kb[None, :], -np.inf).max(axis=1, initial=-np.inf)


def _connections(ion_i: IonFile, ions_j: list[IonFile], xij: np.ndarray) -> list[np.ndarray]:
    """For every orbital io of an atom: which orbitals of its neighbours it is connected to,
    by overlap (rc_i + rc_j > r_ij) or through a KB projector k (rc_i + rc_k > r_ik and
    rc_j + rc_k > r_jk), as ``hsparse`` decides.

    Parameters
    ----------
    ion_i : the atom's species; ions_j : the species of each neighbour (n,)
    xij : (n, 3) Bohr, bond vectors in ``ordvec`` order

    Returns
    -------
    per orbital io (SIESTA order): (n_orbitals,) bool over the neighbours' orbitals, neighbour
    after neighbour, each in SIESTA order
    """
    r = np.sqrt(np.sum(xij**2, axis=1))
    species = list({id(ion): ion for ion in ions_j}.values())
    kind = np.array([species.index(ion) for ion in ions_j])
    reach = max(o.orbital_cutoffs.max() for o in species) + max(o.kb_cutoffs.max(initial=0.0) for o in species)
    near = np.flatnonzero(r < reach)  # the only atoms whose projectors an orbital io can overlap
    d_jk = np.sqrt(np.sum((xij[:, None, :] - xij[None, near, :]) ** 2, axis=2))  # (n, n_near)
    n_orb = np.array([o.orbital_cutoffs.size for o in species])
    valid = np.arange(n_orb.max())[None, :] < n_orb[kind][:, None]  # (n, max orbitals)
    cache: dict[float, np.ndarray] = {}
    out = []
    for rc_i in ion_i.orbital_cutoffs:
        if rc_i not in cache:
            m_k = np.full(near.size, -np.inf)  # best projector reach of each nearby atom
            for s, ion in enumerate(species):
                pick = kind[near] == s
                m_k[pick] = _kb_reach(ion, rc_i, r[near[pick]])
            linked = np.zeros(valid.shape, dtype=bool)
            for s, ion in enumerate(species):
                rows = np.flatnonzero(kind == s)
                rc_j = ion.orbital_cutoffs
                direct = rc_i + rc_j[None, :] > r[rows, None]
                via = {u: np.any(u + m_k[None, :] > d_jk[rows], axis=1) for u in np.unique(rc_j)}
                linked[rows, : rc_j.size] = direct | np.column_stack([via[u] for u in rc_j])
            cache[rc_i] = linked[valid]
        out.append(cache[rc_i])
    return out


def siesta_pattern(
    record: Record, ions: Mapping[str, IonFile] | None = None, operators: Sequence[str] = ("DM",)
) -> SparsityPattern:
    """SIESTA's sparsity pattern of the record's structure (module docstring).

    With ``ions`` (species label -> its ``.ion.xml``) the pattern is SIESTA's own, generated
    from the orbital and projector cutoffs; without, it lists every element of the blocks of
    ``operators`` in SIESTA's neighbour order.
    """
    bohr = _pattern_bohr(record)
    counts = record.orbital_counts
    if ions is not None:
        rc = max(ion.orbital_cutoffs.max() for ion in ions.values())
        rc_kb = max(ion.kb_cutoffs.max(initial=0.0) for ion in ions.values())
        neighbours = _neighbours(record, 2.0 * (rc + rc_kb), bohr, None)  # hsparse's rmax
    else:
        edges = np.unique(np.concatenate([record.operators[op].edges for op in operators]), axis=0)
        neighbours = _neighbours(record, 0.0, bohr, edges)
    rows = []  # per unit-cell orbital: (neighbour atom, R, juo) of its elements in order
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for ia, (ja, R, xij) in enumerate(neighbours):
        orb_j = np.concatenate([np.arange(offsets[a], offsets[a + 1]) for a in ja]) if ja.size else np.zeros(0, int)
        slot = np.repeat(np.arange(ja.size), counts[ja])
        if ions is not None:
            links = _connections(ions[record.species[ia]], [ions[record.species[a]] for a in ja], xij)
        else:
            links = [np.ones(orb_j.size, dtype=bool)] * int(counts[ia])
        for keep in links:
            rows.append((ja[slot[keep]], R[slot[keep]], orb_j[keep]))
    all_R = np.concatenate([R for _, R, _ in rows])
    nsc = np.ones(3, dtype=np.int64) if record.gamma_only else 2 * np.abs(all_R).max(axis=0, initial=0) + 1
    return _assemble(record, rows, nsc)


def _assemble(record: Record, rows, nsc: np.ndarray) -> SparsityPattern:
    """Columns (first occurrence of each kept, as ``hsparse``'s ``conect`` flag does) and the
    canonical coordinates of every element."""
    no_u = record.n_orbitals
    cols, keep_rows = [], []
    for ja, R, juo in rows:
        col = juo if record.gamma_only else siesta_image_index(R, nsc) * no_u + juo
        _, first = np.unique(col, return_index=True)
        first.sort()
        cols.append(col[first])
        keep_rows.append((ja[first], R[first], juo[first]))
    numh = np.array([c.size for c in cols], dtype=np.int64)
    atom_of, local_of, sign_of = _orbital_tables(record)
    row = np.repeat(np.arange(no_u), numh)
    juo = np.concatenate([k[2] for k in keep_rows])
    R = np.concatenate([k[1] for k in keep_rows])
    return SparsityPattern(
        nsc,
        numh,
        np.concatenate(cols),
        siesta_image_offsets(nsc),
        atom_of[row],
        atom_of[juo],
        local_of[row],
        local_of[juo],
        sign_of[row] * sign_of[juo],
        np.zeros_like(R) if record.gamma_only else R,
    )


def _orbital_tables(record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per SIESTA orbital (atoms in order, each in its species' SIESTA order): atom, canonical
    index within the atom, and the (-1)^m sign between the two conventions."""
    return orbital_table("siesta", [record.basis[label].ls for label in record.species])


# -- values ----------------------------------------------------------------------------------
def _hermitian_boxes(channels: np.ndarray) -> bool:
    """True when every stored spin box is hermitian (B_uu, B_dd real, B_du = conj B_ud): the
    non-collinear layout (4 components) holds it exactly."""
    return not (channels[0].imag.any() or channels[3].imag.any() or np.any(channels[1] != np.conj(channels[2])))


def spin_components(record: Record, operators: Sequence[str]) -> int:
    """SIESTA's nspin for the record's operators: 1, 2, or for spinors 4 (non-collinear) when
    every box of every operator is hermitian, else 8 (spin-orbit)."""
    if record.nspin != 4:
        return record.nspin
    spinors = [record.operators[op].values for op in operators if record.operators[op].spin == "spinor"]
    return 4 if all(_hermitian_boxes(v) for v in spinors) else 8


def operator_values(record: Record, operator: str, pattern: SparsityPattern, nspin: int) -> np.ndarray:
    """The elements of one operator at the pattern's places, in SIESTA's units, signs and
    components: (nspin, nnz) float64 (H in Ry); ``nspin`` as :func:`spin_components` gives it
    (spinors only). A block the record lacks gives zeros; stored
    non-zero elements outside the pattern are dropped with a warning (SIESTA drops them too)."""
    op = record.operators[operator]
    keys = np.column_stack([pattern.atom_i, pattern.atom_j, pattern.R])
    blocks, which = np.unique(keys, axis=0, return_inverse=True)
    which = which.reshape(-1)
    edge = np.array([-1 if (e := op.find(b[0], b[1], b[2:])) is None else e for b in blocks], dtype=np.int64)
    el_edge = edge[which]
    have = el_edge >= 0
    pos = op.offsets[el_edge[have]] + pattern.local_i[have] * op.shapes[el_edge[have], 1] + pattern.local_j[have]
    values = np.zeros((op.n_channels, pattern.col.size), dtype=op.values.dtype)
    values[:, have] = op.values[:, pos] * pattern.sign[have]
    _warn_dropped(operator, op, pos)
    if operator == "H":
        values = values / RY_TO_EV_CODATA2018
    return siesta_spin_components(values, nspin) if op.spin == "spinor" else values.real.astype(np.float64)


def _warn_dropped(operator: str, op: BlockMatrix, used: np.ndarray) -> None:
    mask = np.ones(op.values.shape[1], dtype=bool)
    mask[used] = False
    dropped = np.abs(op.values[:, mask]).max(initial=0.0)
    if dropped > 0:
        warnings.warn(
            f"{operator}: elements outside SIESTA's sparsity pattern (up to {dropped:.3g}) are not "
            "written; SIESTA has no place for them",
            SlemDFTWarning,
            stacklevel=3,
        )


# -- Fortran records -------------------------------------------------------------------------
def _record(*arrays) -> bytes:
    """One Fortran sequential unformatted record (gfortran framing) holding ``arrays``."""
    payload = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    marker = np.array([len(payload)], dtype="<i4").tobytes()
    return marker + payload + marker


def _rows(values: np.ndarray, numh: np.ndarray, dtype: str) -> bytes:
    """One record per row (SIESTA's per-row quantities), rows ``numh`` long."""
    values = np.asarray(values, dtype=dtype)
    ends = np.cumsum(numh)
    return b"".join(_record(values[e - n : e]) for n, e in zip(numh.tolist(), ends.tolist()))


def _pattern_records(pattern: SparsityPattern) -> bytes:
    return _record(pattern.numh.astype("<i4")) + _rows(pattern.col + 1, pattern.numh, "<i4")


def dm_bytes(pattern: SparsityPattern, values: np.ndarray) -> bytes:
    """A ``.DM`` file (section 7): (no_u, nspin, nsc), numh, columns, then every component
    row by row. ``values`` (nspin, nnz) as :func:`operator_values` gives them."""
    head = _record(np.array([pattern.no_u, values.shape[0], *pattern.nsc], dtype="<i4"))
    return head + _pattern_records(pattern) + b"".join(_rows(v, pattern.numh, "<f8") for v in values)


def hsx_bytes(
    record: Record, pattern: SparsityPattern, H: np.ndarray, S: np.ndarray, ions: Mapping[str, IonFile] | None
) -> bytes:
    """An HSX version 1 file (section 4.2, double precision). ``H`` (nspin, nnz) Ry and ``S``
    (1, nnz) as :func:`operator_values` gives them. Geometry in Bohr (SIESTA 5); Ef, qtot from the record
    (0 when unknown), temperature 0 (not kept by slem-dft); species valence charges and the
    (n, zeta) of the orbitals from the ``.ion.xml`` files (without them: charges 0, n = l + 1
    and zeta counted per l)."""
    ry, bohr = RY_TO_EV_CODATA2018, BOHR_TO_ANG_SIESTA5
    labels = list(dict.fromkeys(sb.label for sb in record.basis.species))
    isa = np.array([labels.index(s) + 1 for s in record.species], dtype="<i4")
    lasto = np.cumsum(record.orbital_counts).astype("<i4")
    na = len(record.atoms)
    reals = np.concatenate(
        [
            (record.atoms.cell.array / bohr).reshape(-1),
            [(record.fermi_energy or 0.0) / ry, record.n_electrons or 0.0, 0.0],
        ]
    )
    species = np.zeros(len(labels), dtype=SIESTA_HSX_SPECIES)
    triplets = []
    for s, label in enumerate(labels):
        sb = record.basis[label]
        ion = ions.get(label) if ions else None
        species[s] = (label.ljust(20).encode("ascii"), _valence(ion), sb.n_orb)
        # Without the ion file n and zeta are unknown: the lowest n of each l and the running
        # zeta (sisl's own defaults); the matrices do not depend on them.
        nz = [(o.n, o.zeta) for o in ion.orbitals] if ion else [(sh.l + 1, sh.zeta + 1) for sh in sb.shells]
        triplets.append(
            np.array([(n, sh.l, z) for sh, (n, z) in zip(sb.shells, nz) for _ in range(sh.n_orb)], dtype="<i4")
        )
    out = [
        _record(np.array([1], dtype="<i4")),
        _record(np.array([1], dtype="<i4")),  # is_dp = .true.
        _record(np.array([na, pattern.no_u, H.shape[0], len(labels), *pattern.nsc], dtype="<i4")),
        _record(reals.astype("<f8")),
        _record(pattern.isc_off.astype("<i4"), (record.atoms.positions / bohr).astype("<f8"), isa, lasto),
        _record(species),
        *(_record(t) for t in triplets),
        _pattern_records(pattern),
        *(_rows(h, pattern.numh, "<f8") for h in H),
        _rows(S[0], pattern.numh, "<f8"),
    ]
    return b"".join(out)


def _valence(ion: IonFile | None) -> float:
    return ion.valence if ion is not None else 0.0


# -- files -----------------------------------------------------------------------------------
def fdf_text(record: Record, label: str, nspin: int, operators: Sequence[str]) -> str:
    """The fdf lines for SIESTA to start from the written files: SystemLabel, spin, and the
    structure the R labels assume (lattice and Cartesian positions in Angstrom, atoms in the
    order of the matrices' rows)."""
    labels = list(dict.fromkeys(sb.label for sb in record.basis.species))
    lines = ["# fdf lines for SIESTA to start from these files (slem-dft export)", f"SystemLabel        {label}"]
    if "DM" in operators:
        lines.append("DM.UseSaveDM       true")
    lines.append(f"Spin               {_SPIN_FDF[nspin]}")
    if record.gamma_only:
        lines.append("# Gamma-point (folded) matrices, nsc 1 1 1: use them in a Gamma-only run (no k-grid)")
    lines += [
        f"NumberOfAtoms      {len(record.atoms)}",
        f"NumberOfSpecies    {len(labels)}",
        "%block ChemicalSpeciesLabel",
    ]
    lines += [f"  {s + 1} {atomic_numbers[record.basis[lab].element]} {lab}" for s, lab in enumerate(labels)]
    lines += ["%endblock ChemicalSpeciesLabel", "LatticeConstant    1.0 Ang", "%block LatticeVectors"]
    lines += ["  " + " ".join(f"{x:.15g}" for x in row) for row in record.atoms.cell.array]
    lines += ["%endblock LatticeVectors", "AtomicCoordinatesFormat  Ang", "%block AtomicCoordinatesAndAtomicSpecies"]
    lines += [
        "  " + " ".join(f"{x:.15g}" for x in pos) + f" {labels.index(s) + 1}"
        for pos, s in zip(record.atoms.positions, record.species)
    ]
    lines.append("%endblock AtomicCoordinatesAndAtomicSpecies")
    return "\n".join(lines) + "\n"


def _check(record: Record, operators: Sequence[str], ions: Mapping[str, IonFile] | None) -> None:
    """Refuse what SIESTA could not read back (before anything is written)."""
    missing = [op for op in operators if op not in record.operators]
    if missing:
        raise MissingInputError(record.source.path, f"the data holds no {', '.join(missing)} to export")
    if not operators:
        raise MissingInputError(record.source.path, "no operator to export")
    if ("H" in operators) != ("S" in operators):
        raise MissingInputError(record.source.path, "SIESTA's HSX holds H and S together: export both (or neither)")
    if "S" in operators and record.operators["S"].spin != "none":
        raise ConventionError(f"S with spin layout {record.operators['S'].spin!r}: SIESTA's overlap is spinless")
    want = {1: "none", 2: "collinear", 4: "spinor"}[record.nspin]
    for op in ("H", "DM"):
        if op in operators and record.operators[op].spin != want:
            raise ConventionError(
                f"{op} has spin layout {record.operators[op].spin!r}, but the record is nspin "
                f"{record.nspin} ({want!r}); SIESTA cannot represent the mixture"
            )
    if ions is not None:
        check_basis(record, ions)


def write_inputs(
    directory: str | os.PathLike,
    record: Record,
    operators: Sequence[str] = ("DM",),
    label: str | None = None,
    ions: Mapping[str, IonFile] | None = None,
) -> list[Path]:
    """Write ``<label>.DM`` (when DM is asked for), ``<label>.HSX`` (H and S) and
    ``<label>.slem-dft.fdf`` into ``directory``; returns the paths.

    Parameters
    ----------
    label
        SIESTA's SystemLabel (default :func:`default_system_label`).
    ions
        Species label -> its ``.ion.xml`` (:func:`slem_dft.basisfiles.ion.find_ion_files`):
        the basis is checked against it and the sparsity is SIESTA's own; without, the stored
        blocks set the sparsity (module docstring).

    Every file is built in memory first and written through a temporary file, so a refusal
    leaves nothing behind.
    """
    operators = tuple(dict.fromkeys(operators))
    _check(record, operators, ions)
    label = label or default_system_label(record)
    if not label or any(c in label for c in "/\\ \t\n"):
        raise ConventionError(f"{label!r} is not a usable SystemLabel (a file-name stem without blanks)")
    pattern = siesta_pattern(record, ions, operators)
    files: dict[str, bytes] = {}
    nspin = spin_components(record, operators)
    if "DM" in operators:
        files[f"{label}.DM"] = dm_bytes(pattern, operator_values(record, "DM", pattern, nspin))
    if "H" in operators:
        files[f"{label}.HSX"] = hsx_bytes(
            record,
            pattern,
            operator_values(record, "H", pattern, nspin),
            operator_values(record, "S", pattern, 1),
            ions,
        )
    files[f"{label}.slem-dft.fdf"] = fdf_text(record, label, nspin, operators).encode()
    return write_files(directory, files)


def export_files(folder: Path, record: Record, operators: Sequence[str], options: Mapping) -> list[Path]:
    """``slem-dft export --to siesta``: :func:`write_inputs` with the ``.ion.xml`` files named in
    ``options["orbitals"]`` (label -> file), else the run's own ``<label>.ion.xml`` where present,
    and ``options["system_label"]``."""
    named = options.get("orbitals")
    ions = {label: read_ion(path) for label, path in named.items()} if named else find_ion_files(record, required=False)
    return write_inputs(folder, record, operators, options.get("system_label"), ions)
