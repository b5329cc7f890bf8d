"""OpenMX reader: .scfout (versions 0-3, either byte order, plain or compressed) and the
.out / .Band text companions. See formats-openmx.md and docs/openmx.md."""
