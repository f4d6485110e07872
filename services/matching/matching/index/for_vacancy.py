"""The query one way: the best candidates for a vacancy. The first cut (the cells in
reach, ``areas.CellIndex``), the filters, then one compiled pass
(``kernels.score_candidates``) over the rows left, the best picked, and only those served
read back and written (``explain``). ``PreparedVacancy``: what a vacancy's queries share."""

from __future__ import annotations

import numpy as np

from matching import kernels, scoring
from matching.index import explain
from matching.index.codes import GROUP_BITS, GROUPS_OF
from matching.index.ranked import best, component_rows
from matching.index.store import RULES, WEIGHTS, Store
from matching.scoring import NEAR_HOURS, TOP_FOR_FAIRNESS, Ranking, VacancyFacts

# per kernels' why bits, the constraints failed (scoring.CONSTRAINTS' names)
FAILED = tuple(frozenset(name for name, bit in kernels.WHY_BITS.items() if bits & bit) for bits in range(64))


class PreparedVacancy:
    """What a query needs of a vacancy as arrays, built once per vacancy version (and
    again when the modules change: they decide which must-haves are strict)."""

    def __init__(self, store: Store, vf: VacancyFacts):
        self.vf = vf
        skills, modules = store.skills, store.modules
        self.modules_version = modules.version
        n_must, n_nice = len(vf.must), len(vf.nice)
        self.record = store.vacancy_record(vf)
        self.asked = kernels.Asked(
            skills=np.array([skills.code(s) for s, _ in (*vf.must, *vf.nice)], np.int64),
            must=np.array([w for _, w in vf.must] + [0.0] * n_nice, np.float64),
            nice=np.array([0.0] * n_must + [w for _, w in vf.nice], np.float64),
            strict=np.array([not modules.closable(s) for s, _ in vf.must] + [False] * n_nice, np.uint8),
            concepts=np.fromiter(vf.target, np.int64, len(vf.target)),  # ascending, as vacancy_facts has them
            concept_weights=np.fromiter(vf.target.values(), np.float64, len(vf.target)),
        )
        # what its results share (labels, gap entries), and the reach of skills as results meet them
        self.explainer = scoring.Explainer(vf, store.knowledge, modules, skill_key=skills.code).prepare()
        # the skill of each gaps entry and the occupation, for kernels.explain_rows
        self.gap_codes = np.array([code for code, _ in self.explainer.gaps], np.int64)
        self.occupation = -1 if vf.occupation is None else store.occupations.code(vf.occupation)
        reach = sorted((skills.code(s), sorted(self.explainer.reach(s))) for s in vf.target_skills)
        self.reaches = kernels.Reaches(
            skills=np.array([code for code, _ in reach], np.int64),
            starts=np.cumsum([0] + [len(concepts) for _, concepts in reach], dtype=np.int64),
            concepts=np.array([c for _, concepts in reach for c in concepts], np.int64))
        store.similarities_to(vf.occupation)  # warm the row wishes read


def candidates_for(store: Store, prep: PreparedVacancy, limit: int, filters: dict, near_misses: int) -> Ranking:
    """The best ``limit`` candidates in the pool for a vacancy, its best ``near_misses``
    near-misses and the fairness counts."""
    vf, t = prep.vf, store.candidates
    c = t.columns
    # the rows of the areas as far as the farthest reaching band could come from, from
    # each area's first reach band within which the vacancy is in near-miss reach
    rows, km = t.cells.select(store.areas, store.areas.of(vf.pc4), store.band_reach, (*vf.hours, NEAR_HOURS),
                              *(c[name][:t.n] for name in ("cell", "active", "hours_min", "hours_max")))
    rows, km = _filtered(store, rows, km, filters)
    k = max(limit, TOP_FOR_FAIRNESS)
    scored, eligible = kernels.score_candidates(
        rows, km, prep.record, prep.asked, store.similarities_to(vf.occupation), t.records, store.candidate_lists(),
        store.scratch(), RULES, WEIGHTS, k, near_misses)
    top, near_top = best(scored.totals, (scored.top, scored.near_top), (k, near_misses), t.ids, scored.rows)
    return _ranking(store, prep, scored, eligible, top, near_top, limit)


def _filtered(store: Store, rows: np.ndarray, km: np.ndarray, filters: dict):
    """The rows (and their km) the filters let through."""
    if not filters:
        return rows, km
    c = store.candidates.columns
    keep = np.ones(len(rows), np.bool_)
    if "region" in filters:
        keep &= np.isin(c["region"][rows], store.regions.codes(filters["region"]))
    if "cohort" in filters:
        keep &= np.isin(c["cohort"][rows], store.cohorts.codes(filters["cohort"]))
    if "target_group" in filters:
        wanted = filters["target_group"]
        wanted = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else (wanted,)
        bits = sum(GROUP_BITS.get(g, 0) for g in set(wanted))
        keep &= (c["groups"][rows] & bits) != 0
    if "banenafspraak" in filters:
        keep &= c["banenafspraak"][rows] == bool(filters["banenafspraak"])
    return rows[keep], km[keep]


def _ranking(store: Store, prep: PreparedVacancy, scored: kernels.Scored, eligible: np.ndarray, top: list[int],
             near_top: list[int], limit: int) -> Ranking:
    vf, t = prep.vf, store.candidates
    rows = scored.rows
    top_groups = t.columns["groups"][rows[top[:TOP_FOR_FAIRNESS]]].tolist()
    top_by_group = dict.fromkeys(GROUP_BITS, 0)
    for groups in top_groups:
        for group in GROUPS_OF[groups]:
            top_by_group[group] += 1
    fair = {
        "eligible": int(eligible[0]),
        "eligible_by_group": dict(zip(GROUP_BITS, eligible[1:1 + len(GROUP_BITS)].tolist(), strict=True)),
        "top": len(top_groups),
        "top_by_group": top_by_group,
    }
    served = top[:limit] + near_top
    chosen = len(served) - len(near_top)
    totals, distances = scored.totals[served].tolist(), scored.km[served].tolist()
    # what results show of the chosen; near-misses in full, for their why-not
    served_rows = rows[served]
    facts = explain.served_of(store, served_rows)
    failed = [FAILED[bits] for bits in scored.why[near_top].tolist()]
    near_facts = explain.facts_of(store, served_rows[chosen:], facts[chosen:], checks=failed)
    failures = [()] * chosen + [scoring.failures(cf, vf, d, store.modules, constraints) for cf, d, constraints in
                                zip(near_facts, distances[chosen:], failed, strict=True)]
    values = component_rows(scored.values[served])
    transfers, masks, wants = explain.explained(store, prep, served_rows)
    numbers = explain.result_numbers(values, scored.totals[served], scored.km[served])
    out = prep.explainer.results([t.ids[row] for row in served_rows.tolist()], facts, totals, values, distances,
                                 failures, transfers, numbers, coded=(masks, wants))
    return Ranking(results=out[:chosen], near_misses=out[chosen:], fairness=fair,
                   scores=totals[:chosen], near_miss_scores=totals[chosen:])
