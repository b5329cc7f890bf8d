"""SIESTA reader: HSX (v0, v1, v2), TSHS, DM, and the text companions (EIG, KP, bands,
ORB_INDX, STRUCT_OUT, XV, ion.xml, fdf). See formats-siesta.md and docs/siesta.md."""
