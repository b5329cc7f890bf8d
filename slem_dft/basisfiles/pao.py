"""OpenMX PAO basis strings (``Fe6.0S-s2p2d1``: the species' radial functions per l), as the
input's ``Definition.of.Atomic.Species`` block names them (formats-openmx.md section 3). Read by
the OpenMX reader and by ``slem-dft export --to openmx --orbital LABEL=PAO``.
"""

from __future__ import annotations

import re

import ase.data

from ..data import SpeciesBasis
from ..errors import FileFormatError

__all__ = ["species_basis"]

_L_LETTERS = "spdfg"
_SHELLS = re.compile(r"([spdfg])(\d+)")


def species_basis(label: str, pao: str, path: str) -> SpeciesBasis:
    """A species' shells from its PAO string, e.g. ``Fe6.0S-s2p2d1``: element Fe, 2 s, 2 p and
    1 d radial functions, ordered l = 0..lmax then zeta (formats-openmx.md section 3)."""
    name, dash, spec = pao.rpartition("-")
    counts: dict[int, int] = {}
    pos = 0
    for m in _SHELLS.finditer(spec):
        if m.start() != pos:
            break
        counts[_L_LETTERS.index(m.group(1))] = int(m.group(2))
        pos = m.end()
    if not dash or pos != len(spec) or not counts:
        raise FileFormatError(
            path, f"species {label}: cannot read the basis string {pao!r} (expected e.g. Si7.0-s2p2d1)"
        )
    zetas = [counts.get(l, 0) for l in range(max(counts) + 1)]
    return SpeciesBasis.from_zeta_counts(label, _element(label, name, path), zetas)


def _element(label: str, pao_name: str, path: str) -> str:
    """Chemical symbol from the PAO file name (``Fe6.0S``), else from the species label."""
    for text in (pao_name, label):
        m = re.match(r"[A-Z][a-z]?", text)
        if m and m.group(0) in ase.data.atomic_numbers:
            return m.group(0)
    raise FileFormatError(path, f"species {label}: no chemical symbol in {pao_name!r} or the label")
