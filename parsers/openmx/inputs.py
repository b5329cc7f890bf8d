"""The OpenMX input file (``.dat``, echoed at the end of the scfout and at the top of the
``.out``): keywords, ``<Block ... Block>`` sections and the PAO basis strings.

Keywords are matched case-insensitively (OpenMX's ``Inputtools`` does the same); ``#`` starts
a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ase.data

from slem_dft.data import SpeciesBasis
from slem_dft.errors import FileFormatError

__all__ = ["SPIN_ORBIT_KEYWORDS", "OpenmxInput", "parse_input", "species_basis"]

#: Options under which OpenMX adds the imaginary iHks parts to the non-collinear H
#: (Hamiltonian_Band_NC.c): spin-orbit coupling, LDA+U, the NC spin constraint, Zeeman terms.
SPIN_ORBIT_KEYWORDS = (
    "scf.spinorbit.coupling",
    "scf.hubbard.u",
    "scf.constraint.nc.spin",
    "scf.nc.zeeman.spin",
    "scf.nc.zeeman.orbital",
)

_L_LETTERS = "spdfg"
_SHELLS = re.compile(r"([spdfg])(\d+)")


@dataclass(frozen=True)
class OpenmxInput:
    """Keywords (lower-case name -> value text) and blocks (lower-case name -> lines)."""

    path: str
    keywords: dict[str, str]
    blocks: dict[str, list[str]]

    def flag(self, name: str) -> bool:
        """True when a keyword is set to ``on`` (any case)."""
        return self.keywords.get(name.lower(), "off").split()[:1] == ["on"]

    def block(self, name: str) -> list[str]:
        try:
            return self.blocks[name.lower()]
        except KeyError:
            raise FileFormatError(self.path, f"the input has no <{name} block") from None

    @property
    def system_name(self) -> str | None:
        value = self.keywords.get("system.name", "").split()
        return value[0] if value else None

    def species_definitions(self) -> dict[str, str]:
        """Species label -> PAO basis string, in the order of ``<Definition.of.Atomic.Species``."""
        out = {}
        for line in self.block("Definition.of.Atomic.Species"):
            parts = line.split()
            if len(parts) < 2:
                raise FileFormatError(self.path, f"bad species definition {line!r}", "<Definition.of.Atomic.Species")
            out[parts[0]] = parts[1]
        return out

    def atom_species(self) -> list[str]:
        """Species label of every atom, in the order of ``<Atoms.SpeciesAndCoordinates``."""
        labels = []
        for line in self.block("Atoms.SpeciesAndCoordinates"):
            parts = line.split()
            if len(parts) < 5:
                raise FileFormatError(self.path, f"bad atom line {line!r}", "<Atoms.SpeciesAndCoordinates")
            labels.append(parts[1])
        return labels


def parse_input(text: str, path: str) -> OpenmxInput:
    """Parse the text of an OpenMX input file (``path`` names where it came from)."""
    keywords: dict[str, str] = {}
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if current is not None:
            if line.lower().rstrip(">") == current and line.endswith(">"):
                current = None
            else:
                blocks[current].append(line)
            continue
        if line.startswith("<"):
            current = line[1:].split()[0].lower()
            blocks[current] = []
            continue
        name, _, value = line.partition(" ")
        keywords[name.lower()] = value.strip()
    if current is not None:
        raise FileFormatError(path, f"input block <{current} is not closed")
    return OpenmxInput(path, keywords, blocks)


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
        raise FileFormatError(path, f"species {label}: cannot read the basis string {pao!r} (expected e.g. Si7.0-s2p2d1)")
    zetas = [counts.get(l, 0) for l in range(max(counts) + 1)]
    return SpeciesBasis.from_zeta_counts(label, _element(label, name, path), zetas)


def _element(label: str, pao_name: str, path: str) -> str:
    """Chemical symbol from the PAO file name (``Fe6.0S``), else from the species label."""
    for text in (pao_name, label):
        m = re.match(r"[A-Z][a-z]?", text)
        if m and m.group(0) in ase.data.atomic_numbers:
            return m.group(0)
    raise FileFormatError(path, f"species {label}: no chemical symbol in {pao_name!r} or the label")
