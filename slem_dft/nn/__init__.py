"""The SLEM model (slem-model.md): e3nn basis, block <-> irreps transform, graph, SO(2)
convolution, building blocks and the network. Importing this package imports torch."""
