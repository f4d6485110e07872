"""``MatchingIndex``, what the service holds: candidates and vacancies kept current one
event at a time (or built at once by ``load``), who may see which vacancy, and the two
queries (``for_vacancy``, ``for_candidate``), one at a time under one lock."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date

import numpy as np

from matching import esco, scoring
from matching.index import explain
from matching.index.for_candidate import vacancies_for
from matching.index.for_vacancy import PreparedVacancy, candidates_for
from matching.index.store import Store
from matching.modules import CATALOGUE, ModuleCatalogue
from matching.profiles import CandidateProfile, VacancyProfile
from matching.scoring import Ranking, VacancyFacts
from werkbrug_shared import clock, visibility
from werkbrug_shared.visibility import Viewer


class MatchingIndex:
    """Candidates and vacancies, ranked both ways. Thread-safe (one lock)."""

    def __init__(self, knowledge: esco.SkillKnowledge | None = None, modules: ModuleCatalogue | None = None):
        self.knowledge = knowledge or esco.knowledge()
        self.modules = modules or CATALOGUE
        self.store = Store(self.knowledge, self.modules)
        self._lock = threading.RLock()
        self._vacancy_facts: dict[str, VacancyFacts] = {}
        self._prep: dict[str, PreparedVacancy] = {}  # each indexed vacancy's, kept until it changes
        self._stewarded: dict[str, set[str]] = {}  # organisation -> the vacancies it stewards
        self._stewarded_rows: dict[str, np.ndarray] = {}  # the same as rows, made when first asked

    # --- sizes ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.store.candidates.row_of)

    def counts(self) -> dict:
        with self._lock:
            c, v = self.store.candidates, self.store.vacancies
            return {
                "candidates": len(c.row_of),
                "in_pool": int(np.count_nonzero(c.columns["alive"][:c.n] & c.columns["in_pool"][:c.n])),
                "vacancies": len(v.row_of),
                "open_vacancies": int(np.count_nonzero(v.columns["alive"][:v.n] & v.columns["open"][:v.n])),
            }

    def memory_bytes(self) -> int:
        """What the index holds: its arrays (capacity included), id bookkeeping, the
        vacancies' facts (roughly), scratch tables and the ESCO knowledge it reads."""
        with self._lock:
            return self.store.nbytes() + 3000 * len(self._vacancy_facts) + self.knowledge.memory_bytes()

    def __contains__(self, candidate_id: str) -> bool:
        return candidate_id in self.store.candidates.row_of

    def has_vacancy(self, vacancy_id: str) -> bool:
        return vacancy_id in self.store.vacancies.row_of

    # --- candidates ----------------------------------------------------------------

    def upsert_candidate(self, profile: CandidateProfile, in_pool: bool | None = None) -> None:
        """Add or replace a profile. A known candidate keeps their pool state unless ``in_pool`` says."""
        cf = scoring.candidate_facts(profile, self.knowledge)
        with self._lock:
            self.store.put_candidate(cf, in_pool)

    def remove_candidate(self, candidate_id: str) -> bool:
        """Erasure: the profile leaves the index entirely."""
        with self._lock:
            return self.store.remove_candidate(candidate_id)

    def set_in_pool(self, candidate_id: str, in_pool: bool) -> bool:
        """A recorded placement takes the candidate out of the pool; an ended one puts them back."""
        with self._lock:
            return self.store.set_in_pool(candidate_id, in_pool)

    def set_consent(self, candidate_id: str, consented: bool) -> bool:
        """The candidate withdrew (or gave again) their consent to matching: out of (back in) every
        ranking, as scoring.rankable says. Kept for one not indexed yet; False then."""
        with self._lock:
            return self.store.set_consent(candidate_id, consented)

    def withdrew(self, candidate_id: str) -> bool:
        """Whether the index holds the candidate's consent to matching as withdrawn."""
        return candidate_id in self.store.withdrawn

    def learn_module(self, module_name: str, skill_uri: str) -> bool:
        """A module that closes this skill gap from now on (between queries, not during one);
        False if already known."""
        with self._lock:
            return self.modules.register(module_name, skill_uri)

    def in_pool(self, candidate_id: str) -> bool | None:
        c = self.store.candidates
        row = c.row_of.get(candidate_id)
        return None if row is None else bool(c.columns["in_pool"][row])

    def load(self, candidates: Iterable[CandidateProfile], vacancies: Iterable[VacancyProfile] = (),
             not_in_pool: Iterable[str] = (), withdrawn: Iterable[str] = ()) -> None:
        """Bulk build at start-up (into an empty index), rows in PC4 order for locality."""
        with self._lock:
            if self.store.candidates.row_of or self.store.vacancies.row_of:
                raise RuntimeError("load() builds an empty index; use upsert_* for changes")
            for vacancy in vacancies:
                self.upsert_vacancy(vacancy)
            latest = {p.candidate_id: p for p in candidates}  # a repeated id: the last profile wins
            self.store.load_candidates(list(latest.values()), set(not_in_pool), set(withdrawn))
            for vf in self._vacancy_facts.values():
                self._warm(vf)

    # --- vacancies -----------------------------------------------------------------

    def upsert_vacancy(self, profile: VacancyProfile) -> None:
        vf = scoring.vacancy_facts(profile, self.knowledge)
        with self._lock:
            self.store.put_vacancy(vf)
            self._set_stewards(vf.id, vf.steward_organisations)
            self._vacancy_facts[vf.id] = vf
            self._prep[vf.id] = PreparedVacancy(self.store, vf)
            if self.store.candidates.n:  # (a bulk load warms once its candidates are in)
                self._warm(vf)

    def _warm(self, vf: VacancyFacts) -> None:
        """Work out now which areas a query for this vacancy reaches, not on its first query."""
        store = self.store
        area = store.areas.index.get(vf.pc4)
        if area is not None:
            store.areas.in_reach(area, store.band_reach, store.candidates.cells.max_band)

    def remove_vacancy(self, vacancy_id: str) -> bool:
        with self._lock:
            self._set_stewards(vacancy_id, frozenset())
            self._vacancy_facts.pop(vacancy_id, None)
            self._prep.pop(vacancy_id, None)
            return self.store.vacancies.remove(vacancy_id)

    def vacancy_profile_facts(self, vacancy_id: str) -> VacancyFacts | None:
        return self._vacancy_facts.get(vacancy_id)

    # --- who may see a vacancy ---------------------------------------------------------

    def _set_stewards(self, vacancy_id: str, organisations: frozenset[str]) -> None:
        known = self._vacancy_facts.get(vacancy_id)
        for organisation in (known.steward_organisations if known else ()):
            self._stewarded.get(organisation, set()).discard(vacancy_id)
            self._stewarded_rows.pop(organisation, None)
        for organisation in organisations:
            self._stewarded.setdefault(organisation, set()).add(vacancy_id)
            self._stewarded_rows.pop(organisation, None)

    def may_see(self, vacancy_id: str, viewer: Viewer | None) -> bool:
        """Whether ``viewer`` may see an indexed vacancy (None: a caller inside matching sees all)."""
        vf = self._vacancy_facts.get(vacancy_id)
        return vf is not None and (viewer is None or _sees(viewer, vf))

    def _seen_by(self, viewer: Viewer, m: int) -> np.ndarray:
        """Of the first ``m`` vacancy rows, those ``viewer`` may see: the shared rule's reach
        tested against the visibility and region columns, then the rows its organisation stewards."""
        store = self.store
        codes = store.vacancies.columns["visibility"][:m]
        kinds = store.visibilities.values
        seen = visibility.reach(viewer)

        def allowed(visibilities) -> np.ndarray:
            return np.array([k in visibilities for k in kinds], np.bool_)

        mask = allowed(seen.anywhere)[codes] if kinds else np.zeros(m, np.bool_)
        own = store.regions.index.get(seen.region) if seen.region is not None else None
        if own is not None and kinds:
            mask |= (store.vacancies.columns["region"][:m] == own) & allowed(seen.own_region)[codes]
        if seen.organisation in self._stewarded and kinds:
            rows = self._stewarded_rows.get(seen.organisation)
            if rows is None:
                row_of = store.vacancies.row_of
                rows = self._stewarded_rows[seen.organisation] = np.array(
                    sorted(row_of[v] for v in self._stewarded[seen.organisation] if v in row_of), np.int64)
            rows = rows[rows < m]
            mask[rows] |= allowed(seen.stewarded)[codes[rows]]
        return mask

    # --- the two queries -----------------------------------------------------------

    def candidates_for_vacancy(self, vacancy: str | VacancyProfile, limit: int = 10, filters: dict | None = None,
                               near_misses: int = 3, viewer: Viewer | None = None) -> Ranking:
        """The best ``limit`` candidates in the pool for a vacancy (an indexed id, or a
        profile to try out), with near-misses and the fairness counts. KeyError for a
        vacancy not indexed, or one ``viewer`` may not see (None: matching itself)."""
        filters = scoring.check_filters(filters, scoring.CANDIDATE_FILTERS)
        with self._lock:
            if isinstance(vacancy, VacancyProfile):
                vf = scoring.vacancy_facts(vacancy, self.knowledge)
            else:
                vf = self._vacancy_facts.get(vacancy)
                if vf is None or (viewer is not None and not _sees(viewer, vf)):
                    raise KeyError(vacancy)
            return candidates_for(self.store, self._prepared(vf), limit, filters, near_misses)

    def _prepared(self, vf: VacancyFacts) -> PreparedVacancy:
        """A vacancy's lookup data, kept until it changes or the modules do (a vacancy
        tried out is prepared for its one query)."""
        found = self._prep.get(vf.id)
        if found is None or found.vf is not vf or found.modules_version != self.modules.version:
            found = PreparedVacancy(self.store, vf)
            if self._vacancy_facts.get(vf.id) is vf:
                self._prep[vf.id] = found
        return found

    def vacancies_for_candidate(self, candidate_id: str, limit: int = 10, filters: dict | None = None,
                                near_misses: int = 3, today: date | None = None,
                                viewer: Viewer | None = None) -> Ranking:
        """Open vacancies with a free opening, not past their date, best first for this candidate;
        only those ``viewer`` may see (None: matching itself, every one)."""
        filters = scoring.check_filters(filters, scoring.VACANCY_FILTERS)
        today = today or clock.today()
        with self._lock:
            row = self.store.candidates.row_of.get(candidate_id)
            if row is None:
                raise KeyError(candidate_id)
            seen = None if viewer is None else self._seen_by(viewer, self.store.vacancies.n)
            return vacancies_for(self.store, row, self._vacancy_facts, limit, filters, near_misses, today, seen)

    # --- looking broader -------------------------------------------------------------

    def suggest_occupations(self, candidate_id: str, limit: int = 10) -> list[dict]:
        """ESCO occupations ranked by how well the candidate's skills transfer to them."""
        with self._lock:
            row = self.store.candidates.row_of.get(candidate_id)
            if row is None:
                raise KeyError(candidate_id)
            cf = explain.facts_of(self.store, np.array([row]))[0]
        return scoring.suggest_occupations(cf, limit, self.knowledge, self.modules)


