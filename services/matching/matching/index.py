"""The in-memory matching index: candidates and vacancies as numpy columns.

Every candidate is a row of fixed-width columns (PC4 area, hours, reach, needs,
level, filters) plus three variable-length rows kept in flat arrays (held
skills with their level, the skill-tree concepts those skills reach, wanted
occupations). A query narrows to the candidates within reach, checks the
constraints column-wise, and scores what is left in a handful of numpy passes;
only the results served are turned back into facts and explained by
``scoring.evaluate``, the same code as the brute-force reference, so texts,
gaps and breakdowns cannot drift apart.

Updates are incremental: a changed profile rewrites its row (a longer skill
list moves to the end of the flat arrays, which are compacted once half
garbage); columns grow by doubling. Only the anonymous matching profile is
held. The index is not persistent: rebuild it with ``load`` from matching's
own tables at start-up.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable
from datetime import date

import numpy as np

from matching import esco, scoring
from matching.modules import CATALOGUE, ModuleCatalogue
from matching.profiles import (
    CONDITION_OFFERS,
    LIFTING_RELIEF,
    TARGET_GROUPS,
    UNCHECKED_CONDITIONS,
    CandidateProfile,
    VacancyProfile,
)
from matching.scoring import (
    NEAR_AVAILABILITY_DAYS,
    NEAR_HOURS,
    NEAR_LEVEL,
    NEAR_TRAVEL_FACTOR,
    NEUTRAL,
    STRENGTH,
    TOP_FOR_FAIRNESS,
    WEIGHTS,
    WISH_OCCUPATION_SHARE,
    CandidateFacts,
    Ranking,
    VacancyFacts,
)
from werkbrug_shared import refdata

NEED_BITS = {need: 1 << i for i, need in enumerate((*CONDITION_OFFERS, "no_heavy_lifting"))}
OFFER_BITS = {offer: NEED_BITS[need] for need, offer in CONDITION_OFFERS.items()}
LIGHT_WORK = NEED_BITS["no_heavy_lifting"]  # offered when no must-have needs heavy lifting, or it is relieved
CHECK_BITS = {c: 1 << i for i, c in enumerate(UNCHECKED_CONDITIONS)}
GROUP_BITS = {g: 1 << i for i, g in enumerate(TARGET_GROUPS)}
MODE_BITS = {m: 1 << i for i, m in enumerate(scoring.SPEED_KMH)}
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
STRENGTH_LUT = np.array(STRENGTH, dtype=np.float64)
LEVEL_UNKNOWN = 127  # passes any required level
NO_LIMIT = -1


def _haversine(lat, lon, lats, lons) -> np.ndarray:
    lat1, lon1 = math.radians(lat), math.radians(lon)
    lat2, lon2 = np.radians(lats), np.radians(lons)
    h = np.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.minimum(1.0, h)))


class _Areas:
    """PC4 areas by index; the last index stands for an unknown area (distance NaN)."""

    def __init__(self):
        areas = refdata.postcode_areas()
        self.pc4 = sorted(areas)
        self.index = {p: i for i, p in enumerate(self.pc4)}
        self.unknown = len(self.pc4)
        self.lat = np.array([areas[p].lat for p in self.pc4])
        self.lon = np.array([areas[p].lon for p in self.pc4])
        self._cache: dict[int, np.ndarray] = {}

    def distances_from(self, area: int) -> np.ndarray:
        """km from this area's centroid to every area's, NaN for the unknown one."""
        found = self._cache.get(area)
        if found is None:
            found = np.full(self.unknown + 1, np.nan)
            if area != self.unknown:
                found[:-1] = _haversine(self.lat[area], self.lon[area], self.lat, self.lon)
            if len(self._cache) > 256:
                self._cache.clear()
            found.setflags(write=False)
            self._cache[area] = found
        return found


class _Ragged:
    """Variable-length rows in flat arrays. A row is (start, length); rewriting a
    row with more values appends it at the end; the garbage is compacted away once
    it outweighs the live values, so updates stay amortised O(row)."""

    def __init__(self, dtypes):
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        self.data = [np.empty(1024, d) for d in self.dtypes]
        self.size = 0
        self.garbage = 0
        self.starts = np.zeros(0, np.int64)
        self.lens = np.zeros(0, np.int32)

    def grow_rows(self, capacity: int) -> None:
        self.starts = _resized(self.starts, capacity)
        self.lens = _resized(self.lens, capacity)

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > len(self.data[0]):
            capacity = max(need, 2 * len(self.data[0]))
            self.data = [_resized(d, capacity) for d in self.data]

    def set(self, row: int, *values) -> None:
        n = len(values[0])
        if n <= self.lens[row]:
            start = self.starts[row]
            self.garbage += int(self.lens[row]) - n
        else:
            self.garbage += int(self.lens[row])
            self._reserve(n)
            start = self.size
            self.size += n
        for d, v in zip(self.data, values, strict=True):
            d[start:start + n] = v
        self.starts[row] = start
        self.lens[row] = n

    def clear(self, row: int) -> None:
        self.garbage += int(self.lens[row])
        self.lens[row] = 0

    def bulk(self, first_row: int, lens: np.ndarray, *values) -> None:
        """Rows first_row.. get consecutive slices of ``values``."""
        total = int(lens.sum())
        self._reserve(total)
        for d, v in zip(self.data, values, strict=True):
            d[self.size:self.size + total] = v
        ends = np.cumsum(lens, dtype=np.int64)
        self.starts[first_row:first_row + len(lens)] = self.size + ends - lens
        self.lens[first_row:first_row + len(lens)] = lens
        self.size += total

    def row(self, row: int) -> list[np.ndarray]:
        s, n = int(self.starts[row]), int(self.lens[row])
        return [d[s:s + n] for d in self.data]

    def gather(self, rows: np.ndarray):
        """Flat positions of ``rows``' values, in row order, and each row's segment."""
        lens = self.lens[rows]
        ends = np.cumsum(lens, dtype=np.int64)
        firsts = ends - lens
        positions = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        positions += np.repeat(self.starts[rows] - firsts, lens)
        return positions, firsts, lens

    def maybe_compact(self, rows_in_use: int) -> None:
        if self.garbage < 65536 or self.garbage < self.size - self.garbage:
            return
        rows = np.arange(rows_in_use)
        positions, firsts, lens = self.gather(rows)
        self.data = [_resized(d[positions], max(1024, 2 * len(positions))) for d in self.data]
        self.starts[:rows_in_use] = firsts
        self.size = len(positions)
        self.garbage = 0

    def nbytes(self) -> int:
        return sum(d.nbytes for d in self.data) + self.starts.nbytes + self.lens.nbytes


def _resized(a: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros(capacity, a.dtype)
    n = min(len(a), capacity)
    out[:n] = a[:n]
    return out


def _segment_sum(values: np.ndarray, firsts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lens))
    nonempty = lens > 0
    if values.size:
        out[nonempty] = np.add.reduceat(values, firsts[nonempty])
    return out


def _segment_max(values: np.ndarray, firsts: np.ndarray, lens: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(len(lens), empty)
    nonempty = lens > 0
    if values.size:
        out[nonempty] = np.maximum.reduceat(values, firsts[nonempty])
    return out


class _Codes:
    """Strings as small ints, for columns that filter."""

    def __init__(self):
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def code(self, value: str) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found

    def codes(self, wanted) -> list[int]:
        items = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else (wanted,)
        return [self.index[w] for w in items if w in self.index]


CANDIDATE_COLUMNS = {
    "alive": np.bool_, "in_pool": np.bool_, "area": np.int16, "hours_min": np.uint8, "hours_max": np.uint8,
    "reach": np.float64, "needs": np.uint8, "level": np.int8, "available_from": np.int32, "region": np.int32,
    "cohort": np.int32, "groups": np.uint8, "banenafspraak": np.bool_, "minutes": np.int16, "km": np.int16,
    "modes": np.uint8, "to_check": np.uint8,
}
VACANCY_COLUMNS = {
    "alive": np.bool_, "open": np.bool_, "valid_through": np.int32, "area": np.int16, "hours_lo": np.uint8,
    "hours_hi": np.uint8, "offers": np.uint8, "level_required": np.int8, "region": np.int32,
    "visibility": np.int32, "leerwerkbaan": np.bool_, "banenafspraak": np.bool_, "occupation": np.int32,
    "must_total": np.float64, "nice_total": np.float64, "target_norm": np.float64,
}
NO_DATE = np.iinfo(np.int32).max


class _Table:
    """Named columns with a row count and capacity doubling; removed rows are reused."""

    def __init__(self, columns: dict, raggeds: dict):
        self.columns = {name: np.zeros(0, dtype) for name, dtype in columns.items()}
        self.raggeds = {name: _Ragged(dtypes) for name, dtypes in raggeds.items()}
        self.n = 0
        self.free: list[int] = []
        self.ids: list[str | None] = []
        self.row_of: dict[str, int] = {}

    def __getattr__(self, name):
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    def reserve(self, rows: int) -> None:
        capacity = len(self.columns["alive"])
        if rows > capacity:
            capacity = max(rows, 2 * capacity, 1024)
            for name, column in self.columns.items():
                self.columns[name] = _resized(column, capacity)
            for ragged in self.raggeds.values():
                ragged.grow_rows(capacity)

    def row_for(self, item_id: str) -> int:
        row = self.row_of.get(item_id)
        if row is not None:
            return row
        if self.free:
            row = self.free.pop()
            self.ids[row] = item_id
        else:
            self.reserve(self.n + 1)
            row = self.n
            self.n += 1
            self.ids.append(item_id)
        self.row_of[item_id] = row
        return row

    def remove(self, item_id: str) -> bool:
        row = self.row_of.pop(item_id, None)
        if row is None:
            return False
        self.columns["alive"][row] = False
        for ragged in self.raggeds.values():
            ragged.clear(row)
            ragged.maybe_compact(self.n)
        self.ids[row] = None
        self.free.append(row)
        return True

    def nbytes(self) -> int:
        arrays = sum(c.nbytes for c in self.columns.values()) + sum(r.nbytes() for r in self.raggeds.values())
        # ids: the list's pointers, the strings, and the dict's entries (about 100 bytes each)
        strings = sum(len(i) + 49 for i in self.ids if i is not None)
        return arrays + 8 * len(self.ids) + strings + 100 * len(self.row_of)


class MatchingIndex:
    """Candidates and vacancies, ranked both ways. Thread-safe (one lock)."""

    def __init__(self, knowledge: esco.SkillKnowledge | None = None, modules: ModuleCatalogue | None = None):
        self.knowledge = knowledge or esco.knowledge()
        self.modules = modules or CATALOGUE
        self._lock = threading.RLock()
        self._areas = _Areas()
        self._skills = _Codes()
        for uri in sorted(self.knowledge._skill_concepts):
            self._skills.code(uri)
        self._occupations = _Codes()
        for uri in self.knowledge.occupations:
            self._occupations.code(uri)
        self._regions = _Codes()
        self._cohorts = _Codes()
        self._visibilities = _Codes()
        self._c = _Table(CANDIDATE_COLUMNS, {
            "held": (np.int32, np.uint8), "concepts": (np.uint16,), "wanted": (np.int32,)})
        self._v = _Table(VACANCY_COLUMNS, {
            "must": (np.int32, np.float64), "nice": (np.int32, np.float64), "target": (np.uint16, np.float64)})
        self._vacancy_facts: dict[str, VacancyFacts] = {}
        self._odd_candidates: dict[int, tuple[str, tuple[str, ...]]] = {}  # unknown pc4 / conditions, by row
        self._closable = (None, None)

    # --- sizes ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._c.row_of)

    def counts(self) -> dict:
        with self._lock:
            n, m = self._c.n, self._v.n
            return {
                "candidates": len(self._c.row_of),
                "in_pool": int(np.count_nonzero(self._c.alive[:n] & self._c.in_pool[:n])),
                "vacancies": len(self._v.row_of),
                "open_vacancies": int(np.count_nonzero(self._v.alive[:m] & self._v.open[:m])),
            }

    def memory_bytes(self) -> int:
        """What the index holds: its arrays (capacity included) and id bookkeeping."""
        with self._lock:
            return self._c.nbytes() + self._v.nbytes() + 2000 * len(self._vacancy_facts)

    def __contains__(self, candidate_id: str) -> bool:
        return candidate_id in self._c.row_of

    def has_vacancy(self, vacancy_id: str) -> bool:
        return vacancy_id in self._v.row_of

    # --- candidates ----------------------------------------------------------------

    def _candidate_scalars(self, cf: CandidateFacts) -> dict:
        area = self._areas.index.get(cf.pc4, self._areas.unknown)
        return {
            "alive": True, "area": area, "hours_min": cf.hours[0], "hours_max": cf.hours[1],
            "reach": cf.reach_km, "needs": sum(NEED_BITS[n] for n in cf.needs),
            "level": LEVEL_UNKNOWN if cf.level is None else cf.level,
            "available_from": cf.available_from.toordinal() if cf.available_from else 0,
            "region": self._regions.code(cf.region),
            "cohort": -1 if cf.cohort is None else self._cohorts.code(cf.cohort),
            "groups": sum(GROUP_BITS[g] for g in cf.target_groups), "banenafspraak": cf.banenafspraak,
            "minutes": NO_LIMIT if cf.travel_minutes is None else int(cf.travel_minutes),
            "km": NO_LIMIT if cf.distance_km_limit is None else int(cf.distance_km_limit),
            "modes": sum(MODE_BITS[m] for m in cf.modes),
            "to_check": sum(CHECK_BITS.get(c, 0) for c in cf.to_check),
        }

    def _odd(self, cf: CandidateFacts, area: int) -> tuple[str, tuple[str, ...]] | None:
        unknown_conditions = tuple(c for c in cf.to_check if c not in CHECK_BITS)
        if area == self._areas.unknown or unknown_conditions:
            return cf.pc4, unknown_conditions
        return None

    def upsert_candidate(self, profile: CandidateProfile, in_pool: bool | None = None) -> None:
        """Add or replace a profile. A known candidate keeps their pool state unless ``in_pool`` says."""
        cf = scoring.candidate_facts(profile, self.knowledge)
        held = [(self._skills.code(s), code) for s, code in cf.held.items()]
        wanted = [self._occupations.code(o) for o in cf.wanted]
        with self._lock:
            t = self._c
            known = profile.candidate_id in t.row_of
            row = t.row_for(profile.candidate_id)
            scalars = self._candidate_scalars(cf)
            for name, value in scalars.items():
                t.columns[name][row] = value
            if in_pool is not None or not known:
                t.columns["in_pool"][row] = True if in_pool is None else in_pool
            odd = self._odd(cf, scalars["area"])
            if odd:
                self._odd_candidates[row] = odd
            else:
                self._odd_candidates.pop(row, None)
            t.raggeds["held"].set(row, np.array([h[0] for h in held], np.int32), np.array([h[1] for h in held],
                                                                                          np.uint8))
            t.raggeds["concepts"].set(row, np.array(sorted(cf.concepts), np.uint16))
            t.raggeds["wanted"].set(row, np.array(wanted, np.int32))
            for ragged in t.raggeds.values():
                ragged.maybe_compact(t.n)

    def remove_candidate(self, candidate_id: str) -> bool:
        """Erasure: the profile leaves the index entirely."""
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is not None:
                self._odd_candidates.pop(row, None)
            return self._c.remove(candidate_id)

    def set_in_pool(self, candidate_id: str, in_pool: bool) -> bool:
        """A recorded placement takes the candidate out of the pool; an ended one puts them back."""
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is None:
                return False
            self._c.in_pool[row] = in_pool
            return True

    def in_pool(self, candidate_id: str) -> bool | None:
        row = self._c.row_of.get(candidate_id)
        return None if row is None else bool(self._c.in_pool[row])

    def load(self, candidates: Iterable[CandidateProfile], vacancies: Iterable[VacancyProfile] = (),
             not_in_pool: Iterable[str] = ()) -> None:
        """Bulk build at start-up (into an empty index), rows in PC4 order for locality."""
        with self._lock:
            if self._c.row_of or self._v.row_of:
                raise RuntimeError("load() builds an empty index; use upsert_* for changes")
            for vacancy in vacancies:
                self.upsert_vacancy(vacancy)
            placed = set(not_in_pool)
            latest = {p.candidate_id: p for p in candidates}  # a repeated id: the last profile wins
            facts = [scoring.candidate_facts(p, self.knowledge) for p in latest.values()]
            areas = self._areas.index
            facts.sort(key=lambda cf: (areas.get(cf.pc4, self._areas.unknown), cf.id))
            self._bulk_candidates(facts, placed)

    def _bulk_candidates(self, facts: list[CandidateFacts], placed: set[str]) -> None:
        t = self._c
        n = len(facts)
        t.reserve(n)
        columns = {name: [] for name in CANDIDATE_COLUMNS}
        held_ids, held_codes, concepts, wanted = array("i"), array("B"), array("H"), array("i")
        lens = {name: array("i") for name in ("held", "concepts", "wanted")}
        skill_code, occupation_code = self._skills.code, self._occupations.code
        for row, cf in enumerate(facts):
            scalars = self._candidate_scalars(cf)
            for name, value in scalars.items():
                columns[name].append(value)
            columns["in_pool"].append(cf.id not in placed)
            odd = self._odd(cf, scalars["area"])
            if odd:
                self._odd_candidates[row] = odd
            for skill, code in cf.held.items():
                held_ids.append(skill_code(skill))
                held_codes.append(code)
            concepts.extend(sorted(cf.concepts))
            wanted.extend(occupation_code(o) for o in cf.wanted)
            lens["held"].append(len(cf.held))
            lens["concepts"].append(len(cf.concepts))
            lens["wanted"].append(len(cf.wanted))
        for name, values in columns.items():
            t.columns[name][:n] = np.array(values, dtype=CANDIDATE_COLUMNS[name])
        t.raggeds["held"].bulk(0, np.frombuffer(lens["held"], np.int32), np.frombuffer(held_ids, np.int32),
                               np.frombuffer(held_codes, np.uint8))
        t.raggeds["concepts"].bulk(0, np.frombuffer(lens["concepts"], np.int32), np.frombuffer(concepts, np.uint16))
        t.raggeds["wanted"].bulk(0, np.frombuffer(lens["wanted"], np.int32), np.frombuffer(wanted, np.int32))
        t.ids = [cf.id for cf in facts]
        t.row_of = {cf.id: i for i, cf in enumerate(facts)}
        t.n = n

    def _candidate_facts(self, row: int) -> CandidateFacts:
        """A stored row back into the facts scoring explains (only for results served)."""
        c = self._c.columns
        held_ids, held_codes = self._c.raggeds["held"].row(row)
        (concepts,) = self._c.raggeds["concepts"].row(row)
        (wanted,) = self._c.raggeds["wanted"].row(row)
        pc4, odd_conditions = self._odd_candidates.get(row, (None, ()))
        area = int(c["area"][row])
        level = int(c["level"][row])
        minutes, km = int(c["minutes"][row]), int(c["km"][row])
        modes = int(c["modes"][row])
        to_check = int(c["to_check"][row])
        cohort = int(c["cohort"][row])
        available = int(c["available_from"][row])
        needs = int(c["needs"][row])
        groups = int(c["groups"][row])
        skill_values = self._skills.values
        return CandidateFacts(
            id=self._c.ids[row],
            pc4=pc4 if pc4 is not None else self._areas.pc4[area],
            region=self._regions.values[int(c["region"][row])],
            target_groups=tuple(g for g, bit in GROUP_BITS.items() if groups & bit),
            cohort=None if cohort < 0 else self._cohorts.values[cohort],
            banenafspraak=bool(c["banenafspraak"][row]),
            hours=(int(c["hours_min"][row]), int(c["hours_max"][row])),
            reach_km=float(c["reach"][row]),
            travel_minutes=None if minutes == NO_LIMIT else float(minutes),
            distance_km_limit=None if km == NO_LIMIT else float(km),
            modes=tuple(m for m, bit in MODE_BITS.items() if modes & bit),
            needs=tuple(n for n, bit in NEED_BITS.items() if needs & bit),
            to_check=tuple(sorted((*(u for u, bit in CHECK_BITS.items() if to_check & bit), *odd_conditions))),
            level=None if level == LEVEL_UNKNOWN else level,
            available_from=date.fromordinal(available) if available else None,
            held={skill_values[s]: int(code) for s, code in zip(held_ids.tolist(), held_codes.tolist(), strict=True)},
            concepts=frozenset(concepts.tolist()),
            wanted=tuple(self._occupations.values[o] for o in wanted.tolist()),
        )

    # --- vacancies -----------------------------------------------------------------

    def upsert_vacancy(self, profile: VacancyProfile) -> None:
        vf = scoring.vacancy_facts(profile, self.knowledge)
        must = (np.array([self._skills.code(s) for s, _ in vf.must], np.int32),
                np.array([w for _, w in vf.must], np.float64))
        nice = (np.array([self._skills.code(s) for s, _ in vf.nice], np.int32),
                np.array([w for _, w in vf.nice], np.float64))
        target = (np.array(list(vf.target), np.uint16), np.array(list(vf.target.values()), np.float64))
        with self._lock:
            t = self._v
            row = t.row_for(vf.id)
            values = {
                "alive": True, "open": vf.is_open,
                "valid_through": vf.valid_through.toordinal() if vf.valid_through else NO_DATE,
                "area": self._areas.index.get(vf.pc4, self._areas.unknown),
                "hours_lo": vf.hours[0], "hours_hi": vf.hours[1], "offers": self._offers(vf),
                "level_required": -128 if vf.level_required is None else vf.level_required,
                "region": self._regions.code(vf.region), "visibility": self._visibilities.code(vf.visibility),
                "leerwerkbaan": vf.is_leerwerkbaan, "banenafspraak": vf.banenafspraak_suitable,
                "occupation": -1 if vf.occupation is None else self._occupations.code(vf.occupation),
                "must_total": vf.must_total, "nice_total": vf.nice_total, "target_norm": vf.target_norm,
            }
            for name, value in values.items():
                t.columns[name][row] = value
            t.raggeds["must"].set(row, *must)
            t.raggeds["nice"].set(row, *nice)
            t.raggeds["target"].set(row, *target)
            for ragged in t.raggeds.values():
                ragged.maybe_compact(t.n)
            self._vacancy_facts[vf.id] = vf

    def remove_vacancy(self, vacancy_id: str) -> bool:
        with self._lock:
            self._vacancy_facts.pop(vacancy_id, None)
            return self._v.remove(vacancy_id)

    def vacancy_profile_facts(self, vacancy_id: str) -> VacancyFacts | None:
        return self._vacancy_facts.get(vacancy_id)

    @staticmethod
    def _offers(vf: VacancyFacts) -> int:
        bits = sum(OFFER_BITS[o] for o in vf.offers if o in OFFER_BITS)
        if not vf.heavy_lifting or vf.offers.intersection(LIFTING_RELIEF):
            bits |= LIGHT_WORK
        return bits

    # --- candidates for a vacancy ----------------------------------------------------

    def candidates_for_vacancy(self, vacancy: str | VacancyProfile, limit: int = 10, filters: dict | None = None,
                               near_misses: int = 3) -> Ranking:
        """The best ``limit`` candidates in the pool for a vacancy (an indexed id, or a
        profile to try out), with near-misses and the fairness counts."""
        filters = scoring.check_filters(filters, scoring.CANDIDATE_FILTERS)
        with self._lock:
            if isinstance(vacancy, VacancyProfile):
                vf = scoring.vacancy_facts(vacancy, self.knowledge)
            else:
                vf = self._vacancy_facts.get(vacancy)
                if vf is None:
                    raise KeyError(vacancy)
            return self._candidates_for(vf, limit, filters, near_misses)

    def _candidates_for(self, vf: VacancyFacts, limit: int, filters: dict, near_misses: int) -> Ranking:
        t, c = self._c, self._c.columns
        n = t.n
        area = self._areas.index.get(vf.pc4, self._areas.unknown)
        from_vacancy = self._areas.distances_from(area)
        # within reach, or within near-miss reach: everything else is out at once
        dist_all = from_vacancy[c["area"][:n]]
        reach_all = c["reach"][:n]
        inside = dist_all <= reach_all * NEAR_TRAVEL_FACTOR
        inside &= c["alive"][:n]
        inside &= c["in_pool"][:n]
        rows = np.flatnonzero(inside)
        rows = self._filter_candidates(rows, filters)
        dist = dist_all[rows]
        reach = reach_all[rows]

        fails = (dist > reach).astype(np.uint8)
        far = np.zeros(len(rows), np.bool_)
        hours_min, hours_max = c["hours_min"][rows], c["hours_max"][rows]
        gap = np.maximum(np.maximum(vf.hours[0] - hours_max.astype(np.int16), hours_min.astype(np.int16)
                                    - vf.hours[1]), 0)
        fails += gap > 0
        far |= gap > NEAR_HOURS
        missing = c["needs"][rows] & np.uint8(~self._offers(vf) & 0xFF)
        fails += POPCOUNT[missing]
        if vf.level_required is not None:
            short = vf.level_required - c["level"][rows].astype(np.int16)
            fails += short > 0
            far |= short > NEAR_LEVEL
        if vf.valid_through is not None:
            late = c["available_from"][rows].astype(np.int64) - vf.valid_through.toordinal()
            fails += late > 0
            far |= late > NEAR_AVAILABILITY_DAYS
        keep = (fails == 0) | ((fails == 1) & ~far)
        rows, dist, reach, fails, hours_max = rows[keep], dist[keep], reach[keep], fails[keep], hours_max[keep]

        # skills: one pass over the held skills gives strict misses and both coverages
        must_codes = [self._skills.code(s) for s, _ in vf.must]
        nice_codes = [self._skills.code(s) for s, _ in vf.nice]
        n_skills = len(self._skills.values)
        must_w = np.zeros(n_skills)
        nice_w = np.zeros(n_skills)
        strict = np.zeros(n_skills)
        for code, (s, w) in zip(must_codes, vf.must, strict=True):
            must_w[code] = w
            if not self.modules.closable(s):
                strict[code] = 1.0
        for code, (_, w) in zip(nice_codes, vf.nice, strict=True):
            nice_w[code] = w
        held = t.raggeds["held"]
        positions, firsts, lens = held.gather(rows)
        ids = held.data[0][positions]
        strength = STRENGTH_LUT[held.data[1][positions]]
        n_strict = int(strict.sum())
        if n_strict:
            fails += (n_strict - _segment_sum(strict[ids], firsts, lens)).round().astype(np.uint8)
        must = _segment_sum(must_w[ids] * strength, firsts, lens) / vf.must_total if vf.must else None
        nice = _segment_sum(nice_w[ids] * strength, firsts, lens) / vf.nice_total if vf.nice else None
        eligible = fails == 0
        near = (fails == 1) & (dist <= reach * NEAR_TRAVEL_FACTOR)  # far ones already dropped above
        scored = eligible | near
        rows, dist, reach, hours_max, eligible = (rows[scored], dist[scored], reach[scored], hours_max[scored],
                                                  eligible[scored])
        values = {
            "must_have": must[scored] if must is not None else np.ones(len(rows)),
            "nice_to_have": nice[scored] if nice is not None else np.full(len(rows), NEUTRAL),
            "occupation_fit": self._fit(rows, vf),
            "wishes": self._wishes(rows, vf, hours_max),
            "distance": _distance_values(dist, reach),
        }
        score = np.zeros(len(rows))
        for name in scoring.COMPONENTS:
            score = score + WEIGHTS[name] * values[name]
        return self._candidate_ranking(vf, rows, score, eligible, limit, near_misses)

    def _filter_candidates(self, rows: np.ndarray, filters: dict) -> np.ndarray:
        c = self._c.columns
        if "region" in filters:
            rows = rows[np.isin(c["region"][rows], self._regions.codes(filters["region"]))]
        if "cohort" in filters:
            rows = rows[np.isin(c["cohort"][rows], self._cohorts.codes(filters["cohort"]))]
        if "target_group" in filters:
            wanted = filters["target_group"]
            wanted = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else (wanted,)
            bits = sum(GROUP_BITS.get(g, 0) for g in set(wanted))
            rows = rows[(c["groups"][rows] & bits) != 0]
        if "banenafspraak" in filters:
            rows = rows[c["banenafspraak"][rows] == bool(filters["banenafspraak"])]
        return rows

    def _fit(self, rows: np.ndarray, vf: VacancyFacts) -> np.ndarray:
        if not vf.target_norm:
            return np.full(len(rows), NEUTRAL)
        lut = np.zeros(len(self.knowledge.concepts))
        lut[list(vf.target)] = list(vf.target.values())
        concepts = self._c.raggeds["concepts"]
        positions, firsts, lens = concepts.gather(rows)
        return _segment_sum(lut[concepts.data[0][positions]], firsts, lens) / vf.target_norm

    def _wishes(self, rows: np.ndarray, vf: VacancyFacts, hours_max: np.ndarray) -> np.ndarray:
        hours = np.minimum(vf.hours[1], hours_max) / hours_max
        occupation = np.full(len(rows), NEUTRAL)
        if vf.occupation is not None:
            code = self._occupations.code(vf.occupation)
            sims = np.zeros(len(self._occupations.values))
            if vf.occupation in self.knowledge.occupation_index:
                known = self.knowledge.similarities_to(vf.occupation)
                sims[:len(known)] = known
            sims[code] = 1.0
            wanted = self._c.raggeds["wanted"]
            positions, firsts, lens = wanted.gather(rows)
            occupation = _segment_max(sims[wanted.data[0][positions]], firsts, lens, NEUTRAL)
        return WISH_OCCUPATION_SHARE * occupation + (1 - WISH_OCCUPATION_SHARE) * hours

    def _candidate_ranking(self, vf, rows, score, eligible, limit, near_misses) -> Ranking:
        ids = self._c.ids
        top = _top(score[eligible], rows[eligible], max(limit, TOP_FOR_FAIRNESS), ids)
        near_top = _top(score[~eligible], rows[~eligible], near_misses, ids)
        groups = self._c.columns["groups"]
        pool_groups = groups[rows[eligible]]
        fair = {
            "eligible": int(len(pool_groups)),
            "eligible_by_group": {g: int(np.count_nonzero(pool_groups & bit)) for g, bit in GROUP_BITS.items()},
            "top": min(len(top), TOP_FOR_FAIRNESS),
            "top_by_group": {g: sum(1 for r, _ in top[:TOP_FOR_FAIRNESS] if groups[r] & bit)
                             for g, bit in GROUP_BITS.items()},
        }
        return Ranking(
            results=[self._explain(self._candidate_facts(r), vf, ids[r]) for r, _ in top[:limit]],
            near_misses=[self._explain(self._candidate_facts(r), vf, ids[r]) for r, _ in near_top],
            fairness=fair,
            scores=[s for _, s in top[:limit]],
            near_miss_scores=[s for _, s in near_top],
        )

    def _explain(self, cf: CandidateFacts, vf: VacancyFacts, result_id: str) -> dict:
        pair = scoring.evaluate(cf, vf, knowledge=self.knowledge, modules=self.modules)
        return pair.result(result_id, self.knowledge, self.modules)

    # --- vacancies for a candidate ---------------------------------------------------

    def vacancies_for_candidate(self, candidate_id: str, limit: int = 10, filters: dict | None = None,
                                near_misses: int = 3, today: date | None = None) -> Ranking:
        """Open vacancies with a free opening, not past their date, best first for this candidate."""
        filters = scoring.check_filters(filters, scoring.VACANCY_FILTERS)
        today = today or date.today()
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is None:
                raise KeyError(candidate_id)
            return self._vacancies_for(self._candidate_facts(row), limit, filters, near_misses, today)

    def _vacancies_for(self, cf: CandidateFacts, limit, filters, near_misses, today) -> Ranking:
        t, v = self._v, self._v.columns
        m = t.n
        ok = v["alive"][:m] & v["open"][:m] & (v["valid_through"][:m] >= today.toordinal())
        if "region" in filters:
            ok &= np.isin(v["region"][:m], self._regions.codes(filters["region"]))
        if "visibility" in filters:
            ok &= np.isin(v["visibility"][:m], self._visibilities.codes(filters["visibility"]))
        if "is_leerwerkbaan" in filters:
            ok &= v["leerwerkbaan"][:m] == bool(filters["is_leerwerkbaan"])
        if "banenafspraak_suitable" in filters:
            ok &= v["banenafspraak"][:m] == bool(filters["banenafspraak_suitable"])
        rows = np.flatnonzero(ok)
        area = self._areas.index.get(cf.pc4, self._areas.unknown)
        dist = self._areas.distances_from(area)[v["area"][rows]]
        fails = (~(dist <= cf.reach_km)).astype(np.uint8)  # an unknown area (NaN) fails
        far = ~(dist <= cf.reach_km * NEAR_TRAVEL_FACTOR)
        gap = np.maximum(np.maximum(v["hours_lo"][rows].astype(np.int16) - cf.hours[1],
                                    cf.hours[0] - v["hours_hi"][rows].astype(np.int16)), 0)
        fails += gap > 0
        far |= gap > NEAR_HOURS
        needs = sum(NEED_BITS[n] for n in cf.needs)
        fails += POPCOUNT[np.uint8(needs) & ~v["offers"][rows]]
        if cf.level is not None:
            required = v["level_required"][rows].astype(np.int16)
            short = np.where(required == -128, 0, required - cf.level)
            fails += short > 0
            far |= short > NEAR_LEVEL
        if cf.available_from is not None:
            late = cf.available_from.toordinal() - v["valid_through"][rows].astype(np.int64)
            fails += late > 0
            far |= late > NEAR_AVAILABILITY_DAYS
        keep = (fails == 0) | ((fails == 1) & ~far)
        rows, dist, fails = rows[keep], dist[keep], fails[keep]

        strength = np.zeros(len(self._skills.values))
        for s, code in cf.held.items():
            strength[self._skills.index[s]] = STRENGTH[code]
        must = t.raggeds["must"]
        positions, firsts, lens = must.gather(rows)
        skills, weights = must.data[0][positions], must.data[1][positions]
        strict = (~self._closable_lut()[skills]) & (strength[skills] == 0)
        fails += _segment_sum(strict.astype(np.float64), firsts, lens).round().astype(np.uint8)
        must_cov = _segment_sum(weights * strength[skills], firsts, lens)
        nice = t.raggeds["nice"]
        positions, firsts, nice_lens = nice.gather(rows)
        nice_cov = _segment_sum(nice.data[1][positions] * strength[nice.data[0][positions]], firsts, nice_lens)
        eligible = fails == 0
        scored = eligible | (fails == 1)
        rows, dist, eligible = rows[scored], dist[scored], eligible[scored]
        must_cov, nice_cov, lens, nice_lens = must_cov[scored], nice_cov[scored], lens[scored], nice_lens[scored]

        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "must_have": np.where(lens > 0, must_cov / v["must_total"][rows], 1.0),
                "nice_to_have": np.where(nice_lens > 0, nice_cov / v["nice_total"][rows], NEUTRAL),
            }
        lut = np.zeros(len(self.knowledge.concepts))
        lut[list(cf.concepts)] = 1.0
        target = t.raggeds["target"]
        positions, firsts, target_lens = target.gather(rows)
        covered = _segment_sum(target.data[1][positions] * lut[target.data[0][positions]], firsts, target_lens)
        norms = v["target_norm"][rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            values["occupation_fit"] = np.where(norms > 0, covered / norms, NEUTRAL)
        occupations = v["occupation"][rows]
        if cf.wanted:
            sims = np.zeros(len(rows))
            for wanted in cf.wanted:
                sims = np.maximum(sims, self._similarity_column(wanted)[np.maximum(occupations, 0)])
            wish = np.where(occupations >= 0, sims, NEUTRAL)
        else:
            wish = np.full(len(rows), NEUTRAL)
        hours = np.minimum(v["hours_hi"][rows], cf.hours[1]) / cf.hours[1]
        values["wishes"] = WISH_OCCUPATION_SHARE * wish + (1 - WISH_OCCUPATION_SHARE) * hours
        values["distance"] = _distance_values(dist, np.full(len(rows), cf.reach_km))
        score = np.zeros(len(rows))
        for name in scoring.COMPONENTS:
            score = score + WEIGHTS[name] * values[name]

        ids = t.ids
        top = _top(score[eligible], rows[eligible], limit, ids)
        near_top = _top(score[~eligible], rows[~eligible], near_misses, ids)
        facts = self._vacancy_facts
        return Ranking(
            results=[self._explain(cf, facts[ids[r]], ids[r]) for r, _ in top],
            near_misses=[self._explain(cf, facts[ids[r]], ids[r]) for r, _ in near_top],
            fairness=None,
            scores=[s for _, s in top],
            near_miss_scores=[s for _, s in near_top],
        )

    def _similarity_column(self, wanted: str) -> np.ndarray:
        """Similarity of a wanted occupation to every occupation code (same: 1.0)."""
        sims = np.zeros(len(self._occupations.values))
        if wanted in self.knowledge.occupation_index:
            known = self.knowledge.similarities_to(wanted)
            sims[:len(known)] = known
        if wanted in self._occupations.index:
            sims[self._occupations.index[wanted]] = 1.0
        return sims

    def _closable_lut(self) -> np.ndarray:
        key = (self.modules.version, len(self._skills.values))
        if self._closable[0] != key:
            lut = np.zeros(len(self._skills.values), np.bool_)
            for skill in self.modules.closable_skills():
                if skill in self._skills.index:
                    lut[self._skills.index[skill]] = True
            self._closable = (key, lut)
        return self._closable[1]

    # --- looking broader -------------------------------------------------------------

    def suggest_occupations(self, candidate_id: str, limit: int = 10) -> list[dict]:
        """ESCO occupations ranked by how well the candidate's skills transfer to them."""
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is None:
                raise KeyError(candidate_id)
            cf = self._candidate_facts(row)
        return scoring.suggest_occupations(cf, limit, self.knowledge, self.modules)


def _distance_values(dist: np.ndarray, reach: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(reach > 0, np.maximum(0.0, 1.0 - dist / reach), (dist == 0).astype(np.float64))
    value = np.where(np.isinf(reach), 1.0, value)
    return np.where(np.isnan(dist), 0.0, value)


def _top(score: np.ndarray, rows: np.ndarray, k: int, ids: list) -> list[tuple[int, float]]:
    """The best k (row, score), ties broken by id exactly as scoring.rank_key does."""
    if k <= 0 or not len(rows):
        return []
    key = np.round(score, 9)
    if len(rows) > k:
        kth = np.partition(-key, k - 1)[k - 1]
        chosen = np.flatnonzero(-key <= kth)
    else:
        chosen = np.arange(len(rows))
    ranked = sorted(chosen.tolist(), key=lambda i: (-key[i], ids[rows[i]]))[:k]
    return [(int(rows[i]), float(score[i])) for i in ranked]
