"""What the index holds and both queries read (``Store``): the candidate and vacancy
tables, the codes of the strings they name, the areas, the lookup tables a pass fills
and clears; how a profile becomes a row; and scoring's thresholds and weights as the
compiled passes read them (``RULES``, ``WEIGHTS``)."""

from __future__ import annotations

import bisect
from array import array

import numpy as np
from scipy import sparse

from matching import esco, kernels, scoring
from matching.index.areas import REACH_BAND_LIST, REACH_BANDS, Areas, CellIndex
from matching.index.codes import (
    CHECK_BITS,
    GROUP_BITS,
    GROUP_CODE,
    MODE_BITS,
    MODE_CODE,
    NEED_BITS,
    NEED_CODE,
    NO_LIMIT,
    Codes,
    offer_bits,
)
from matching.index.ragged import Ragged
from matching.index.table import (
    CANDIDATE_COLUMNS,
    CANDIDATE_LISTS,
    CANDIDATE_PACKED,
    VACANCY_COLUMNS,
    VACANCY_LISTS,
    VACANCY_PACKED,
    Table,
)
from matching.modules import ModuleCatalogue
from matching.profiles import CandidateProfile
from matching.scoring import CandidateFacts, VacancyFacts

RULES = np.array([(scoring.NEAR_TRAVEL_FACTOR, scoring.NEAR_HOURS, scoring.NEAR_LEVEL, scoring.NEAR_AVAILABILITY_DAYS,
                   scoring.NEAR_SKILLS_STRICT, scoring.NEUTRAL, scoring.WISH_OCCUPATION_SHARE, scoring.STRENGTH)],
                 kernels.rules_type(len(scoring.STRENGTH)))
COMPONENTS = kernels.components_type(scoring.COMPONENTS)
WEIGHTS = np.array([scoring.WEIGHT_ROW], COMPONENTS)