def _sees(viewer: Viewer, vf: VacancyFacts) -> bool:
    return visibility.may_see_vacancy(viewer, vf.visibility, vf.region, vf.steward_organisations)


def compile_queries(knowledge: esco.SkillKnowledge | None = None) -> None:
    """Compile both queries' passes (kernels) for the argument types real queries use, by
    querying a throwaway index: with numba's cache on disk this takes a fraction of a
    second, without it a few seconds, which a service spends at start-up rather than on
    its first caller."""
    knowledge = knowledge or esco.knowledge()
    occupation = knowledge.occupations[0]
    skill = sorted(knowledge.essential_skills(occupation))[0]
    index = MatchingIndex(knowledge)
    index.upsert_candidate(CandidateProfile.from_event({
        "candidate_id": "c", "region": "r", "pc4": "1011", "target_groups": ["bijstand"], "skills": [skill],
        "hours_per_week": 32, "conditions": [], "occupations_wanted": [occupation]}))
    for vacancy_id, known in (("known", occupation), ("none", None)):
        index.upsert_vacancy(VacancyProfile.from_event({
            "vacancy_id": vacancy_id, "employer_id": "e", "region": "r", "pc4": "1012", "hours_per_week": 32,
            "openings": 1, "occupation": known, "skills_required": [],
            "must_have": [{"skill": skill, "weight": 1.0}]}))
        index.candidates_for_vacancy(vacancy_id)
    index.vacancies_for_candidate("c", today=date(2000, 1, 1))
