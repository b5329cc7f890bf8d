"""The readers, store and checks stay free of the model stack: importing them loads no torch."""

import subprocess
import sys


def test_core_imports_do_not_load_torch():
    code = (
        "import sys; import slem_dft.parsers.abacus, slem_dft.store, slem_dft.checks, slem_dft.cli, "
        "slem_dft.convert, slem_dft.writers; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
