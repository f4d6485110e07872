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
    NEAR_SKILLS_STRICT,
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
MODES_OF = tuple(tuple(m for m, bit in MODE_BITS.items() if bits & bit) for bits in range(256))
CHECKS_OF = tuple(tuple(sorted(c for c, bit in CHECK_BITS.items() if bits & bit)) for bits in range(256))
STRENGTH_LUT = np.array(STRENGTH, dtype=np.float64)
LEVEL_UNKNOWN = 127  # passes any required level
# Reach bands (km, upper bounds) for the first cut: a candidate's cell is their PC4
# area and band, and a query keeps the cells whose band could reach the vacancy.
# 16 bands keep a cell number within 16 bits.
REACH_BANDS = np.array([1, 2, 3, 5, 7, 10, 13, 17, 22, 30, 40, 55, 75, 100, 150, np.inf])
NO_LIMIT = -1




class _Areas:
    """PC4 areas by index; the last index stands for an unknown area (distance NaN)."""

    def __init__(self):
        areas = refdata.postcode_areas()
        self.pc4 = sorted(areas)
        self.index = {p: i for i, p in enumerate(self.pc4)}
        self.unknown = len(self.pc4)
        self.lat = np.radians([areas[p].lat for p in self.pc4])
        self.lon = np.radians([areas[p].lon for p in self.pc4])
        self.cos_lat = np.cos(self.lat)
        self._cache: dict[int, np.ndarray] = {}

    def distances_from(self, area: int) -> np.ndarray:
        """km from this area's centroid to every area's, NaN for the unknown one."""
        found = self._cache.get(area)
        if found is None:
            found = np.full(self.unknown + 1, np.nan)
            if area != self.unknown:
                # as scoring.haversine_km, over all areas at once
                h = np.sin((self.lat - self.lat[area]) / 2) ** 2
                h += self.cos_lat[area] * self.cos_lat * np.sin((self.lon - self.lon[area]) / 2) ** 2
                found[:-1] = 2 * 6371.0 * np.arcsin(np.sqrt(np.minimum(1.0, h)))
            if len(self._cache) > 256:
                self._cache.clear()
            found.setflags(write=False)
            self._cache[area] = found
        return found


class _Ragged:
    """Variable-length rows in flat arrays. A row is (start, length); rewriting a
    row with more values appends it at the end; the garbage is compacted away once
    it outweighs the live values, so updates stay amortised O(row)."""

    COMPACT_MIN = 65536  # garbage values tolerated before a compaction is considered

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
        if self.garbage < self.COMPACT_MIN or self.garbage < self.size - self.garbage:
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
    """Per segment sums (of rows, for 2-D values), in order, as Python's sum adds."""
    out = np.zeros((len(lens), *values.shape[1:]))
    nonempty = lens > 0
    if len(values):
        out[nonempty] = np.add.reduceat(values, firsts[nonempty], axis=0)
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
    "alive": np.bool_, "in_pool": np.bool_, "active": np.bool_, "area": np.int16, "cell": np.uint16,
    "hours_min": np.uint8,
    "hours_max": np.uint8, "reach": np.float64, "needs": np.uint8, "level": np.int8, "available_from": np.int32,
    "region": np.int32,
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