class Store:
    """The rows of candidates and vacancies, and what is needed to read them back."""

    def __init__(self, knowledge: esco.SkillKnowledge, modules: ModuleCatalogue):
        self.knowledge, self.modules = knowledge, modules
        self.areas = Areas()
        self.skills = Codes(knowledge.known_skills())
        self.occupations = Codes(knowledge.occupations)
        self.regions, self.cohorts, self.visibilities = Codes(), Codes(), Codes()
        self.candidates = Table(CANDIDATE_COLUMNS, CANDIDATE_LISTS, CANDIDATE_PACKED,
                                CellIndex(self.areas.unknown + 1, len(REACH_BANDS)))
        self.vacancies = Table(VACANCY_COLUMNS, VACANCY_LISTS, VACANCY_PACKED)
        self.odd_candidates: dict[int, tuple[str, tuple[str, ...]]] = {}  # unknown pc4 / conditions, by row
        # who withdrew their consent to matching (candidate.consent_changed): few, so a set beside the
        # rows; a row is active (ranked) as scoring.rankable says of its pool state and this
        self.withdrawn: set[str] = set()
        self.band_reach = REACH_BANDS * scoring.NEAR_TRAVEL_FACTOR  # how far each band reaches a near-miss
        self._scratch = self._new_scratch(len(self.skills.values) + 1024)
        self._closable = (None, None)

    def _new_scratch(self, skills: int) -> kernels.Scratch:
        concepts = len(self.knowledge.concepts)
        return kernels.Scratch(asked=np.zeros(skills, kernels.SKILL_ASKED), marked=np.zeros(skills, np.bool_),
                               held=np.zeros(skills), concept_weights=np.zeros(concepts),
                               marks=np.zeros(concepts, np.uint8), slots=np.zeros(skills, np.int32))

    def scratch(self) -> kernels.Scratch:
        """The lookup tables, with room for every skill code (skills outside ESCO come in)."""
        if len(self.skills.values) > len(self._scratch.marked):
            self._scratch = self._new_scratch(2 * len(self.skills.values))
        return self._scratch

    def candidate_lists(self) -> kernels.CandidateLists:
        held, concepts, wanted = (self.candidates.raggeds[name] for name in ("held", "concepts", "wanted"))
        return kernels.CandidateLists(held.data[0], held.data[1], concepts.data[0], wanted.data[0])

    def vacancy_lists(self) -> kernels.VacancyLists:
        must, nice, target = (self.vacancies.raggeds[name] for name in ("must", "nice", "target"))
        return kernels.VacancyLists(must.data[0], must.data[1], nice.data[0], nice.data[1], target.data[0],
                                    target.data[1])

    def closable(self) -> np.ndarray:
        """Per skill code, whether a module closes it (kept until the modules or skills change)."""
        key = (self.modules.version, len(self.skills.values))
        if self._closable[0] != key:
            lut = np.zeros(len(self.skills.values), np.bool_)
            for skill in self.modules.closable_skills():
                if skill in self.skills.index:
                    lut[self.skills.index[skill]] = True
            self._closable = (key, lut)
        return self._closable[1]

    def similarities_to(self, occupation: str | None) -> np.ndarray:
        """The occupation's similarity to each occupation code; empty when ESCO does not know it."""
        if occupation in self.knowledge.occupation_index:
            return self.knowledge.similarities_to(occupation)
        return NO_SIMILARITIES

    def nbytes(self) -> int:
        s = self._scratch
        return (self.candidates.nbytes() + self.vacancies.nbytes() + self.areas.nbytes()
                + s.asked.nbytes + s.marked.nbytes + s.concept_weights.nbytes)

    # --- candidates -----------------------------------------------------------------------

    def _candidate_values(self, cf: CandidateFacts) -> dict:
        area = self.areas.of(cf.pc4)
        band = bisect.bisect_left(REACH_BAND_LIST, cf.reach_km)  # the first band reaching as far
        return {
            "alive": True, "area": area, "cell": area * len(REACH_BANDS) + band,
            "hours_min": cf.hours[0], "hours_max": cf.hours[1],
            "reach": cf.reach_km, "needs": sum(NEED_BITS[n] for n in cf.needs),
            "level": kernels.LEVEL_UNKNOWN if cf.level is None else cf.level,
            "available_from": cf.available_from.toordinal() if cf.available_from else 0,
            "region": self.regions.code(cf.region),
            "cohort": -1 if cf.cohort is None else self.cohorts.code(cf.cohort),
            "groups": sum(GROUP_BITS[g] for g in cf.target_groups), "banenafspraak": cf.banenafspraak,
            "minutes": NO_LIMIT if cf.travel_minutes is None else int(cf.travel_minutes),
            "km": NO_LIMIT if cf.distance_km_limit is None else int(cf.distance_km_limit),
            "modes": sum(MODE_BITS[m] for m in cf.modes),
            "to_check": sum(CHECK_BITS.get(c, 0) for c in cf.to_check),
        }

    def _odd(self, cf: CandidateFacts, area: int) -> tuple[str, tuple[str, ...]] | None:
        """What a row cannot code, kept beside it: an unknown area's PC4, unknown conditions to check."""
        unknown_conditions = tuple(c for c in cf.to_check if c not in CHECK_BITS)
        if area == self.areas.unknown or unknown_conditions:
            return cf.pc4, unknown_conditions
        return None

    def put_candidate(self, cf: CandidateFacts, in_pool: bool | None) -> None:
        """Write a candidate's row (a new one, or over their old one). A known candidate
        keeps their pool state unless ``in_pool`` says."""
        held = [(self.skills.code(s), code) for s, code in cf.held.items()]
        wanted = [self.occupations.code(o) for o in cf.wanted]
        t = self.candidates
        known = cf.id in t.row_of
        row = t.row_for(cf.id)
        values = self._candidate_values(cf)
        hours_changed = known and (int(t.columns["hours_min"][row]), int(t.columns["hours_max"][row])) != cf.hours
        for name, value in values.items():
            t.columns[name][row] = value
        if in_pool is not None or not known:
            t.columns["in_pool"][row] = True if in_pool is None else in_pool
        t.columns["active"][row] = scoring.rankable(bool(t.columns["in_pool"][row]), cf.id not in self.withdrawn)
        t.cells.changed(row, values["cell"], hours_changed)
        odd = self._odd(cf, values["area"])
        if odd:
            self.odd_candidates[row] = odd
        else:
            self.odd_candidates.pop(row, None)
        t.raggeds["held"].set(row, np.array([h[0] for h in held], np.int32), np.array([h[1] for h in held], np.uint8))
        t.raggeds["concepts"].set(row, np.array(sorted(cf.concepts), np.uint16))
        t.raggeds["wanted"].set(row, np.array(wanted, np.int32))
        t.compact()

    def remove_candidate(self, candidate_id: str) -> bool:
        row = self.candidates.row_of.get(candidate_id)
        if row is not None:
            self.odd_candidates.pop(row, None)
            self.candidates.columns["active"][row] = False
        self.withdrawn.discard(candidate_id)
        return self.candidates.remove(candidate_id)

    def set_in_pool(self, candidate_id: str, in_pool: bool) -> bool:
        row = self.candidates.row_of.get(candidate_id)
        if row is None:
            return False
        self.candidates.columns["in_pool"][row] = in_pool
        self.candidates.columns["active"][row] = scoring.rankable(in_pool, candidate_id not in self.withdrawn)
        return True

    def set_consent(self, candidate_id: str, consented: bool) -> bool:
        """Kept for a candidate not (yet) indexed too; False then."""
        (self.withdrawn.discard if consented else self.withdrawn.add)(candidate_id)
        row = self.candidates.row_of.get(candidate_id)
        if row is None:
            return False
        in_pool = bool(self.candidates.columns["in_pool"][row])
        self.candidates.columns["active"][row] = scoring.rankable(in_pool, consented)
        return True

    def load_candidates(self, profiles: list[CandidateProfile], placed: set[str],
                        withdrawn: set[str] = frozenset()) -> None:
        """One pass from profile to flat arrays (no facts kept), then one permutation into
        cell order (areas along the curve): the rows a query reads lie together."""
        t = self.candidates
        n = len(profiles)
        t.reserve(n)
        typecodes = {"area": "h", "cell": "I", "hours_min": "B", "hours_max": "B", "reach": "d", "needs": "B",
                     "level": "b", "available_from": "i", "region": "i", "cohort": "i", "groups": "B",
                     "banenafspraak": "B", "minutes": "h", "km": "h", "modes": "B", "to_check": "B", "in_pool": "B"}
        cols = {name: array(code) for name, code in typecodes.items()}
        held_ids, held_codes, wanted = array("i"), array("B"), array("i")
        lens = {name: array("i") for name in ("held", "wanted")}
        skill_index, occupation_index = self.skills.index, self.occupations.index
        area_index, unknown, bands = self.areas.index, self.areas.unknown, REACH_BAND_LIST
        region_code, cohort_code = self.regions.code, self.cohorts.code
        knowledge, facts_of = self.knowledge, scoring.candidate_facts
        ids, odd_rows = [], {}
        (c_area, c_cell, c_hmin, c_hmax, c_reach, c_needs, c_level, c_avail, c_region, c_cohort, c_groups, c_banen,
         c_minutes, c_km, c_modes, c_check, c_pool) = (cols[name] for name in typecodes)
        for row, profile in enumerate(profiles):
            cf = facts_of(profile, knowledge, with_concepts=False)
            ids.append(cf.id)
            area = area_index.get(cf.pc4, unknown)
            c_area.append(area)
            c_cell.append(area * len(bands) + bisect.bisect_left(bands, cf.reach_km))
            c_hmin.append(cf.hours[0])
            c_hmax.append(cf.hours[1])
            c_reach.append(cf.reach_km)
            c_needs.append(NEED_CODE[cf.needs])
            c_level.append(kernels.LEVEL_UNKNOWN if cf.level is None else cf.level)
            c_avail.append(cf.available_from.toordinal() if cf.available_from else 0)
            c_region.append(region_code(cf.region))
            c_cohort.append(-1 if cf.cohort is None else cohort_code(cf.cohort))
            c_groups.append(GROUP_CODE[cf.target_groups])
            c_banen.append(cf.banenafspraak)
            c_minutes.append(NO_LIMIT if cf.travel_minutes is None else int(cf.travel_minutes))
            c_km.append(NO_LIMIT if cf.distance_km_limit is None else int(cf.distance_km_limit))
            c_modes.append(MODE_CODE[cf.modes])
            c_check.append(sum(CHECK_BITS.get(c, 0) for c in cf.to_check) if cf.to_check else 0)
            c_pool.append(cf.id not in placed)
            odd = self._odd(cf, area)
            if odd:
                odd_rows[row] = odd
            codes = [skill_index.get(s) for s in cf.held]
            if None in codes:
                codes = [self.skills.code(s) for s in cf.held]
            held_ids.extend(codes)
            held_codes.extend(cf.held.values())
            if cf.wanted:
                wanted.extend(occupation_index.get(o) if o in occupation_index else self.occupations.code(o)
                              for o in cf.wanted)
            lens["held"].append(len(codes))
            lens["wanted"].append(len(cf.wanted))
        # every candidate's concepts at once: held skills (rows) times skill -> concepts
        held_matrix = sparse.csr_matrix(
            (np.ones(len(held_ids), np.float32), np.frombuffer(held_ids, np.int32),
             np.concatenate(([0], np.cumsum(np.frombuffer(lens["held"], np.int32), dtype=np.int64)))),
            shape=(n, len(self.skills.values)))
        reached = held_matrix @ self._skill_concept_matrix()
        reached.sort_indices()
        concepts = reached.indices.astype(np.uint16)
        concept_lens = np.diff(reached.indptr).astype(np.int32)
        order = np.argsort(np.frombuffer(cols["cell"], np.uint32), kind="stable")
        for name, values in cols.items():
            column = np.frombuffer(values, np.dtype(values.typecode))
            t.columns[name][:n] = column.astype(CANDIDATE_COLUMNS[name])[order]
        t.columns["alive"][:n] = True
        self.withdrawn = set(withdrawn)
        consented = np.array([i not in self.withdrawn for i in ids], np.bool_)[order] if self.withdrawn else True
        t.columns["active"][:n] = t.columns["in_pool"][:n] & consented  # scoring.rankable, for every row
        staged = {
            "held": (np.frombuffer(lens["held"], np.int32), np.frombuffer(held_ids, np.int32),
                     np.frombuffer(held_codes, np.uint8)),
            "concepts": (concept_lens, concepts),
            "wanted": (np.frombuffer(lens["wanted"], np.int32), np.frombuffer(wanted, np.int32)),
        }
        for name, (row_lens, *values) in staged.items():
            unordered = Ragged([v.dtype for v in values])
            unordered.grow_rows(n)
            unordered.bulk(0, row_lens, *values)
            positions, _, ordered_lens = unordered.gather(order)
            t.raggeds[name].bulk(0, ordered_lens, *(d[positions] for d in unordered.data))
        new_row = np.empty(n, np.int64)
        new_row[order] = np.arange(n)
        self.odd_candidates = {int(new_row[row]): odd for row, odd in odd_rows.items()}
        t.ids = [ids[i] for i in order.tolist()]
        t.row_of = {candidate_id: i for i, candidate_id in enumerate(t.ids)}
        t.n = n
        t.cells.rebuild(t.columns["cell"][:n], t.columns["hours_min"][:n], t.columns["hours_max"][:n])

    def _skill_concept_matrix(self) -> sparse.csr_matrix:
        """Skill code -> the concepts it reaches, as a 0/1 matrix (unknown skills: none)."""
        codes = self.skills.values
        arrays = [self.knowledge.skill_concept_array(s) for s in codes]
        lens = np.fromiter(map(len, arrays), np.int64, len(arrays))
        indices = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, np.int32)
        return sparse.csr_matrix((np.ones(len(indices), np.float32), indices,
                                  np.concatenate(([0], np.cumsum(lens)))),
                                 shape=(len(codes), len(self.knowledge.concepts)))

    # --- vacancies ------------------------------------------------------------------------

    def vacancy_record(self, vf: VacancyFacts) -> np.ndarray:
        """What a candidates pass reads of a vacancy: its packed columns, as one record."""
        record = np.zeros(1, self.vacancies.records.dtype)
        for name, value in self._packed_values(vf).items():
            record[name] = value
        return record

    def _packed_values(self, vf: VacancyFacts) -> dict:
        return {
            "valid_through": vf.valid_through.toordinal() if vf.valid_through else kernels.NO_DATE,
            "hours_lo": vf.hours[0], "hours_hi": vf.hours[1], "offers": offer_bits(vf),
            "level_required": kernels.NO_LEVEL if vf.level_required is None else vf.level_required,
            "occupation": -1 if vf.occupation is None else self.occupations.code(vf.occupation),
            "must_total": vf.must_total, "nice_total": vf.nice_total, "target_norm": vf.target_norm,
        }

    def put_vacancy(self, vf: VacancyFacts) -> None:
        must = (np.array([self.skills.code(s) for s, _ in vf.must], np.int32),
                np.array([w for _, w in vf.must], np.float64))
        nice = (np.array([self.skills.code(s) for s, _ in vf.nice], np.int32),
                np.array([w for _, w in vf.nice], np.float64))
        target = (np.array(list(vf.target), np.uint16), np.array(list(vf.target.values()), np.float64))
        t = self.vacancies
        row = t.row_for(vf.id)
        values = {
            **self._packed_values(vf), "alive": True, "open": vf.is_open, "area": self.areas.of(vf.pc4),
            "region": self.regions.code(vf.region), "visibility": self.visibilities.code(vf.visibility),
            "leerwerkbaan": vf.is_leerwerkbaan, "banenafspraak": vf.banenafspraak_suitable,
        }
        for name, value in values.items():
            t.columns[name][row] = value
        t.raggeds["must"].set(row, *must)
        t.raggeds["nice"].set(row, *nice)
        t.raggeds["target"].set(row, *target)
        t.compact()


NO_SIMILARITIES = np.zeros(0)
NO_SIMILARITIES.setflags(write=False)  # as ESCO's rows are: one compiled signature for both
