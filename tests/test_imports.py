"""The core and IO stay free of the model stack: importing any module of slem_dft, its parsers
and its writers loads no torch, except the modules of the model stack listed here."""

import json
import subprocess
import sys

#: The model stack (these import torch): the network, training, prediction, and what serves only
#: them (DDP, MPI inference over chunk graphs, the training domain kept in checkpoints).
TORCH_STACK = (
    "slem_dft.nn",
    "slem_dft.train",
    "slem_dft.predict",
    "slem_dft.ddp_training",
    "slem_dft.mpi_inference",
    "slem_dft.chunks",
    "slem_dft.domain",
)
#: Modules that run something when imported.
SCRIPTS = ("slem_dft.cli.__main__",)

_WALK = """
import importlib, json, pkgutil, sys
stack, scripts = json.loads(sys.argv[1])
names = []
for root in ("slem_dft", "slem_dft.parsers", "slem_dft.writers"):
    package = importlib.import_module(root)
    names.append(root)
    names += [m.name for m in pkgutil.walk_packages(package.__path__, root + ".")]
checked = []
for name in sorted(set(names)):
    if name in scripts or any(name == s or name.startswith(s + ".") or name.startswith(s + "_") for s in stack):
        continue
    importlib.import_module(name)
    if "torch" in sys.modules:
        sys.exit(f"importing {name} loaded torch")
    checked.append(name)
print(json.dumps(checked))
"""


def test_no_core_or_io_module_loads_torch():
    run = subprocess.run(
        [sys.executable, "-c", _WALK, json.dumps([TORCH_STACK, SCRIPTS])], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    checked = json.loads(run.stdout)
    # the walk reaches every layer: core, basis files, the CLI, the bands package, readers, writers
    for name in (
        "slem_dft.store",
        "slem_dft.registry",
        "slem_dft.export",
        "slem_dft.basisfiles.ion",
        "slem_dft.cli",
        "slem_dft.cli.model",
        "slem_dft.bands.solver",
        "slem_dft.spectrum",
        "slem_dft.parsers.siesta.run",
        "slem_dft.parsers.abacus",
        "slem_dft.writers.siesta",
    ):
        assert name in checked, name
