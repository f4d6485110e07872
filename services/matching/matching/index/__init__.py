"""The in-memory matching index: candidates and vacancies as numpy columns, ranked both ways.

Every candidate is a row of fixed-width columns (PC4 area, reach, hours, needs, level,
the filters) and three variable-length lists kept in flat arrays: held skills with
their level, the skill-tree concepts those skills reach, wanted occupations; every
vacancy likewise, with its must-haves, nice-to-haves and occupation-fit target. A
query for a vacancy takes the candidates whose (area, reach band) cell could reach it
and whose hours are near enough, then checks the constraints and scores the eligible
and the near-misses in one compiled pass; a query for a candidate does the same over
the open vacancies. Both passes call the same compiled rules (``matching.kernels``),
which ``matching.scoring`` states in plain Python and the tests hold them to. Rows lie
in memory by cell, areas along a Hilbert curve, so a pass reads a few long stretches:
its cost is waiting for memory. Only the results served are read back and written by
``scoring.Explainer``, the code the brute-force reference writes with, so texts cannot
drift apart.

Updates are incremental: a changed profile rewrites its row (a longer list moves to the
end of its flat arrays, compacted once they are half garbage), columns grow by doubling,
removed rows are reused. Only the anonymous matching profile is held; nothing is
persisted: ``load`` rebuilds from matching's own tables.

The modules, by concern:

- ``codes``: how a row stores names (bits, small ints);
- ``areas``: PC4 areas, distances, and rows filed by cell (a query's first cut);
- ``ragged``: variable-length lists in flat arrays;
- ``table``: the packed tables and their columns;
- ``store``: what the index holds, and how a profile becomes a row;
- ``for_vacancy`` and ``for_candidate``: the two queries, ``ranked``: the best of a pass;
- ``explain``: what the results served are written from;
- ``matching_index``: ``MatchingIndex``, the index as the service uses it.
"""

from matching.index.codes import GROUP_BITS, NEED_BITS, offer_bits
from matching.index.explain import MASK_GAPS
from matching.index.matching_index import MatchingIndex, compile_queries

__all__ = ["GROUP_BITS", "MASK_GAPS", "NEED_BITS", "MatchingIndex", "compile_queries", "offer_bits"]
