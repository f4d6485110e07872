"""The in-memory matching index: candidates and vacancies as numpy columns.

Every candidate is a row of fixed-width columns (PC4 area, reach, hours, needs,
level, the filters) and three variable-length rows kept in flat arrays: held
skills with their level, the skill-tree concepts those skills reach, wanted
occupations. A query takes the candidates whose (area, reach band) cell could
reach the vacancy and whose hours are near enough, then checks the hard
constraints and scores the eligible and the near-misses in one compiled pass
(``kernels``). Rows lie in memory by cell, areas along a Hilbert curve, so that
pass reads a few long stretches: its cost is waiting for memory. Only the results
served are read back and written by ``scoring.Explainer``, the code the
brute-force reference writes with, so texts cannot drift apart.

Updates are incremental: a changed profile rewrites its row (a longer row moves
to the end of its flat arrays, compacted once they are half garbage), columns
grow by doubling, removed rows are reused. Only the anonymous matching profile
is held; nothing is persisted: ``load`` rebuilds from matching's own tables.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from collections.abc import Iterable
from datetime import date

import numpy as np
from scipy import sparse

from matching import esco, kernels, scoring
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
from werkbrug_shared import clock, refdata, visibility
from werkbrug_shared.visibility import Viewer

NEED_BITS = {need: 1 << i for i, need in enumerate((*CONDITION_OFFERS, "no_heavy_lifting"))}
OFFER_BITS = {offer: NEED_BITS[need] for need, offer in CONDITION_OFFERS.items()}
LIGHT_WORK = NEED_BITS["no_heavy_lifting"]  # offered when no must-have needs heavy lifting, or it is relieved
CHECK_BITS = {c: 1 << i for i, c in enumerate(UNCHECKED_CONDITIONS)}
GROUP_BITS = {g: 1 << i for i, g in enumerate(TARGET_GROUPS)}
MODE_BITS = {m: 1 << i for i, m in enumerate(scoring.SPEED_KMH)}
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
MODES_OF = tuple(tuple(m for m, bit in MODE_BITS.items() if bits & bit) for bits in range(256))
CHECKS_OF = tuple(tuple(sorted(c for c, bit in CHECK_BITS.items() if bits & bit)) for bits in range(256))
GROUPS_OF = tuple(tuple(g for g, bit in GROUP_BITS.items() if bits & bit) for bits in range(256))
NEEDS_OF = tuple(tuple(n for n, bit in NEED_BITS.items() if bits & bit) for bits in range(256))
# and back: a tuple of names (in their bits' order) to its bits
NEED_CODE = {names: bits for bits, names in enumerate(NEEDS_OF[:1 << len(NEED_BITS)])}
GROUP_CODE = {names: bits for bits, names in enumerate(GROUPS_OF[:1 << len(GROUP_BITS)])}
MODE_CODE = {names: bits for bits, names in enumerate(MODES_OF[:1 << len(MODE_BITS)])}
STRENGTH_LUT = np.array(STRENGTH, dtype=np.float64)
# per kernels.score_rows why bits, the constraints failed (scoring.CONSTRAINTS names, FAILED_* bits)
FAILED = tuple(frozenset(c for i, c in enumerate(scoring.CONSTRAINTS) if bits >> i & 1) for bits in range(256))
assert (kernels.FAILED_HOURS, kernels.FAILED_TRAVEL, kernels.FAILED_CONDITIONS, kernels.FAILED_LEVEL,
        kernels.FAILED_SKILLS, kernels.FAILED_AVAILABILITY) == tuple(1 << i for i in range(len(scoring.CONSTRAINTS)))
MASK_GAPS = 63  # gaps entries a compiled held mask holds (an int64's bits)
NO_CODES = np.zeros(0, np.int64)
NO_SIMILARITIES = np.zeros(0)
NO_SIMILARITIES.setflags(write=False)  # as ESCO's rows are: one compiled signature for both
assert scoring.COMPONENTS == ("must_have", "nice_to_have", "occupation_fit", "wishes", "distance")  # kernels' order
# what the compiled pass weighs and allows (kernels.P_* positions)
KERNEL_PARAMS = np.zeros(kernels.N_PARAMS)
(KERNEL_PARAMS[kernels.P_NEAR_TRAVEL], KERNEL_PARAMS[kernels.P_NEAR_HOURS], KERNEL_PARAMS[kernels.P_NEAR_LEVEL],
 KERNEL_PARAMS[kernels.P_NEAR_DAYS], KERNEL_PARAMS[kernels.P_NEAR_STRICT], KERNEL_PARAMS[kernels.P_NEUTRAL],
 KERNEL_PARAMS[kernels.P_WISH_SHARE]) = (NEAR_TRAVEL_FACTOR, NEAR_HOURS, NEAR_LEVEL, NEAR_AVAILABILITY_DAYS,
                                          NEAR_SKILLS_STRICT, NEUTRAL, WISH_OCCUPATION_SHARE)
(KERNEL_PARAMS[kernels.P_W_MUST], KERNEL_PARAMS[kernels.P_W_NICE], KERNEL_PARAMS[kernels.P_W_FIT],
 KERNEL_PARAMS[kernels.P_W_WISHES], KERNEL_PARAMS[kernels.P_W_DISTANCE]) = (WEIGHTS[k] for k in scoring.COMPONENTS)
WEIGHT_VALUES = np.array(scoring.WEIGHT_ROW)
LEVEL_UNKNOWN = 127  # passes any required level
# Reach bands (km, upper bounds) for the first cut: a candidate's cell is their PC4
# area and band, and a query keeps the cells whose band could reach the vacancy.
# Bands grow by about a sixth, so a band's bound overshoots a reach by 8% on average.
REACH_BANDS = np.array([*np.round(np.geomspace(1.0, 300.0, 35), 2), np.inf])
REACH_BAND_LIST = REACH_BANDS.tolist()
NO_LIMIT = -1
EARTH_KM = 6371.0


def _hilbert_position(side: int, x: int, y: int) -> int:
    """Where cell (x, y) of a ``side`` x ``side`` grid (a power of two) lies along a Hilbert
    curve: cells near each other on the map are mostly near each other along it."""
    position, s = 0, side // 2
    while s:
        rx, ry = int(x & s > 0), int(y & s > 0)
        position += s * s * ((3 * rx) ^ ry)
        if not ry:
            if rx:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s //= 2
    return position


class _Areas:
    """PC4 areas by index; the last index stands for an unknown area (distance NaN).

    Areas are numbered along a Hilbert curve over the map. Candidates' rows are laid out
    area by area, so the areas a query reaches lie in a few long stretches of memory
    rather than scattered over it (a query's cost is mostly waiting for memory)."""

    GRID = 1024

    def __init__(self):
        areas = refdata.postcode_areas()
        self.pc4 = sorted(areas, key=self._along_curve(areas))
        self.index = {p: i for i, p in enumerate(self.pc4)}
        self.unknown = len(self.pc4)
        self.lat = np.radians([areas[p].lat for p in self.pc4])
        self.lon = np.radians([areas[p].lon for p in self.pc4])
        self.cos_lat = np.cos(self.lat)
        self._cache: dict[int, np.ndarray] = {}
        self._in_reach: dict[int, tuple] = {}  # area -> (max band, areas, km, first band): in_reach
        self.min_cos = float(self.cos_lat.min()) if len(self.pc4) else 1.0

    @classmethod
    def _along_curve(cls, areas: dict):
        """A sort key: the area's position along the curve, then its PC4."""
        if not areas:
            return str
        lats, lons = [a.lat for a in areas.values()], [a.lon for a in areas.values()]
        south, west = min(lats), min(lons)
        per_lat = (cls.GRID - 1) / max(max(lats) - south, 1e-9)
        per_lon = (cls.GRID - 1) / max(max(lons) - west, 1e-9)

        def key(pc4: str) -> tuple[int, str]:
            a = areas[pc4]
            return _hilbert_position(cls.GRID, int((a.lon - west) * per_lon), int((a.lat - south) * per_lat)), pc4
        return key

    def distances_from(self, area: int) -> np.ndarray:
        """km from this area's centroid to every area's, NaN for the unknown one."""
        found = self._cache.get(area)
        if found is None:
            found = np.full(self.unknown + 1, np.nan)
            if area != self.unknown:
                found[:-1] = kernels.distances_km(area, self.lat, self.lon, self.cos_lat)
            if len(self._cache) > 256:
                self._cache.clear()
            found.setflags(write=False)
            self._cache[area] = found
        return found

    def box(self, area: int, km: float) -> tuple[float, float]:
        """Half the span of latitudes and of longitudes (radians) around this area that
        holds every area within ``km`` (a superset). A great circle is at least R * dlat, and
        at least 2R * asin(sqrt(cos lat0 * cos lat) * sin(dlon / 2)) with cos lat no less than
        the northernmost area's (one country: within half a turn of longitude)."""
        if not km < EARTH_KM:  # any reach: every area
            return math.inf, math.inf
        margin = 1 + 1e-9  # rounding error to spare
        q = math.sin(km / (2 * EARTH_KM)) / math.sqrt(self.cos_lat[area] * self.min_cos) * margin
        return km / EARTH_KM * margin + 1e-12, (2 * math.asin(q) + 1e-12 if q < 1 else math.inf)

    def in_reach(self, area: int, band_reach: np.ndarray, max_band: int):
        """``kernels.areas_in_reach`` of this area for bands up to ``max_band``: kept per
        area (a query's first cut then measures no distance), while no band beyond that
        one is asked for. At most one entry an area: bounded by the country, not by how
        many vacancies there are."""
        found = self._in_reach.get(area)
        if found is None or found[0] < max_band:
            lat_span, lon_span = self.box(area, float(band_reach[max_band]))
            found = self._in_reach[area] = (max_band, *kernels.areas_in_reach(
                area, self.lat, self.lon, self.cos_lat, lat_span, lon_span, band_reach, len(band_reach)))
        return found[1:]

    def nbytes(self) -> int:
        return sum(a.nbytes + km.nbytes + band.nbytes for _, a, km, band in self._in_reach.values())


class _Ragged:
    """Variable-length rows in flat arrays. A row is (start, length); rewriting a
    row with more values appends it at the end; the garbage is compacted away once
    it outweighs the live values, so updates stay amortised O(row)."""

    COMPACT_MIN = 65536  # garbage values tolerated before a compaction is considered
    # a packed table keeps spans as uint32 start and uint16 length (a narrower record is a faster query)
    MAX_VALUES, MAX_ROW = 2**32, 2**16 - 1

    def __init__(self, dtypes):
        self.data = [np.empty(1024, np.dtype(d)) for d in dtypes]
        self.size = 0
        self.garbage = 0
        self.starts = np.zeros(0, np.int64)
        self.lens = np.zeros(0, np.int32)

    def grow_rows(self, capacity: int) -> None:
        self.starts = _resized(self.starts, capacity)
        self.lens = _resized(self.lens, capacity)

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > self.MAX_VALUES:
            raise OverflowError(f"more than {self.MAX_VALUES} values in one ragged column")
        if need > len(self.data[0]):
            capacity = max(need, 2 * len(self.data[0]))
            self.data = [_resized(d, capacity) for d in self.data]

    def set(self, row: int, *values) -> None:
        n = len(values[0])
        if n > self.MAX_ROW:
            raise ValueError(f"a row of {n} values; at most {self.MAX_ROW}")
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
        if len(lens) and lens.max() > self.MAX_ROW:
            raise ValueError(f"a row of {lens.max()} values; at most {self.MAX_ROW}")
        self._reserve(total)
        for d, v in zip(self.data, values, strict=True):
            d[self.size:self.size + total] = v
        ends = np.cumsum(lens, dtype=np.int64)
        self.starts[first_row:first_row + len(lens)] = self.size + ends - lens
        self.lens[first_row:first_row + len(lens)] = lens
        self.size += total

    def gather(self, rows: np.ndarray):
        """Flat positions of ``rows``' values, in row order, and each row's segment."""
        # [], not take(): take() copies a strided view (a packed table's spans) whole first
        lens = self.lens[rows]
        ends = lens.cumsum(dtype=np.int64)
        firsts = ends - lens
        positions = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        positions += (self.starts[rows] - firsts).repeat(lens)
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
    if len(lens) and lens.min() > 0:
        return np.add.reduceat(values, firsts, axis=0)
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


# what a result read back from a row needs (see _served), and whole facts besides (_facts_of)
SERVED_COLUMNS = ("modes", "to_check")
FACT_COLUMNS = ("area", "region", "groups", "cohort", "banenafspraak", "hours_min", "hours_max", "reach", "minutes",
                "km", "needs", "level", "available_from", "held.start", "held.len", "concepts.start", "concepts.len",
                "wanted.start", "wanted.len")
CANDIDATE_COLUMNS = {
    "alive": np.bool_, "in_pool": np.bool_, "active": np.bool_,  # active: alive and in the pool
    "area": np.int16, "cell": np.uint32, "reach": np.float64, "minutes": np.int16, "km": np.int16, "modes": np.uint8,
    "hours_min": np.uint8, "hours_max": np.uint8, "needs": np.uint8, "to_check": np.uint8, "level": np.int8,
    "available_from": np.int32, "region": np.int32, "cohort": np.int32, "groups": np.uint8, "banenafspraak": np.bool_
}
VACANCY_COLUMNS = {
    "alive": np.bool_, "open": np.bool_, "valid_through": np.int32, "area": np.int16, "hours_lo": np.uint8,
    "hours_hi": np.uint8, "offers": np.uint8, "level_required": np.int8, "region": np.int32,
    "visibility": np.int32, "leerwerkbaan": np.bool_, "banenafspraak": np.bool_, "occupation": np.int32,
    "must_total": np.float64, "nice_total": np.float64, "target_norm": np.float64,
}
NO_DATE = np.iinfo(np.int32).max
# the candidate columns a query reads row by row (kernels.select_rows, kernels.score_rows): packed
QUERY_COLUMNS = ("reach", "hours_min", "hours_max", "needs", "level", "available_from", "groups")


class _CellIndex:
    """Rows grouped by cell (PC4 area and reach band), for the first cut of a query.

    Built by one stable sort; a row whose cell changes afterwards (or a new row)
    goes on a short list of moved rows instead, until that list outgrows a
    sixteenth of the rows and the sort is redone: O(1) per change, amortised.

    Beside each filed row lie its least and most hours a week, so the first cut also
    leaves out rows whose hours are too far off the vacancy's without reading their
    record elsewhere in memory (a third of the rows, for a full-time vacancy); a row
    whose hours change is refiled as if it moved."""

    NONE = np.iinfo(np.uint32).max
    REBUILD_MIN = 4096  # moved rows tolerated before a rebuild is considered

    def __init__(self, n_areas: int, bands: int):
        self.bands = bands
        self.start = np.zeros(n_areas * bands + 1, np.int64)
        self.rows = np.zeros(0, np.int64)
        self.indexed = np.zeros(0, np.uint32)  # per row: the cell it is filed under, or NONE
        self.hours = np.zeros((0, 2), np.uint8)  # per filed row (as ``rows``): least and most hours
        self.moved: list[int] = []
        self.max_band = 0  # no row has a higher band (removed rows may count): how far a query must look

    def grow_rows(self, capacity: int) -> None:
        grown = np.full(capacity, self.NONE, np.uint32)
        grown[:len(self.indexed)] = self.indexed[:capacity]
        self.indexed = grown

    def changed(self, row: int, cell: int, hours_changed: bool = False) -> None:
        self.max_band = max(self.max_band, cell % self.bands)
        if hours_changed:
            self.indexed[row] = self.NONE  # the hours filed with it are stale: no longer filed
        if self.indexed[row] != cell:
            self.moved.append(row)

    def rebuild(self, cells: np.ndarray, hours_min: np.ndarray, hours_max: np.ndarray) -> None:
        self.rows = np.argsort(cells, kind="stable")
        self.start = np.searchsorted(cells[self.rows], np.arange(len(self.start)), side="left")
        self.hours = np.stack((hours_min[self.rows], hours_max[self.rows]), axis=1)
        self.indexed[:len(cells)] = cells
        self.moved = []
        self.max_band = int((cells % self.bands).max()) if len(cells) else 0

    def select(self, areas: _Areas, area: int, band_reach: np.ndarray, hours: tuple[int, int, int],
               cells: np.ndarray, active: np.ndarray, hours_min: np.ndarray,
               hours_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Active rows whose cell's band could reach ``area`` (``band_reach``: each band's
        reach, ascending), and each row's km from it. Cells are numbered area by area, so
        per area the rows wanted are one run of the sorted rows. ``hours``: the vacancy's
        least and most hours, and how far off a row's may be (rows not filed yet are not
        held to it here: the query pass checks it again anyway)."""
        bands = self.bands
        if len(self.moved) > max(self.REBUILD_MIN, len(self.rows) // 16):
            self.rebuild(cells, hours_min, hours_max)
        if area == areas.unknown:  # no distance to anyone: nobody in reach
            return np.zeros(0, np.int64), np.zeros(0)
        seen, seen_km, seen_band = areas.in_reach(area, band_reach, self.max_band)
        rows, row_km = kernels.select_rows(seen, seen_km, seen_band, bands, self.start, self.rows, *hours, self.hours,
                                           active, cells, self.indexed, bool(self.moved))
        if self.moved:
            band_from = np.full(len(self.start) // bands, bands)
            band_from[seen] = seen_band
            km_from = np.zeros(len(band_from))
            km_from[seen] = seen_km
            moved = np.unique(np.array(self.moved, np.int64))
            cell = cells[moved]
            wanted = (cell % bands) >= band_from[cell // bands]
            moved = moved[active[moved] & wanted & (cell != self.indexed[moved])]
            rows, row_km = np.concatenate((rows, moved)), np.concatenate((row_km, km_from[cells[moved] // bands]))
        return rows, row_km

    def nbytes(self) -> int:
        return self.start.nbytes + self.rows.nbytes + self.hours.nbytes + self.indexed.nbytes + 8 * len(self.moved)


def _record_type(fields: list[tuple[str, type]]) -> np.dtype:
    """A record of these fields, widest first: aligned without holes."""
    return np.dtype(sorted(fields, key=lambda f: -np.dtype(f[1]).itemsize), align=True)


class _Table:
    """Named columns with a row count and capacity doubling; removed rows are reused.

    ``packed`` columns, and every ragged row's span, are fields of one record per row
    rather than arrays of their own: a query reads them row by row, scattered over the
    table, and memory latency, not arithmetic, is what such a pass costs (one cache line
    per row instead of one per column and row: the pass took about a third the time)."""

    def __init__(self, columns: dict, raggeds: dict, packed: tuple[str, ...] = ()):
        self.columns = {name: np.zeros(0, dtype) for name, dtype in columns.items() if name not in packed}
        self.raggeds = {name: _Ragged(dtypes) for name, dtypes in raggeds.items()}
        self.records = None
        if packed:
            fields = [(name, columns[name]) for name in packed]
            for name in raggeds:
                fields += [(f"{name}.start", np.uint32), (f"{name}.len", np.uint16)]  # see _Ragged.MAX_*
            self.records = np.zeros(0, _record_type(fields))
        self._bind()
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

    def _bind(self) -> None:
        """The packed columns and the raggeds' spans as views of the records (and every
        column and span by name, for ``read``)."""
        if self.records is None:
            self._fields = self.columns
            return
        for name in self.records.dtype.names:
            if "." not in name:
                self.columns[name] = self.records[name]
        for name, ragged in self.raggeds.items():
            ragged.starts, ragged.lens = self.records[f"{name}.start"], self.records[f"{name}.len"]
        self._fields = {**self.columns, **{f"{name}.{part}": getattr(ragged, part + "s")
                                           for name, ragged in self.raggeds.items() for part in ("start", "len")}}

    def read(self, rows: np.ndarray, names: tuple[str, ...]) -> list[list]:
        """These columns (or spans, as "held.start") of these rows, a list a column: a gather
        a column (a gather of whole records and their tolist() cost ten times as much)."""
        fields = self._fields
        return [fields[name][rows].tolist() for name in names]

    def reserve(self, rows: int) -> None:
        capacity = len(self.columns["alive"])
        if rows > capacity:
            capacity = max(rows, 2 * capacity, 1024)
            for name, column in self.columns.items():
                if self.records is None or name not in self.records.dtype.names:
                    self.columns[name] = _resized(column, capacity)
            if self.records is not None:
                self.records = _resized(self.records, capacity)
            self._bind()
            if self.records is None:
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
        if self.records is not None:  # views counted above as if they were arrays: count the records instead
            views = sum(self.columns[n].nbytes for n in self.records.dtype.names if "." not in n)
            arrays += self.records.nbytes - views
            arrays -= sum(r.starts.nbytes + r.lens.nbytes for r in self.raggeds.values())
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
        self.concepts = np.fromiter(vf.target, np.int64, len(vf.target))  # ascending, as vacancy_facts has them
        self.concept_weights = np.fromiter(vf.target.values(), np.float64, len(vf.target))
        # the vacancy as the compiled pass reads it (kernels.V_* positions)
        v = np.zeros(kernels.N_VACANCY, np.int64)
        v[kernels.V_HOURS_LO], v[kernels.V_HOURS_HI] = vf.hours
        v[kernels.V_NOT_OFFERED] = ~index._offers(vf) & 0xFF
        if vf.level_required is not None:
            v[kernels.V_HAS_LEVEL], v[kernels.V_LEVEL] = 1, vf.level_required
        if vf.valid_through is not None:
            v[kernels.V_HAS_DATE], v[kernels.V_DATE] = 1, vf.valid_through.toordinal()
        v[kernels.V_N_STRICT] = int(self.strict.sum())
        v[kernels.V_HAS_MUST], v[kernels.V_HAS_NICE] = bool(vf.must), bool(vf.nice)
        if vf.occupation is not None:
            v[kernels.V_HAS_OCCUPATION], v[kernels.V_OCCUPATION] = 1, index._occupations.code(vf.occupation)
        self.kernel_vacancy = v
        # what its results share (labels, gap entries), and the reach of skills as results meet them
        self.explainer = scoring.Explainer(vf, index.knowledge, index.modules, skill_key=skills.code).prepare()
        # the skill of each gaps entry and the occupation, for kernels.explain_rows
        self.gap_codes = np.array([code for code, _ in self.explainer.gaps], np.int64)
        self.occupation = -1 if vf.occupation is None else index._occupations.code(vf.occupation)
        # what each target skill reaches of the target, for kernels.explain_rows
        reach = sorted((skills.code(s), sorted(self.explainer._reaches[s])) for s in vf.target_skills)
        self.reach_skills = np.array([code for code, _ in reach], np.int64)
        self.reach_starts = np.cumsum([0] + [len(concepts) for _, concepts in reach], dtype=np.int64)
        self.reach_concepts = np.array([c for _, concepts in reach for c in concepts], np.int64)
        if vf.occupation in index.knowledge.occupation_index:
            index.knowledge.similarities_to(vf.occupation)  # warm the row wishes read


class _Ranked:
    """Totals and component values of the rows a query kept, for the results served."""

    def __init__(self, total: np.ndarray, values: np.ndarray):
        self.total, self._values = total, values

    def values(self, at: list[int]) -> np.ndarray:
        """Component values of these positions, a row each (``scoring.COMPONENTS`` order)."""
        return self._values[at]


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
            "held": (np.int32, np.uint8), "concepts": (np.uint16,), "wanted": (np.int32,)}, packed=QUERY_COLUMNS)
        self._v = _Table(VACANCY_COLUMNS, {
            "must": (np.int32, np.float64), "nice": (np.int32, np.float64), "target": (np.uint16, np.float64)})
        self._vacancy_facts: dict[str, VacancyFacts] = {}
        self._stewarded: dict[str, set[str]] = {}  # organisation -> the vacancies it stewards
        self._stewarded_rows: dict[str, np.ndarray] = {}  # the same as rows, made when first asked
        self._odd_candidates: dict[int, tuple[str, tuple[str, ...]]] = {}  # unknown pc4 / conditions, by row
        self._closable = (None, None)
        # scratch lookup tables, zero between queries: must/nice weight and strictness per
        # skill, target weight per concept; for kernels.explain_rows a slot per skill, a mark per concept
        self._skill_lut = np.zeros((len(self._skills.values) + 1024, 3))
        self._required = np.zeros(len(self._skill_lut), np.bool_)
        self._skill_slots = np.zeros(len(self._skill_lut), np.int32)
        self._concept_lut = np.zeros(len(self.knowledge.concepts))
        self._concept_marks = np.zeros(len(self.knowledge.concepts), np.uint8)
        self._prep: dict[str, _Prepared] = {}
        self._band_reach = REACH_BANDS * NEAR_TRAVEL_FACTOR
        self._c.cells = _CellIndex(self._areas.unknown + 1, len(REACH_BANDS))

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
        """What the index holds: its arrays (capacity included), id bookkeeping, the
        vacancies' facts (roughly), scratch tables and the ESCO knowledge it reads."""
        with self._lock:
            scratch = self._skill_lut.nbytes + self._required.nbytes + self._concept_lut.nbytes
            scratch += sum(d.nbytes for d in list(self._areas._cache.values())) + self._areas.nbytes()
            return (self._c.nbytes() + self._v.nbytes() + 3000 * len(self._vacancy_facts) + scratch
                    + self.knowledge.memory_bytes())

    def __contains__(self, candidate_id: str) -> bool:
        return candidate_id in self._c.row_of

    def has_vacancy(self, vacancy_id: str) -> bool:
        return vacancy_id in self._v.row_of

    # --- candidates ----------------------------------------------------------------

    def _candidate_scalars(self, cf: CandidateFacts) -> dict:
        area = self._areas.index.get(cf.pc4, self._areas.unknown)
        band = bisect.bisect_left(REACH_BAND_LIST, cf.reach_km)  # the first band reaching as far
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
            hours_changed = known and (int(t.columns["hours_min"][row]), int(t.columns["hours_max"][row])) != cf.hours
            for name, value in scalars.items():
                t.columns[name][row] = value
            if in_pool is not None or not known:
                t.columns["in_pool"][row] = True if in_pool is None else in_pool
            t.columns["active"][row] = t.columns["in_pool"][row]
            t.cells.changed(row, scalars["cell"], hours_changed)
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

    def learn_module(self, module_name: str, skill_uri: str) -> bool:
        """A module that closes this skill gap from now on (between queries, not during one);
        False if already known."""
        with self._lock:
            return self.modules.register(module_name, skill_uri)

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
            latest = {p.candidate_id: p for p in candidates}  # a repeated id: the last profile wins
            self._bulk_candidates(list(latest.values()), set(not_in_pool))
            for vf in self._vacancy_facts.values():
                self._warm(vf)

    def _bulk_candidates(self, profiles: list[CandidateProfile], placed: set[str]) -> None:
        """One pass from profile to flat arrays (no facts kept), then one permutation into PC4 order."""
        t = self._c
        n = len(profiles)
        t.reserve(n)
        typecodes = {"area": "h", "cell": "I", "hours_min": "B", "hours_max": "B", "reach": "d", "needs": "B",
                     "level": "b", "available_from": "i", "region": "i", "cohort": "i", "groups": "B",
                     "banenafspraak": "B", "minutes": "h", "km": "h", "modes": "B", "to_check": "B", "in_pool": "B"}
        cols = {name: array(code) for name, code in typecodes.items()}
        held_ids, held_codes, wanted = array("i"), array("B"), array("i")
        lens = {name: array("i") for name in ("held", "wanted")}
        skill_index, occupation_index = self._skills.index, self._occupations.index
        area_index, unknown, bands = self._areas.index, self._areas.unknown, REACH_BAND_LIST
        region_code, cohort_code = self._regions.code, self._cohorts.code
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
            c_level.append(LEVEL_UNKNOWN if cf.level is None else cf.level)
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
                codes = [self._skills.code(s) for s in cf.held]
            held_ids.extend(codes)
            held_codes.extend(cf.held.values())
            if cf.wanted:
                wanted.extend(occupation_index.get(o) if o in occupation_index else self._occupations.code(o)
                              for o in cf.wanted)
            lens["held"].append(len(codes))
            lens["wanted"].append(len(cf.wanted))
        # every candidate's concepts at once: held skills (rows) times skill -> concepts
        held_matrix = sparse.csr_matrix(
            (np.ones(len(held_ids), np.float32), np.frombuffer(held_ids, np.int32),
             np.concatenate(([0], np.cumsum(np.frombuffer(lens["held"], np.int32), dtype=np.int64)))),
            shape=(n, len(self._skills.values)))
        reached = held_matrix @ self._skill_concept_matrix()
        reached.sort_indices()
        concepts = reached.indices.astype(np.uint16)
        concept_lens = np.diff(reached.indptr).astype(np.int32)
        # PC4 order (then input order): the rows a query reads lie together
        order = np.argsort(np.frombuffer(cols["cell"], np.uint32), kind="stable")
        for name, values in cols.items():
            column = np.frombuffer(values, np.dtype(values.typecode))
            t.columns[name][:n] = column.astype(CANDIDATE_COLUMNS[name])[order]
        t.columns["alive"][:n] = True
        t.columns["active"][:n] = t.columns["in_pool"][:n]
        staged = {
            "held": (np.frombuffer(lens["held"], np.int32), np.frombuffer(held_ids, np.int32),
                     np.frombuffer(held_codes, np.uint8)),
            "concepts": (concept_lens, concepts),
            "wanted": (np.frombuffer(lens["wanted"], np.int32), np.frombuffer(wanted, np.int32)),
        }
        for name, (row_lens, *values) in staged.items():
            unordered = _Ragged([v.dtype for v in values])
            unordered.grow_rows(n)
            unordered.bulk(0, row_lens, *values)
            positions, _, ordered_lens = unordered.gather(order)
            t.raggeds[name].bulk(0, ordered_lens, *(d[positions] for d in unordered.data))
        new_row = np.empty(n, np.int64)
        new_row[order] = np.arange(n)
        self._odd_candidates = {int(new_row[row]): odd for row, odd in odd_rows.items()}
        t.ids = [ids[i] for i in order.tolist()]
        t.row_of = {candidate_id: i for i, candidate_id in enumerate(t.ids)}
        t.n = n
        t.cells.rebuild(t.cell[:n], t.hours_min[:n], t.hours_max[:n])

    def _skill_concept_matrix(self) -> sparse.csr_matrix:
        """Skill code -> the concepts it reaches, as a 0/1 matrix (unknown skills: none)."""
        codes = self._skills.values
        arrays = [self.knowledge.skill_concept_array(s) for s in codes]
        lens = np.fromiter(map(len, arrays), np.int64, len(arrays))
        indices = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, np.int32)
        return sparse.csr_matrix((np.ones(len(indices), np.float32), indices,
                                  np.concatenate(([0], np.cumsum(lens)))),
                                 shape=(len(codes), len(self.knowledge.concepts)))

    def _candidate_facts(self, row: int) -> CandidateFacts:
        return self._facts_of(np.array([row]))[0]

    def _facts_of(self, rows: np.ndarray, served: list[scoring.Served] | None = None,
                  checks: list[frozenset[str]] | None = None) -> list[CandidateFacts]:
        """Stored rows back into the facts scoring explains (only for results served);
        ``served``: what ``_served`` read of them already; ``checks``: of each, only the
        constraints it is checked on are asked (its skills, concepts and wanted occupations
        are left empty unless skills are checked)."""
        regions, cohorts, pc4s = self._regions.values, self._cohorts.values, self._areas.pc4
        skills, (held_skills, held_levels) = self._skills.values, self._c.raggeds["held"].data
        concepts, wanted = self._c.raggeds["concepts"].data[0], self._c.raggeds["wanted"].data[0]
        occupations = self._occupations.values
        out = []
        for i, (row, shown, area, region, groups, cohort, banenafspraak, hours_min, hours_max, reach, minutes, km,
                needs, level, available, held_start, held_len, concepts_at, concepts_n, wanted_at, wanted_n) in \
                enumerate(zip(rows.tolist(), self._served(rows) if served is None else served,
                              *self._c.read(rows, FACT_COLUMNS), strict=True)):
            odd = self._odd_candidates.get(row)
            if checks is not None and "skills" not in checks[i]:
                held_len = concepts_n = wanted_n = 0
            at = slice(held_start, held_start + held_len)
            out.append(CandidateFacts(
                id=self._c.ids[row],
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
                level=None if level == LEVEL_UNKNOWN else level,
                available_from=date.fromordinal(available) if available else None,
                held=dict(zip(map(skills.__getitem__, held_skills[at].tolist()), held_levels[at].tolist(),
                              strict=True)),
                concepts=tuple(concepts[concepts_at:concepts_at + concepts_n].tolist()),
                wanted=tuple(map(occupations.__getitem__, wanted[wanted_at:wanted_at + wanted_n].tolist())),
            ))
        return out

    def _explained(self, prep: _Prepared, rows: np.ndarray) -> tuple[list[scoring.Transfer], list[int], list[bool]]:
        """Each row's transfer to the vacancy (``Explainer.transfer``, naming only the three
        other concepts an explanation names), ``Explainer.held_mask`` and whether it wants
        the vacancy's occupation: ``Explainer.results``' ``transfers`` and ``coded``, compiled."""
        t = self._c
        held, concepts, wanted = t.raggeds["held"], t.raggeds["concepts"], t.raggeds["wanted"]
        vf = prep.vf
        coded_gaps = len(prep.gap_codes) <= MASK_GAPS
        exact, covered, fit, named, masks, wants = kernels.explain_rows(
            rows, held.starts, held.lens, held.data[0], concepts.starts, concepts.lens, concepts.data[0],
            prep.concepts, prep.concept_weights, prep.reach_skills, prep.reach_starts, prep.reach_concepts,
            vf.target_norm or 1.0, self._concept_marks, self._concept_lut, self._skill_slots,
            prep.gap_codes if coded_gaps else NO_CODES, prep.occupation, wanted.starts, wanted.lens, wanted.data[0])
        masks = masks.tolist()
        if not coded_gaps:  # more than a mask holds: by sets
            codes = held.data[0]
            masks = [prep.explainer.held_mask(frozenset(codes[start:start + n].tolist()))
                     for start, n in zip(held.starts[rows].tolist(), held.lens[rows].tolist(), strict=True)]
        groups, skills = len(vf.target), len(vf.target_skills)
        transfers = [scoring.Transfer(f, tuple(c for c in three if c >= 0), groups, c, e, skills)
                     for e, c, f, three in zip(exact.tolist(), covered.tolist(), fit.tolist(), named.tolist(),
                                               strict=True)]
        return transfers, masks, wants.tolist()

    def _served(self, rows: np.ndarray) -> list[scoring.Served]:
        """Of stored rows, what their results read of them besides what ``_explained``
        works out: travel modes and conditions to check."""
        odd_rows = self._odd_candidates
        out = []
        for row, modes, checks in zip(rows.tolist(), *self._c.read(rows, SERVED_COLUMNS), strict=True):
            to_check = CHECKS_OF[checks]
            odd = odd_rows.get(row)
            out.append(scoring.Served(
                held=(), concepts=(), modes=MODES_OF[modes], wanted=(),
                to_check=tuple(sorted((*to_check, *odd[1]))) if odd and odd[1] else to_check,
            ))
        return out

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
            self._set_stewards(vf.id, vf.steward_organisations)
            self._vacancy_facts[vf.id] = vf
            self._prep[vf.id] = _Prepared(self, vf)
            if self._c.n:  # (a bulk load warms once its candidates are in)
                self._warm(vf)

    def _warm(self, vf: VacancyFacts) -> None:
        """Work out now which areas a query for this vacancy reaches, not on its first query."""
        area = self._areas.index.get(vf.pc4)
        if area is not None:
            self._areas.in_reach(area, self._band_reach, self._c.cells.max_band)

    def remove_vacancy(self, vacancy_id: str) -> bool:
        with self._lock:
            self._set_stewards(vacancy_id, frozenset())
            self._vacancy_facts.pop(vacancy_id, None)
            self._prep.pop(vacancy_id, None)
            return self._v.remove(vacancy_id)

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
        codes = self._v.columns["visibility"][:m]
        kinds = self._visibilities.values
        seen = visibility.reach(viewer)

        def allowed(visibilities) -> np.ndarray:
            return np.array([k in visibilities for k in kinds], np.bool_)

        mask = allowed(seen.anywhere)[codes] if kinds else np.zeros(m, np.bool_)
        own = self._regions.index.get(seen.region) if seen.region is not None else None
        if own is not None and kinds:
            mask |= (self._v.columns["region"][:m] == own) & allowed(seen.own_region)[codes]
        if seen.organisation in self._stewarded and kinds:
            rows = self._stewarded_rows.get(seen.organisation)
            if rows is None:
                row_of = self._v.row_of
                rows = self._stewarded_rows[seen.organisation] = np.array(
                    sorted(row_of[v] for v in self._stewarded[seen.organisation] if v in row_of), np.int64)
            rows = rows[rows < m]
            mask[rows] |= allowed(seen.stewarded)[codes[rows]]
        return mask

    @staticmethod
    def _offers(vf: VacancyFacts) -> int:
        bits = sum(OFFER_BITS[o] for o in vf.offers if o in OFFER_BITS)
        if not vf.heavy_lifting or vf.offers.intersection(LIFTING_RELIEF):
            bits |= LIGHT_WORK
        return bits

    # --- candidates for a vacancy ----------------------------------------------------

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
            return self._candidates_for(vf, limit, filters, near_misses)

    def _candidates_for(self, vf: VacancyFacts, limit: int, filters: dict, near_misses: int) -> Ranking:
        t, c = self._c, self._c.columns
        prep = self._prepared(vf)
        if prep.modules_version != self.modules.version:
            prep = self._prepared(vf, refresh=True)
        # the rows of the areas as far as the farthest reaching band could come from, from
        # each area's first reach band within which the vacancy is in near-miss reach
        rows, dist = t.cells.select(self._areas, self._areas.index.get(vf.pc4, self._areas.unknown),
                                    self._band_reach, (*vf.hours, NEAR_HOURS),
                                    *(c[name][:t.n] for name in ("cell", "active", "hours_min", "hours_max")))
        rows, dist = self._filter_candidates(rows, dist, filters)

        # constraints and components in one compiled pass: the eligible and the near-misses
        if len(self._skills.values) > len(self._skill_lut):  # skills outside ESCO came in
            self._skill_lut = np.zeros((2 * len(self._skills.values), 3))
            self._required = np.zeros(len(self._skill_lut), np.bool_)
            self._skill_slots = np.zeros(len(self._skill_lut), np.int32)
        held, concepts, wanted = t.raggeds["held"], t.raggeds["concepts"], t.raggeds["wanted"]
        rows, dist, fails, why, values, total, eligible, top, near_top = kernels.score_rows(
            rows, dist, KERNEL_PARAMS, prep.kernel_vacancy,
            c["reach"], c["hours_min"], c["hours_max"], c["needs"], c["level"], c["available_from"], POPCOUNT,
            held.starts, held.lens, held.data[0], held.data[1], self._required, self._skill_lut, STRENGTH_LUT,
            prep.codes, prep.weights, concepts.starts, concepts.lens, concepts.data[0], self._concept_lut,
            prep.concepts, prep.concept_weights, float(vf.target_norm),
            wanted.starts, wanted.lens, wanted.data[0], self._similarities_to(vf.occupation), c["groups"],
            max(limit, TOP_FOR_FAIRNESS), near_misses)
        top, near_top = _best(total, (top, near_top), (max(limit, TOP_FOR_FAIRNESS), near_misses), t.ids, rows)
        return self._candidate_ranking(prep, rows, eligible, _Ranked(total, values), top, near_top, dist, why,
                                       limit)

    def _prepared(self, vf: VacancyFacts, refresh: bool = False) -> _Prepared:
        """A vacancy's lookup data, kept until it changes (or the modules do)."""
        found = self._prep.get(vf.id)
        if found is None or found.vf is not vf or refresh:
            found = _Prepared(self, vf)
            if vf.id in self._vacancy_facts and self._vacancy_facts[vf.id] is vf:
                self._prep[vf.id] = found
        return found

    def _filter_candidates(self, rows: np.ndarray, dist: np.ndarray, filters: dict):
        """The rows (and their distances) the filters let through."""
        if not filters:
            return rows, dist
        c = self._c.columns
        keep = np.ones(len(rows), np.bool_)
        if "region" in filters:
            keep &= np.isin(c["region"][rows], self._regions.codes(filters["region"]))
        if "cohort" in filters:
            keep &= np.isin(c["cohort"][rows], self._cohorts.codes(filters["cohort"]))
        if "target_group" in filters:
            wanted = filters["target_group"]
            wanted = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else (wanted,)
            bits = sum(GROUP_BITS.get(g, 0) for g in set(wanted))
            keep &= (c["groups"][rows] & bits) != 0
        if "banenafspraak" in filters:
            keep &= c["banenafspraak"][rows] == bool(filters["banenafspraak"])
        return rows[keep], dist[keep]

    def _similarities_to(self, occupation: str | None) -> np.ndarray:
        """The occupation's similarity to each occupation code; empty when ESCO does not know it."""
        if occupation in self.knowledge.occupation_index:
            return self.knowledge.similarities_to(occupation)
        return NO_SIMILARITIES

    def _candidate_ranking(self, prep: _Prepared, rows, eligible, scores: _Ranked, top, near_top, dist, why,
                           limit) -> Ranking:
        vf = prep.vf
        top_groups = self._c.columns["groups"][rows[top[:TOP_FOR_FAIRNESS]]].tolist()
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
        totals, distances = scores.total[served].tolist(), dist[served].tolist()
        # what results show of the chosen; near-misses in full, for their why-not
        served_rows = rows[served]
        facts = self._served(served_rows)
        failed = [FAILED[bits] for bits in why[near_top].tolist()]
        near_facts = self._facts_of(served_rows[chosen:], facts[chosen:], checks=failed)
        failures = [()] * chosen + [scoring.failures(cf, vf, d, self.modules, constraints) for cf, d, constraints in
                                    zip(near_facts, distances[chosen:], failed, strict=True)]
        ids, values = self._c.ids, scores.values(served)
        transfers, masks, wants = self._explained(prep, served_rows)
        out = prep.explainer.results([ids[row] for row in served_rows.tolist()], facts, totals, values, distances,
                                     failures, transfers, _result_numbers(values, scores.total[served], dist[served]),
                                     coded=(masks, wants))
        return Ranking(results=out[:chosen], near_misses=out[chosen:], fairness=fair,
                       scores=totals[:chosen], near_miss_scores=totals[chosen:])

    # --- vacancies for a candidate ---------------------------------------------------

    def vacancies_for_candidate(self, candidate_id: str, limit: int = 10, filters: dict | None = None,
                                near_misses: int = 3, today: date | None = None,
                                viewer: Viewer | None = None) -> Ranking:
        """Open vacancies with a free opening, not past their date, best first for this candidate;
        only those ``viewer`` may see (None: matching itself, every one)."""
        filters = scoring.check_filters(filters, scoring.VACANCY_FILTERS)
        today = today or clock.today()
        with self._lock:
            row = self._c.row_of.get(candidate_id)
            if row is None:
                raise KeyError(candidate_id)
            return self._vacancies_for(self._candidate_facts(row), limit, filters, near_misses, today, viewer)

    def _vacancies_for(self, cf: CandidateFacts, limit, filters, near_misses, today, viewer=None) -> Ranking:
        t, v = self._v, self._v.columns
        m = t.n
        ok = v["alive"][:m] & v["open"][:m] & (v["valid_through"][:m] >= today.toordinal())
        if viewer is not None:  # never offered, not even as a near-miss
            ok &= self._seen_by(viewer, m)
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
        strict = ~self._closable_lut()[skills]
        missing = _segment_sum((strict & (strength[skills] == 0)).astype(np.float64), firsts, lens).round()
        fails += missing.astype(np.uint8)
        lone = _segment_sum(strict.astype(np.float64), firsts, lens) < NEAR_SKILLS_STRICT
        fails[(missing > 0) & lone] = 2  # lacking the one key skill is no near-miss
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
                vf.id, cf, float(score[i]), dict(zip(scoring.COMPONENTS, (float(v[i]) for v in columns), strict=True)),
                distance, failures and scoring.failures(cf, vf, distance, self.modules))

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


