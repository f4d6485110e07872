"""Where candidates and vacancies are: PC4 areas along a Hilbert curve (``Areas``: the km
between them, the areas in reach of one), and candidate rows filed by cell, an area and
a reach band (``CellIndex``): a query's first cut."""

from __future__ import annotations

import math

import numpy as np

from matching import kernels
from werkbrug_shared import refdata

# Reach bands (km, upper bounds) for the first cut: a candidate's cell is their PC4
# area and band, and a query keeps the cells whose band could reach the vacancy.
# Bands grow by about a sixth, so a band's bound overshoots a reach by 8% on average.
REACH_BANDS = np.array([*np.round(np.geomspace(1.0, 300.0, 35), 2), np.inf])
REACH_BAND_LIST = REACH_BANDS.tolist()


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


class Areas:
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
        self._distances: dict[int, np.ndarray] = {}
        self._in_reach: dict[int, tuple] = {}  # area -> (max band, kernels.InReach): in_reach
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

    def of(self, pc4: str) -> int:
        """The area's index; ``unknown`` for one not known."""
        return self.index.get(pc4, self.unknown)

    def distances_from(self, area: int) -> np.ndarray:
        """km from this area's centroid to every area's, NaN for the unknown one."""
        found = self._distances.get(area)
        if found is None:
            found = np.full(self.unknown + 1, np.nan)
            if area != self.unknown:
                found[:-1] = kernels.distances_km(area, self.lat, self.lon, self.cos_lat)
            if len(self._distances) > 256:
                self._distances.clear()
            found.setflags(write=False)
            self._distances[area] = found
        return found

    def box(self, area: int, km: float) -> tuple[float, float]:
        """Half the span of latitudes and of longitudes (radians) around this area that
        holds every area within ``km`` (a superset). A great circle is at least R * dlat, and
        at least 2R * asin(sqrt(cos lat0 * cos lat) * sin(dlon / 2)) with cos lat no less than
        the northernmost area's (one country: within half a turn of longitude)."""
        if not km < kernels.EARTH_KM:  # any reach: every area
            return math.inf, math.inf
        margin = 1 + 1e-9  # rounding error to spare
        q = math.sin(km / (2 * kernels.EARTH_KM)) / math.sqrt(self.cos_lat[area] * self.min_cos) * margin
        return km / kernels.EARTH_KM * margin + 1e-12, (2 * math.asin(q) + 1e-12 if q < 1 else math.inf)

    def in_reach(self, area: int, band_reach: np.ndarray, max_band: int) -> kernels.InReach:
        """``kernels.areas_in_reach`` of this area for bands up to ``max_band``: kept per
        area (a query's first cut then measures no distance), while no band beyond that
        one is asked for. At most one entry an area: bounded by the country, not by how
        many vacancies there are."""
        found = self._in_reach.get(area)
        if found is None or found[0] < max_band:
            lat_span, lon_span = self.box(area, float(band_reach[max_band]))
            found = self._in_reach[area] = (max_band, kernels.areas_in_reach(
                area, self.lat, self.lon, self.cos_lat, lat_span, lon_span, band_reach))
        return found[1]

    def nbytes(self) -> int:
        kept = sum(a.nbytes + km.nbytes + band.nbytes for _, (a, km, band) in self._in_reach.values())
        return kept + sum(d.nbytes for d in list(self._distances.values()))


class CellIndex:
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

    def select(self, areas: Areas, area: int, band_reach: np.ndarray, hours: tuple[int, int, int],
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
        reached = areas.in_reach(area, band_reach, self.max_band)
        rows, row_km = kernels.select_rows(reached, kernels.Filed(self.start, self.rows, self.hours, self.indexed),
                                           bands, *hours, active, cells, bool(self.moved))
        if self.moved:
            band_from = np.full(len(self.start) // bands, bands)
            band_from[reached.areas] = reached.band
            km_from = np.zeros(len(band_from))
            km_from[reached.areas] = reached.km
            moved = np.unique(np.array(self.moved, np.int64))
            cell = cells[moved]
            wanted = (cell % bands) >= band_from[cell // bands]
            moved = moved[active[moved] & wanted & (cell != self.indexed[moved])]
            rows, row_km = np.concatenate((rows, moved)), np.concatenate((row_km, km_from[cells[moved] // bands]))
        return rows, row_km

    def nbytes(self) -> int:
        return self.start.nbytes + self.rows.nbytes + self.hours.nbytes + self.indexed.nbytes + 8 * len(self.moved)
