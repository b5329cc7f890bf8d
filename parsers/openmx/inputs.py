"""The OpenMX input file (``.dat``, echoed at the end of the scfout and at the top of the
``.out``): keywords and ``<Block ... Block>`` sections (the PAO basis strings:
:mod:`slem_dft.basisfiles.pao`).

Keywords are matched case-insensitively (OpenMX's ``Inputtools`` does the same); ``#`` starts
a comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from slem_dft.errors import FileFormatError

__all__ = ["SPIN_ORBIT_KEYWORDS", "OpenmxInput", "parse_input"]

#: Options under which OpenMX adds the imaginary iHks parts to the non-collinear H
#: (Hamiltonian_Band_NC.c): spin-orbit coupling, LDA+U, the NC spin constraint, Zeeman terms.
SPIN_ORBIT_KEYWORDS = (
    "scf.spinorbit.coupling",
    "scf.hubbard.u",
    "scf.constraint.nc.spin",
    "scf.nc.zeeman.spin",
    "scf.nc.zeeman.orbital",
)


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
