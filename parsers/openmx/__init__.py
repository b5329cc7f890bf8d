"""OpenMX reader: .scfout (versions 0-3, either byte order, plain or compressed) and the
.out / .Band text companions. See formats-openmx.md and docs/openmx.md."""

from .inputs import OpenmxInput, parse_input
from .outputs import BandFile, OutFile, read_band, read_out
from .run import detect, find_scfout, read_run, read_run_references
from .scfout import Scfout, read_scfout

__all__ = [
    "BandFile",
    "OpenmxInput",
    "OutFile",
    "Scfout",
    "detect",
    "find_scfout",
    "parse_input",
    "read_band",
    "read_out",
    "read_run",
    "read_run_references",
    "read_scfout",
]
