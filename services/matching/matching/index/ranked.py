"""What both queries do with a compiled pass's rows: pick the best k of its contenders,
ties by id as ``scoring.rank_key`` orders (``best``), and read its components records
as rows of doubles (``component_rows``)."""

from __future__ import annotations

import numpy as np

from matching.index.store import COMPONENTS


def component_rows(values: np.ndarray) -> np.ndarray:
    """Components records as rows of doubles, in scoring.COMPONENTS order (their fields')."""
    return np.ascontiguousarray(values).view(np.float64).reshape(len(values), len(COMPONENTS.names))


def best(score: np.ndarray, contenders: tuple[np.ndarray, ...], ks: tuple[int, ...], ids: list,
         rows: np.ndarray) -> list[list[int]]:
    """Of each set of contenders (a pass's for the top and for the near-misses), the
    positions (into ``score``) of its best k, ties by id as scoring.rank_key. All at once:
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
