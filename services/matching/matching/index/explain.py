"""What results served are written from: stored rows read back into the facts scoring
explains (``facts_of``, ``served``), the transfers and held masks the compiled
``kernels.explain_rows`` works out for them (``explained``), and the numbers they show
(``result_numbers``). Only the few rows a query serves come through here."""

from __future__ import annotations

from datetime import date

import numpy as np

from matching import kernels, scoring
from matching.index.codes import CHECKS_OF, GROUPS_OF, MODES_OF, NEEDS_OF, NO_LIMIT
from matching.index.store import WEIGHTS, Store
from matching.scoring import CandidateFacts

MASK_GAPS = 63  # gaps entries a compiled held mask holds (an int64's bits)
NO_CODES = np.zeros(0, np.int64)
WEIGHT_VALUES = WEIGHTS.view(np.float64)  # in scoring.COMPONENTS order, as the components records
# what a result read back from a row needs (see served), and whole facts besides (facts_of)
SERVED_COLUMNS = ("modes", "to_check")
FACT_COLUMNS = ("area", "region", "groups", "cohort", "banenafspraak", "hours_min", "hours_max", "reach", "minutes",
                "km", "needs", "level", "available_from", "held_start", "held_len", "concepts_start", "concepts_len",
                "wanted_start", "wanted_len")


def facts_of(store: Store, rows: np.ndarray, served: list[scoring.Served] | None = None,
             checks: list[frozenset[str]] | None = None) -> list[CandidateFacts]:
    """Stored rows back into the facts scoring explains (only for results served);
    ``served``: what ``served`` read of them already; ``checks``: of each, only the
    constraints it is checked on are asked (its skills, concepts and wanted occupations
    are left empty unless skills are checked)."""
    t = store.candidates
    regions, cohorts, pc4s = store.regions.values, store.cohorts.values, store.areas.pc4
    skills, (held_skills, held_levels) = store.skills.values, t.raggeds["held"].data
    concepts, wanted = t.raggeds["concepts"].data[0], t.raggeds["wanted"].data[0]
    occupations = store.occupations.values
    out = []
    for i, (row, shown, area, region, groups, cohort, banenafspraak, hours_min, hours_max, reach, minutes, km,
            needs, level, available, held_start, held_len, concepts_at, concepts_n, wanted_at, wanted_n) in \
            enumerate(zip(rows.tolist(), served_of(store, rows) if served is None else served,
                          *t.read(rows, FACT_COLUMNS), strict=True)):
        odd = store.odd_candidates.get(row)
        if checks is not None and "skills" not in checks[i]:
            held_len = concepts_n = wanted_n = 0
        at = slice(held_start, held_start + held_len)
        out.append(CandidateFacts(
            id=t.ids[row],
            pc4=odd[0] if odd else pc4s[area],
            region=regions[region],
            target_groups=GROUPS_OF[groups],
            cohort=None if cohort < 0 else cohorts[cohort],
            banenafspraak=banenafspraak,
            hours=(hours_min, hours_max),
            reach_km=reach,
            travel_minutes=None if minutes == NO_LIMIT else float(minutes),
            distance_km_limit=None if km == NO_LIMIT else float(km),
            modes=shown.modes,
            needs=NEEDS_OF[needs],
            to_check=shown.to_check,
            level=None if level == kernels.LEVEL_UNKNOWN else level,
            available_from=date.fromordinal(available) if available else None,
            held=dict(zip(map(skills.__getitem__, held_skills[at].tolist()), held_levels[at].tolist(), strict=True)),
            concepts=tuple(concepts[concepts_at:concepts_at + concepts_n].tolist()),
            wanted=tuple(map(occupations.__getitem__, wanted[wanted_at:wanted_at + wanted_n].tolist())),
        ))
    return out


def served_of(store: Store, rows: np.ndarray) -> list[scoring.Served]:
    """Of stored rows, what their results read of them besides what ``explained``
    works out: travel modes and conditions to check."""
    odd_rows = store.odd_candidates
    out = []
    for row, modes, checks in zip(rows.tolist(), *store.candidates.read(rows, SERVED_COLUMNS), strict=True):
        to_check = CHECKS_OF[checks]
        odd = odd_rows.get(row)
        out.append(scoring.Served(
            held=(), concepts=(), modes=MODES_OF[modes], wanted=(),
            to_check=tuple(sorted((*to_check, *odd[1]))) if odd and odd[1] else to_check,
        ))
    return out


def explained(store: Store, prep, rows: np.ndarray) -> tuple[list[scoring.Transfer], list[int], list[bool]]:
    """Each row's transfer to the vacancy ``prep`` (a PreparedVacancy: ``Explainer.transfer``,
    naming only the three other concepts an explanation names), ``Explainer.held_mask`` and
    whether it wants the vacancy's occupation: ``Explainer.results``' ``transfers`` and
    ``coded``, compiled."""
    vf = prep.vf
    coded_gaps = len(prep.gap_codes) <= MASK_GAPS
    exact, covered, fit, named, masks, wants = kernels.explain_rows(
        rows, store.candidates.records, store.candidate_lists(), prep.asked, prep.reaches, vf.target_norm or 1.0,
        prep.gap_codes if coded_gaps else NO_CODES, prep.occupation, store.scratch())
    masks = masks.tolist()
    if not coded_gaps:  # more than a mask holds: by sets
        held = store.candidates.raggeds["held"]
        masks = [prep.explainer.held_mask(frozenset(held.values_of(row).tolist())) for row in rows.tolist()]
    groups, skills = len(vf.target), len(vf.target_skills)
    transfers = [scoring.Transfer(f, tuple(c for c in three if c >= 0), groups, c, e, skills)
                 for e, c, f, three in zip(exact.tolist(), covered.tolist(), fit.tolist(), named.tolist(),
                                           strict=True)]
    return transfers, masks, wants.tolist()


def result_numbers(values: np.ndarray, totals: np.ndarray, distances: np.ndarray) -> list[list[float]]:
    """``scoring.result_numbers``, compiled (a dozen numpy calls on a dozen rows cost more
    than their numbers); what lies too near a tie is rounded by ``round()`` as there."""
    raw, numbers, unsure, ok = kernels.result_numbers(values, WEIGHT_VALUES, totals, distances,
                                                      scoring.RESULT_SCALES)
    if not ok:  # large, or NaN: as scoring does it
        return scoring.result_numbers(values, totals.tolist(), distances.tolist())
    out = numbers.tolist()
    for i, j in zip(*np.nonzero(unsure), strict=True):
        out[i][j] = round(float(raw[i, j]), scoring.RESULT_DIGITS[j])
    return out
