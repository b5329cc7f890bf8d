"""Writers of files the DFT codes read back (one module per code).

They take :class:`slem_dft.data.Record` objects in the canonical convention and convert to each
code's orbital order and units with :mod:`slem_dft.conventions`; :mod:`slem_dft.export` drives
them (``slem-dft export``). Available: :mod:`.abacus`.
"""
