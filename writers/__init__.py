"""Writers of files the DFT codes read back (one module per code).

They take :class:`slem_dft.data.Record` objects in the canonical convention and convert to each
code's orbital order and units with :mod:`slem_dft.conventions`. The writers arrive with the
export work; this package fixes their place in the layout.
"""
