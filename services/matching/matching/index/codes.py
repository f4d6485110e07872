"""How a row stores what it names: conditions needed and offered, target groups, travel
modes and conditions to check as bits of a byte (and back to names), and strings (skills,
occupations, regions ...) as small ints (``Codes``)."""

from __future__ import annotations

from matching.profiles import CONDITION_OFFERS, LIFTING_RELIEF, TARGET_GROUPS, UNCHECKED_CONDITIONS
from matching.scoring import SPEED_KMH, VacancyFacts

NEED_BITS = {need: 1 << i for i, need in enumerate((*CONDITION_OFFERS, "no_heavy_lifting"))}
OFFER_BITS = {offer: NEED_BITS[need] for need, offer in CONDITION_OFFERS.items()}
LIGHT_WORK = NEED_BITS["no_heavy_lifting"]  # offered when no must-have needs heavy lifting, or it is relieved
CHECK_BITS = {c: 1 << i for i, c in enumerate(UNCHECKED_CONDITIONS)}
GROUP_BITS = {g: 1 << i for i, g in enumerate(TARGET_GROUPS)}
MODE_BITS = {m: 1 << i for i, m in enumerate(SPEED_KMH)}
MODES_OF = tuple(tuple(m for m, bit in MODE_BITS.items() if bits & bit) for bits in range(256))
CHECKS_OF = tuple(tuple(sorted(c for c, bit in CHECK_BITS.items() if bits & bit)) for bits in range(256))
GROUPS_OF = tuple(tuple(g for g, bit in GROUP_BITS.items() if bits & bit) for bits in range(256))
NEEDS_OF = tuple(tuple(n for n, bit in NEED_BITS.items() if bits & bit) for bits in range(256))
# and back: a tuple of names (in their bits' order) to its bits
NEED_CODE = {names: bits for bits, names in enumerate(NEEDS_OF[:1 << len(NEED_BITS)])}
GROUP_CODE = {names: bits for bits, names in enumerate(GROUPS_OF[:1 << len(GROUP_BITS)])}
MODE_CODE = {names: bits for bits, names in enumerate(MODES_OF[:1 << len(MODE_BITS)])}
NO_LIMIT = -1  # no travel minutes or km stated


def offer_bits(vf: VacancyFacts) -> int:
    """What a vacancy offers, as the bits of the needs it meets (scoring.check_conditions)."""
    bits = sum(OFFER_BITS[o] for o in vf.offers if o in OFFER_BITS)
    if not vf.heavy_lifting or vf.offers.intersection(LIFTING_RELIEF):
        bits |= LIGHT_WORK
    return bits


class Codes:
    """Strings as small ints, in the order first seen."""

    def __init__(self, known=()):
        self.index: dict[str, int] = {}
        self.values: list[str] = []
        for value in known:
            self.code(value)

    def code(self, value: str) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found

    def codes(self, wanted) -> list[int]:
        """The codes of the known ones of ``wanted`` (one or a collection)."""
        items = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else (wanted,)
        return [self.index[w] for w in items if w in self.index]
