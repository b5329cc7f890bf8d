"""``python -m slem_dft.cli``: the ``slem-dft`` command (used under ``torchrun``)."""

from . import main

main()
