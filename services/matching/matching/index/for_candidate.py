"""The query the other way: the best open vacancies for a candidate. The vacancies the
candidate may be offered (open, not past their date, seen by the viewer, the filters),
then one compiled pass (``kernels.score_vacancies``, the same rules as the candidates
pass) and the best written as results."""

from __future__ import annotations

from datetime import date

import numpy as np

from matching import kernels, scoring
from matching.index import explain
from matching.index.ranked import best, component_rows
from matching.index.store import RULES, WEIGHTS, Store
from matching.scoring import Ranking, VacancyFacts


def vacancies_for(store: Store, row: int, facts: dict[str, VacancyFacts], limit: int, filters: dict,
                  near_misses: int, today: date, seen: np.ndarray | None) -> Ranking:
    """For the candidate in ``row``: the best ``limit`` vacancies and ``near_misses``
    near-misses. ``facts``: each indexed vacancy's; ``seen``: per vacancy row, whether the
    viewer may see it (None: all)."""
    t, v = store.vacancies, store.vacancies.columns
    m = t.n
    ok = v["alive"][:m] & v["open"][:m] & (v["valid_through"][:m] >= today.toordinal())
    if seen is not None:  # never offered, not even as a near-miss
        ok &= seen
    if "region" in filters:
        ok &= np.isin(v["region"][:m], store.regions.codes(filters["region"]))
    if "visibility" in filters:
        ok &= np.isin(v["visibility"][:m], store.visibilities.codes(filters["visibility"]))
    if "is_leerwerkbaan" in filters:
        ok &= v["leerwerkbaan"][:m] == bool(filters["is_leerwerkbaan"])
    if "banenafspraak_suitable" in filters:
        ok &= v["banenafspraak"][:m] == bool(filters["banenafspraak_suitable"])
    rows = np.flatnonzero(ok)
    candidates = store.candidates
    km = store.areas.distances_from(int(candidates.columns["area"][row]))[v["area"][rows]]
    scored = kernels.score_vacancies(
        rows, km, candidates.records[row:row + 1], store.candidate_lists(), _wanted_rows(store, row), t.records,
        store.vacancy_lists(), store.closable(), store.scratch(), RULES, WEIGHTS, limit, near_misses)
    top, near_top = best(scored.totals, (scored.top, scored.near_top), (limit, near_misses), t.ids, scored.rows)
    cf = explain.facts_of(store, np.array([row]))[0]
    values = component_rows(scored.values)

    def result(i: int, failures=False) -> dict:
        vf = facts[t.ids[scored.rows[i]]]
        distance = float(scored.km[i])
        return scoring.Explainer(vf, store.knowledge, store.modules).result(
            vf.id, cf, float(scored.totals[i]), dict(zip(scoring.COMPONENTS, values[i].tolist(), strict=True)),
            distance, scoring.failures(cf, vf, distance, store.modules) if failures else ())

    return Ranking(
        results=[result(i) for i in top],
        near_misses=[result(i, failures=True) for i in near_top],
        fairness=None,
        scores=[float(scored.totals[i]) for i in top],
        near_miss_scores=[float(scored.totals[i]) for i in near_top],
    )


def _wanted_rows(store: Store, row: int) -> np.ndarray:
    """Per occupation the candidate wants, its similarity to each ESCO occupation (by
    code; zeros for one ESCO does not know)."""
    knowledge = store.knowledge
    wanted = [store.occupations.values[code] for code in store.candidates.raggeds["wanted"].values_of(row).tolist()]
    out = np.zeros((len(wanted), len(knowledge.occupations)))
    for j, occupation in enumerate(wanted):
        if occupation in knowledge.occupation_index:
            out[j] = knowledge.similarities_to(occupation)
    return out
