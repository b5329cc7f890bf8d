"""Readers of DFT outputs: one subpackage or module per code, each returning
:class:`slem_dft.data.Record` objects in the canonical convention.

Parsers never write stores and never import torch.
"""