class _CellIndex:
    """Rows grouped by cell (PC4 area and reach band), for the first cut of a query.

    Built by one stable sort; a row whose cell changes afterwards (or a new row)
    goes on a short list of moved rows instead, until that list outgrows a
    sixteenth of the rows and the sort is redone: O(1) per change, amortised."""

    NONE = np.iinfo(np.uint16).max
    REBUILD_MIN = 4096  # moved rows tolerated before a rebuild is considered

    def __init__(self, n_cells: int):
        self.start = np.zeros(n_cells + 1, np.int64)
        self.rows = np.zeros(0, np.int64)
        self.indexed = np.zeros(0, np.uint16)  # per row: the cell it is filed under, or NONE
        self.moved: list[int] = []

    def grow_rows(self, capacity: int) -> None:
        grown = np.full(capacity, self.NONE, np.uint16)
        grown[:len(self.indexed)] = self.indexed[:capacity]
        self.indexed = grown

    def changed(self, row: int, cell: int) -> None:
        if self.indexed[row] != cell:
            self.moved.append(row)

    def rebuild(self, cells: np.ndarray) -> None:
        self.rows = np.argsort(cells, kind="stable")
        self.start = np.searchsorted(cells[self.rows], np.arange(len(self.start)), side="left")
        self.indexed[:len(cells)] = cells
        self.moved = []

    def select(self, near_cells: np.ndarray, cells: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Active rows whose current cell is in ``near_cells`` (a mask over cells)."""
        if len(self.moved) > max(self.REBUILD_MIN, len(self.rows) // 16):
            self.rebuild(cells)
        ok = np.flatnonzero(near_cells)
        firsts, ends = self.start[ok], self.start[ok + 1]
        lens = ends - firsts
        total = int(lens.sum())
        positions = np.arange(total, dtype=np.int64)
        positions += np.repeat(firsts - (np.cumsum(lens) - lens), lens)
        rows = self.rows[positions]
        rows = rows[active[rows] & (cells[rows] == self.indexed[rows])]  # still filed under their cell
        if self.moved:
            moved = np.unique(np.array(self.moved, np.int64))
            moved = moved[active[moved] & near_cells[cells[moved]] & (cells[moved] != self.indexed[moved])]
            rows = np.concatenate((rows, moved))
        return rows

    def nbytes(self) -> int:
        return self.start.nbytes + self.rows.nbytes + self.indexed.nbytes + 8 * len(self.moved)


class _Table:
    """Named columns with a row count and capacity doubling; removed rows are reused."""

    def __init__(self, columns: dict, raggeds: dict):
        self.columns = {name: np.zeros(0, dtype) for name, dtype in columns.items()}
        self.raggeds = {name: _Ragged(dtypes) for name, dtypes in raggeds.items()}
        self.n = 0
        self.free: list[int] = []
        self.ids: list[str | None] = []
        self.row_of: dict[str, int] = {}
        self.cells: _CellIndex | None = None

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
            if self.cells is not None:
                self.cells.grow_rows(capacity)

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
        arrays += self.cells.nbytes() if self.cells is not None else 0
        # ids: the list's pointers, the strings, and the dict's entries (about 100 bytes each)
        strings = sum(len(i) + 49 for i in self.ids if i is not None)
        return arrays + 8 * len(self.ids) + strings + 100 * len(self.row_of)


class _Prepared:
    """What a query needs of a vacancy as arrays, built once per vacancy version."""

    def __init__(self, index: MatchingIndex, vf: VacancyFacts):
        self.vf = vf
        skills = index._skills
        self.codes = np.array([skills.code(s) for s, _ in vf.must] + [skills.code(s) for s, _ in vf.nice], np.int64)
        self.modules_version = index.modules.version
        self.strict = np.array([not index.modules.closable(s) for s, _ in vf.must] + [False] * len(vf.nice))
        self.weights = np.zeros((len(self.codes), 3))
        if vf.must:
            self.weights[:len(vf.must), 0] = [w / vf.must_total for _, w in vf.must]
        if vf.nice:
            self.weights[len(vf.must):, 1] = [w / vf.nice_total for _, w in vf.nice]
        self.weights[:, 2] = self.strict
        self.concepts = np.fromiter(vf.target, np.int64, len(vf.target))
        self.concept_weights = np.fromiter(vf.target.values(), np.float64, len(vf.target))
        if len(skills.values) > len(index._skill_flag):
            index._skill_lut = np.zeros((2 * len(skills.values), 3))
            index._skill_flag = np.zeros(2 * len(skills.values), np.bool_)
        if vf.occupation in index.knowledge.occupation_index:
            index.knowledge.similarities_to(vf.occupation)  # warm the row wishes read


class _Scores:
    """Component values and scores of the rows left after the constraints."""

    def __init__(self, index: MatchingIndex, vf: VacancyFacts, prep: _Prepared, rows: np.ndarray,
                 cheap: dict[str, np.ndarray], hours_max: np.ndarray):
        self.index, self.rows = index, rows
        self.cheap = cheap
        self.fit = index._fit(rows, vf, prep)
        hours = np.minimum(vf.hours[1], hours_max) / hours_max
        occupation = index._occupation_wish(rows, vf)
        self.wishes = WISH_OCCUPATION_SHARE * occupation + (1 - WISH_OCCUPATION_SHARE) * hours
        # in the order scoring.total adds them
        self.total = (WEIGHTS["must_have"] * cheap["must_have"] + WEIGHTS["nice_to_have"] * cheap["nice_to_have"]
                      + WEIGHTS["occupation_fit"] * self.fit + WEIGHTS["wishes"] * self.wishes
                      + WEIGHTS["distance"] * cheap["distance"])

    def top(self, among: np.ndarray, k: int) -> list[int]:
        return _top(self.total, among, k, self.index._c.ids, self.rows)

    def score(self, i: int) -> float:
        return float(self.total[i])

    def values(self, i: int) -> dict[str, float]:
        c = self.cheap
        return {"must_have": float(c["must_have"][i]), "nice_to_have": float(c["nice_to_have"][i]),
                "occupation_fit": float(self.fit[i]), "wishes": float(self.wishes[i]),
                "distance": float(c["distance"][i])}


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
        # scratch lookup tables, zero between queries: must/nice weight and strictness per
        # skill, target weight per concept
        self._skill_lut = np.zeros((len(self._skills.values) + 1024, 3))
        self._skill_flag = np.zeros(len(self._skills.values) + 1024, np.bool_)
        self._concept_lut = np.zeros(len(self.knowledge.concepts))
        self._prep: dict[str, _Prepared] = {}
        self._band_reach = REACH_BANDS * NEAR_TRAVEL_FACTOR
        self._c.cells = _CellIndex((self._areas.unknown + 1) * len(REACH_BANDS))

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
        band = int(np.searchsorted(REACH_BANDS, cf.reach_km))  # the first band reaching as far
        return {
            "alive": True, "area": area, "cell": area * len(REACH_BANDS) + band,
            "hours_min": cf.hours[0], "hours_max": cf.hours[1],
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
            t.columns["active"][row] = t.columns["in_pool"][row]
            t.cells.changed(row, scalars["cell"])
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
                self._c.active[row] = False
            return self._c.remove(candidate_id)

    def set_in_pool(self, candidate_id: str, in_pool: bool) -> bool:
        """A recorded placement takes the candidate out of the pool; an ended one puts them back."""
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is None:
                return False
            self._c.in_pool[row] = in_pool
            self._c.active[row] = in_pool
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
            columns["active"].append(cf.id not in placed)
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
        t.cells.rebuild(t.cell[:n])
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
            self._prep[vf.id] = _Prepared(self, vf)

    def remove_vacancy(self, vacancy_id: str) -> bool:
        with self._lock:
            self._vacancy_facts.pop(vacancy_id, None)
            self._prep.pop(vacancy_id, None)
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
        prep = self._prepared(vf)
        if prep.modules_version != self.modules.version:
            prep = self._prepared(vf, refresh=True)
        from_vacancy = self._areas.distances_from(self._areas.index.get(vf.pc4, self._areas.unknown))
        # the cells (area, reach band) from which the vacancy is within near-miss reach
        near_cells = (from_vacancy[:, None] <= self._band_reach[None, :]).ravel()
        rows = t.cells.select(near_cells, c["cell"][:t.n], c["active"][:t.n])
        rows = self._filter_candidates(rows, filters)

        # the hard constraints, counted; a row failing one, only just, stays as a near-miss
        dist = from_vacancy[c["area"][rows]]
        reach = c["reach"][rows]
        fails = (dist > reach).view(np.uint8)
        far = dist > reach * NEAR_TRAVEL_FACTOR
        hours_max = c["hours_max"][rows]
        gap = np.maximum(vf.hours[0] - hours_max.astype(np.int16), c["hours_min"][rows] - np.int16(vf.hours[1]))
        fails = fails + (gap > 0)
        far |= gap > NEAR_HOURS
        fails += POPCOUNT[c["needs"][rows] & np.uint8(~self._offers(vf) & 0xFF)]
        if vf.level_required is not None:
            short = vf.level_required - c["level"][rows].astype(np.int16)
            fails += short > 0
            far |= short > NEAR_LEVEL
        if vf.valid_through is not None:
            late = c["available_from"][rows] - np.int32(vf.valid_through.toordinal())
            fails += late > 0
            far |= late > NEAR_AVAILABILITY_DAYS
        keep = np.flatnonzero((fails < 2) & ~far)
        rows, dist, reach, fails, hours_max = rows[keep], dist[keep], reach[keep], fails[keep], hours_max[keep]

        # one pass over the held skills: must-have and nice-to-have coverage, strict misses
        must, nice, held_strict = self._skill_sums(rows, prep)
        n_strict = int(prep.strict.sum())
        if n_strict:
            missing = (n_strict - held_strict).round().astype(np.uint8)
            fails = fails + missing
            if n_strict < NEAR_SKILLS_STRICT:
                fails[missing > 0] = 2  # lacking the one key skill is no near-miss
        scored = np.flatnonzero(fails < 2)
        eligible = fails[scored] == 0
        rows, dist, reach, hours_max = rows[scored], dist[scored], reach[scored], hours_max[scored]
        scoring_ = _Scores(self, vf, prep, rows, {
            "must_have": must[scored] if vf.must else np.ones(len(rows)),
            "nice_to_have": nice[scored] if vf.nice else np.full(len(rows), NEUTRAL),
            "distance": _distance_values(dist, reach),
        }, hours_max)
        top = scoring_.top(np.flatnonzero(eligible), max(limit, TOP_FOR_FAIRNESS))
        near_top = scoring_.top(np.flatnonzero(~eligible), near_misses)
        return self._candidate_ranking(vf, rows, eligible, scoring_, top, near_top, dist, limit)

    def _skill_sums(self, rows: np.ndarray, prep: _Prepared):
        """Per row: must-have and nice-to-have coverage, and how many strict must-haves held."""
        held = self._c.raggeds["held"]
        positions, firsts, lens = held.gather(rows)
        skill_ids = held.data[0][positions]
        flag = self._skill_flag
        flag[prep.codes] = True
        hit = np.flatnonzero(flag[skill_ids])
        flag[prep.codes] = False
        segment = np.searchsorted(firsts + lens, hit, side="right")  # the row each hit belongs to
        hit_ids = skill_ids[hit]
        strength = STRENGTH_LUT[held.data[1][positions[hit]]]
        lut = self._skill_lut
        lut[prep.codes] = prep.weights  # (must share, nice share, strict) per required skill
        parts = lut[hit_ids]
        lut[prep.codes] = 0.0
        return (np.bincount(segment, parts[:, 0] * strength, len(rows)),
                np.bincount(segment, parts[:, 1] * strength, len(rows)),
                np.bincount(segment, parts[:, 2], len(rows)))

    def _prepared(self, vf: VacancyFacts, refresh: bool = False) -> _Prepared:
        """A vacancy's lookup data, kept until it changes (or the modules do)."""
        found = self._prep.get(vf.id)
        if found is None or found.vf is not vf or refresh:
            found = _Prepared(self, vf)
            if vf.id in self._vacancy_facts and self._vacancy_facts[vf.id] is vf:
                self._prep[vf.id] = found
        return found

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

    def _fit(self, rows: np.ndarray, vf: VacancyFacts, prep: _Prepared) -> np.ndarray:
        if not vf.target_norm:
            return np.full(len(rows), NEUTRAL)
        lut = self._concept_lut
        lut[prep.concepts] = prep.concept_weights
        ragged = self._c.raggeds["concepts"]
        positions, firsts, lens = ragged.gather(rows)
        covered = _segment_sum(lut[ragged.data[0][positions]], firsts, lens)
        lut[prep.concepts] = 0.0
        return covered / vf.target_norm

    def _occupation_wish(self, rows: np.ndarray, vf: VacancyFacts) -> np.ndarray:
        if vf.occupation is None:
            return np.full(len(rows), NEUTRAL)
        ragged = self._c.raggeds["wanted"]
        positions, firsts, lens = ragged.gather(rows)
        return _segment_max(self._similarities(vf.occupation, ragged.data[0][positions]), firsts, lens, NEUTRAL)

    def _similarities(self, occupation: str, wanted: np.ndarray) -> np.ndarray:
        """knowledge.occupation_similarity(w, occupation) for each wanted occupation code w."""
        code = self._occupations.code(occupation)
        if occupation in self.knowledge.occupation_index:
            row = self.knowledge.similarities_to(occupation)
            sims = row[np.minimum(wanted, len(row) - 1)]
            sims[wanted >= len(row)] = 0.0
        else:
            sims = np.zeros(len(wanted))
        sims[wanted == code] = 1.0
        return sims

    def _candidate_ranking(self, vf, rows, eligible, scores: _Scores, top, near_top, dist, limit) -> Ranking:
        ids = self._c.ids
        groups = self._c.columns["groups"]
        pool_groups = groups[rows[eligible]]
        top_groups = groups[rows[top[:TOP_FOR_FAIRNESS]]]
        fair = {
            "eligible": int(len(pool_groups)),
            "eligible_by_group": _group_counts(pool_groups),
            "top": int(len(top_groups)),
            "top_by_group": _group_counts(top_groups),
        }
        explainer = scoring.Explainer(vf, self.knowledge, self.modules)
        results = []
        for i in top[:limit]:
            row = int(rows[i])
            held, concepts, modes, wanted, to_check = self._row_view(row)
            results.append(explainer.result(ids[row], scores.score(i), scores.values(i), held=held, concepts=concepts,
                                            distance=float(dist[i]), modes=modes, wanted=wanted, to_check=to_check))
        near = []
        for i in near_top:
            cf = self._candidate_facts(int(rows[i]))
            distance = float(dist[i])
            near.append(explainer.result(
                cf.id, scores.score(i), scores.values(i), held=cf.held, concepts=cf.concepts, distance=distance,
                modes=cf.modes, wanted=cf.wanted, to_check=cf.to_check,
                failures=scoring.failures(cf, vf, distance, self.modules)))
        return Ranking(results=results, near_misses=near, fairness=fair,
                       scores=[scores.score(i) for i in top[:limit]],
                       near_miss_scores=[scores.score(i) for i in near_top])

    def _row_view(self, row: int):
        """What a served result needs of a stored candidate, cheaper than all its facts."""
        c = self._c.columns
        held_ids, _ = self._c.raggeds["held"].row(row)
        skills = self._skills.values
        held = {skills[s] for s in held_ids.tolist()}
        (concepts,) = self._c.raggeds["concepts"].row(row)
        (wanted,) = self._c.raggeds["wanted"].row(row)
        modes = MODES_OF[c["modes"][row]]
        to_check = CHECKS_OF[c["to_check"][row]]
        odd = self._odd_candidates.get(row)
        if odd:
            to_check = tuple(sorted((*to_check, *odd[1])))
        occupations = self._occupations.values
        return held, frozenset(concepts.tolist()), modes, tuple(occupations[o] for o in wanted.tolist()), to_check

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
        top = _top(score, np.flatnonzero(eligible), limit, ids, rows)
        near_top = _top(score, np.flatnonzero(~eligible), near_misses, ids, rows)
        facts = self._vacancy_facts
        columns = [values[name] for name in scoring.COMPONENTS]

        def result(i: int, failures=()) -> dict:
            vf = facts[ids[rows[i]]]
            distance = float(dist[i])
            return scoring.Explainer(vf, self.knowledge, self.modules).result(
                vf.id, float(score[i]), dict(zip(scoring.COMPONENTS, (float(v[i]) for v in columns), strict=True)),
                held=cf.held, concepts=cf.concepts, distance=distance, modes=cf.modes, wanted=cf.wanted,
                to_check=cf.to_check, failures=failures and scoring.failures(cf, vf, distance, self.modules))

        return Ranking(
            results=[result(i) for i in top],
            near_misses=[result(i, failures=True) for i in near_top],
            fairness=None,
            scores=[float(score[i]) for i in top],
            near_miss_scores=[float(score[i]) for i in near_top],
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


GROUP_BIT_ARRAY = np.array(list(GROUP_BITS.values()), np.uint8)


def _group_counts(groups: np.ndarray) -> dict[str, int]:
    counts = np.count_nonzero(groups[:, None] & GROUP_BIT_ARRAY, axis=0).tolist()
    return dict(zip(GROUP_BITS, counts, strict=True))


def _distance_values(dist: np.ndarray, reach: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(reach > 0, np.maximum(0.0, 1.0 - dist / reach), (dist == 0).astype(np.float64))
    value = np.where(np.isinf(reach), 1.0, value)
    return np.where(np.isnan(dist), 0.0, value)


def _top(score: np.ndarray, among: np.ndarray, k: int, ids: list, rows: np.ndarray) -> list[int]:
    """Positions (into ``score``) of the best k of ``among``, ties by id as scoring.rank_key."""
    if k <= 0 or not len(among):
        return []
    key = np.round(score[among], 9)
    if len(among) > k:
        kth = np.partition(key, len(key) - k)[len(key) - k]
        chosen = np.flatnonzero(key >= kth)
    else:
        chosen = np.arange(len(among))
    ranked = sorted(chosen.tolist(), key=lambda i: (-key[i], ids[rows[among[i]]]))[:k]
    return [int(among[i]) for i in ranked]