def _sees(viewer: Viewer, vf: VacancyFacts) -> bool:
    return visibility.may_see_vacancy(viewer, vf.visibility, vf.region, vf.steward_organisations)


def compile_queries(knowledge: esco.SkillKnowledge | None = None) -> None:
    """Compile the query pass (kernels) for the argument types real queries use, by querying
    a throwaway index: with numba's cache on disk this takes a fraction of a second, without
    it a few seconds, which a service spends at start-up rather than on its first caller."""
    knowledge = knowledge or esco.knowledge()
    occupation = knowledge.occupations[0]
    skill = sorted(knowledge.essential_skills(occupation))[0]
    index = MatchingIndex(knowledge)
    index.upsert_candidate(CandidateProfile.from_event({
        "candidate_id": "c", "region": "r", "pc4": "1011", "target_groups": ["bijstand"], "skills": [skill],
        "hours_per_week": 32, "conditions": []}))
    for vacancy_id, known in (("known", occupation), ("none", None)):
        index.upsert_vacancy(VacancyProfile.from_event({
            "vacancy_id": vacancy_id, "employer_id": "e", "region": "r", "pc4": "1012", "hours_per_week": 32,
            "openings": 1, "occupation": known, "skills_required": [],
            "must_have": [{"skill": skill, "weight": 1.0}]}))
        index.candidates_for_vacancy(vacancy_id)


