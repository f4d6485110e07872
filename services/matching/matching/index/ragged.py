"""Ragged rows: a row's variable-length lists (held skills, concepts, wanted occupations;
a vacancy's skills and target) in flat arrays, each row a span (start, length)."""

from __future__ import annotations

import numpy as np


class Ragged:
    """Variable-length rows in flat arrays. A row is (start, length); rewriting a
    row with more values appends it at the end; the garbage is compacted away once
    it outweighs the live values, so updates stay amortised O(row).

    ``starts`` and ``lens`` are the spans of every row: arrays of their own, or (in a
    packed table) fields of its records, set by the table."""

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
        self.starts = resized(self.starts, capacity)
        self.lens = resized(self.lens, capacity)

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > self.MAX_VALUES:
            raise OverflowError(f"more than {self.MAX_VALUES} values in one ragged column")
        if need > len(self.data[0]):
            capacity = max(need, 2 * len(self.data[0]))
            self.data = [resized(d, capacity) for d in self.data]

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

    def values_of(self, row: int, part: int = 0) -> np.ndarray:
        """One row's values (of its ``part``-th array)."""
        start = int(self.starts[row])
        return self.data[part][start:start + int(self.lens[row])]

    def maybe_compact(self, rows_in_use: int) -> None:
        if self.garbage < self.COMPACT_MIN or self.garbage < self.size - self.garbage:
            return
        rows = np.arange(rows_in_use)
        positions, firsts, lens = self.gather(rows)
        self.data = [resized(d[positions], max(1024, 2 * len(positions))) for d in self.data]
        self.starts[:rows_in_use] = firsts
        self.size = len(positions)
        self.garbage = 0

    def nbytes(self) -> int:
        return sum(d.nbytes for d in self.data) + self.starts.nbytes + self.lens.nbytes


def resized(a: np.ndarray, capacity: int) -> np.ndarray:
    """A copy of ``a`` with room for ``capacity`` rows (zeros beyond its own)."""
    out = np.zeros(capacity, a.dtype)
    n = min(len(a), capacity)
    out[:n] = a[:n]
    return out
