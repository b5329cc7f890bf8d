"""Basis files that both directions need, in no DFT code's reader or writer: the readers take a
run's basis and radial functions from them, the writers check the basis of the files they
write against them, and ``predict --basis-file`` gets exact overlaps from them.

* :mod:`.ion` -- SIESTA ``<label>.ion.xml`` (radial functions, orbital and KB cutoffs);
* :mod:`.orb` -- ABACUS ``.orb`` (declared basis, radial functions);
* :mod:`.pao` -- OpenMX PAO basis strings (``Fe6.0S-s2p2d1``).

Which suffix is read by which module is a column of the format table
(:data:`slem_dft.registry.FORMATS`).
"""