def _result_numbers(values: np.ndarray, totals: np.ndarray, distances: np.ndarray) -> list[list[float]]:
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


def _distance_values(dist: np.ndarray, reach: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 1.0 - dist / reach
    np.maximum(value, 0.0, out=value)
    if len(reach) and reach.min() > 0 and not np.isnan(value.sum()):
        return value  # the usual case: a known distance within a positive reach
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(reach > 0, np.maximum(0.0, 1.0 - dist / reach), (dist == 0).astype(np.float64))
    value = np.where(np.isinf(reach), 1.0, value)
    return np.where(np.isnan(dist), 0.0, value)


def _best(score: np.ndarray, contenders: tuple[np.ndarray, ...], ks: tuple[int, ...], ids: list,
          rows: np.ndarray) -> list[list[int]]:
    """Of each set of contenders (kernels.score_rows' for the top and for the near-misses),
    the positions (into ``score``) of its best k, ties by id as scoring.rank_key. All at once:
    a few numpy calls on a dozen values cost more than the values."""
    every = np.concatenate(contenders)
    keys = score[every] * -1e9  # -np.round(score, 9) by the same steps, without np.round's wrapping
    np.rint(keys, out=keys)
    keys = (keys / 1e9).tolist()
    names = list(map(ids.__getitem__, rows[every].tolist()))
    positions = every.tolist()
    out, at = [], 0
    for some, k in zip(contenders, ks, strict=True):
        end = at + len(some)
        # tuples compare as they are: no key function to call per item
        ranked = sorted(zip(keys[at:end], names[at:end], positions[at:end], strict=True))
        out.append([position for _, _, position in ranked[:k]])
        at = end
    return out


def _top(score: np.ndarray, among: np.ndarray, k: int, ids: list, rows: np.ndarray) -> list[int]:
    """Positions (into ``score``) of the best k of ``among``, ties by id as scoring.rank_key."""
    if k <= 0 or not len(among):
        return []
    if len(among) > k:
        raw = score[among]
        kth = np.partition(raw, len(raw) - k)[len(raw) - k]
        among = among[raw >= kth - 1e-8]  # all that could round to the k-th best key or above
    return _best(score, (among,), (k,), ids, rows)[0]
