"""The packed tables: a candidate or vacancy a row of named columns, the columns a query
reads row by row packed into one record per row (with each ragged list's span), and the
columns of both tables."""

from __future__ import annotations

import numpy as np

from matching.index.areas import CellIndex
from matching.index.ragged import Ragged, resized

CANDIDATE_COLUMNS = {
    "alive": np.bool_, "in_pool": np.bool_, "active": np.bool_,  # active: alive and in the pool
    "area": np.int16, "cell": np.uint32, "reach": np.float64, "minutes": np.int16, "km": np.int16, "modes": np.uint8,
    "hours_min": np.uint8, "hours_max": np.uint8, "needs": np.uint8, "to_check": np.uint8, "level": np.int8,
    "available_from": np.int32, "region": np.int32, "cohort": np.int32, "groups": np.uint8, "banenafspraak": np.bool_
}
CANDIDATE_LISTS = {"held": (np.int32, np.uint8), "concepts": (np.uint16,), "wanted": (np.int32,)}
# what the passes read of a candidate, row by row (kernels.check, components ...): packed
CANDIDATE_PACKED = ("reach", "hours_min", "hours_max", "needs", "level", "available_from", "groups")
VACANCY_COLUMNS = {
    "alive": np.bool_, "open": np.bool_, "valid_through": np.int32, "area": np.int16, "hours_lo": np.uint8,
    "hours_hi": np.uint8, "offers": np.uint8, "level_required": np.int8, "region": np.int32,
    "visibility": np.int32, "leerwerkbaan": np.bool_, "banenafspraak": np.bool_, "occupation": np.int32,
    "must_total": np.float64, "nice_total": np.float64, "target_norm": np.float64,
}
VACANCY_LISTS = {"must": (np.int32, np.float64), "nice": (np.int32, np.float64), "target": (np.uint16, np.float64)}
# and of a vacancy (the same record is what a candidates pass reads of the vacancy it ranks for)
VACANCY_PACKED = ("valid_through", "hours_lo", "hours_hi", "offers", "level_required", "occupation", "must_total",
                  "nice_total", "target_norm")


def record_type(fields: list[tuple[str, type]]) -> np.dtype:
    """A record of these fields, widest first: aligned without holes."""
    return np.dtype(sorted(fields, key=lambda f: -np.dtype(f[1]).itemsize), align=True)


class Table:
    """Named columns with a row count and capacity doubling; removed rows are reused.

    ``packed`` columns, and every ragged row's span (``<list>_start``, ``<list>_len``),
    are fields of one record per row rather than arrays of their own: a query reads them
    row by row, scattered over the table, and memory latency, not arithmetic, is what such
    a pass costs (one cache line per row instead of one per column and row: the pass took
    about a third the time). ``columns`` holds every column (packed ones as views of the
    records), ``fields`` those and the spans."""

    def __init__(self, columns: dict, raggeds: dict, packed: tuple[str, ...], cells: CellIndex | None = None):
        self.types = dict(columns)
        self.columns = {name: np.zeros(0, dtype) for name, dtype in columns.items() if name not in packed}
        self.raggeds = {name: Ragged(dtypes) for name, dtypes in raggeds.items()}
        fields = [(name, columns[name]) for name in packed]
        for name in raggeds:
            fields += [(f"{name}_start", np.uint32), (f"{name}_len", np.uint16)]  # see Ragged.MAX_*
        self.records = np.zeros(0, record_type(fields))
        self._bind()
        self.n = 0
        self.free: list[int] = []
        self.ids: list[str | None] = []
        self.row_of: dict[str, int] = {}
        self.cells = cells

    def _bind(self) -> None:
        """The packed columns and the raggeds' spans as views of the records."""
        for name in self.records.dtype.names:
            if name in self.types:
                self.columns[name] = self.records[name]
        for name, ragged in self.raggeds.items():
            ragged.starts, ragged.lens = self.records[f"{name}_start"], self.records[f"{name}_len"]
        self.fields = {**self.columns, **{f"{name}_{part}": getattr(ragged, part + "s")
                                          for name, ragged in self.raggeds.items() for part in ("start", "len")}}

    def read(self, rows: np.ndarray, names: tuple[str, ...]) -> list[list]:
        """These columns (or spans, as "held_start") of these rows, a list a column: a gather
        a column (a gather of whole records and their tolist() cost ten times as much)."""
        fields = self.fields
        return [fields[name][rows].tolist() for name in names]

    def reserve(self, rows: int) -> None:
        capacity = len(self.columns["alive"])
        if rows > capacity:
            capacity = max(rows, 2 * capacity, 1024)
            packed = self.records.dtype.names
            for name, column in self.columns.items():
                if name not in packed:
                    self.columns[name] = resized(column, capacity)
            self.records = resized(self.records, capacity)
            self._bind()
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

    def compact(self) -> None:
        """Compact the raggeds that are more garbage than values."""
        for ragged in self.raggeds.values():
            ragged.maybe_compact(self.n)

    def nbytes(self) -> int:
        packed = self.records.dtype.names
        arrays = sum(c.nbytes for name, c in self.columns.items() if name not in packed) + self.records.nbytes
        arrays += sum(sum(d.nbytes for d in r.data) for r in self.raggeds.values())
        arrays += self.cells.nbytes() if self.cells is not None else 0
        # ids: the list's pointers, the strings, and the dict's entries (about 100 bytes each)
        strings = sum(len(i) + 49 for i in self.ids if i is not None)
        return arrays + 8 * len(self.ids) + strings + 100 * len(self.row_of)
