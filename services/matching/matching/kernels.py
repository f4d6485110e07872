"""Compiled loops for the hot part of ``candidates_for_vacancy``.

A query touches a few thousand candidate rows, and in numpy each step (a
constraint, a skill sum, the fit) is a call whose fixed cost outweighs its
work: the profile showed about a hundred such calls per query. Here one pass
per row does it all, in the order the numpy code did and ``scoring`` does, so
the same doubles come out. Weights and thresholds are arguments, not globals:
numba's on-disk cache keys on this file, not on ``scoring``'s constants.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# positions in the ``params`` array (floats) handed to ``score_rows``
(P_NEAR_TRAVEL, P_NEAR_HOURS, P_NEAR_LEVEL, P_NEAR_DAYS, P_NEAR_STRICT, P_NEUTRAL, P_WISH_SHARE,
 P_W_MUST, P_W_NICE, P_W_FIT, P_W_WISHES, P_W_DISTANCE) = range(12)
N_PARAMS = 12
# positions in the ``vacancy`` array (ints) handed to ``score_rows``
(V_HOURS_LO, V_HOURS_HI, V_NOT_OFFERED, V_HAS_LEVEL, V_LEVEL, V_HAS_DATE, V_DATE, V_N_STRICT, V_HAS_MUST,
 V_HAS_NICE, V_HAS_OCCUPATION, V_OCCUPATION) = range(12)
N_VACANCY = 12
EARTH_KM = 6371.0  # as scoring.haversine_km
IN_TARGET, REACHED = 1, 2  # explain_rows' marks
# score_rows' failed-constraint bits, in scoring.CONSTRAINTS' order
FAILED_HOURS, FAILED_TRAVEL, FAILED_CONDITIONS, FAILED_LEVEL, FAILED_SKILLS, FAILED_AVAILABILITY = 1, 2, 4, 8, 16, 32
AHEAD = 8  # rows ahead whose skills and concepts are asked for (4 to 16 did alike)


@intrinsic
def prefetch(typingctx, array, index):
    """Have the CPU fetch ``array[index]``'s cache line: a hint, not a load (nothing waits
    for it, an address out of range does not fault).

    Rows fail constraints unpredictably, and each mispredicted branch throws away the
    loads the CPU had started for the rows after it; asking for the skills and concepts
    of a row a few ahead keeps them coming (the pass took about a fifth less)."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        at = cgutils.get_item_pointer(context, builder, array_type,
                                      context.make_array(array_type)(context, builder, args[0]), [args[1]])
        byte_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        llvm_prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0")
        # read, keep in all cache levels, data cache
        builder.call(llvm_prefetch, [builder.bitcast(at, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(cache=True, nogil=True)
def haversine_km(lat0, lon0, cos0, lat, lon, cos_lat):
    """km between two PC4 centroids (radians; ``cos_lat`` the cosine of ``lat``), by the
    same formula and libm calls as ``scoring.haversine_km``: the same double, to the last bit
    (numpy's vectorised sin differs from libm's in the last bit now and then)."""
    h = math.sin((lat - lat0) / 2) ** 2 + cos0 * cos_lat * math.sin((lon - lon0) / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(min(1.0, h)))


@njit(cache=True, nogil=True)
def distances_km(area, lat, lon, cos_lat):
    """km from one area to every area."""
    out = np.empty(len(lat), np.float64)
    for a in range(len(lat)):
        out[a] = haversine_km(lat[area], lon[area], cos_lat[area], lat[a], lon[a], cos_lat[a])
    return out


@njit(cache=True, nogil=True)
def areas_in_reach(area, lat, lon, cos_lat, lat_span, lon_span, band_reach, bands):
    """The areas some band's reach (``band_reach``, ascending) gets to from ``area``, of
    those within ``lat_span`` and ``lon_span`` of it: each area, its km and the first band
    that reaches it."""
    n_areas = len(lat)
    areas = np.empty(n_areas, np.int32)
    area_km = np.empty(n_areas, np.float64)
    area_band = np.empty(n_areas, np.uint8)
    lat0, lon0, cos0 = lat[area], lon[area], cos_lat[area]
    k = 0
    for a in range(n_areas):
        if abs(lat[a] - lat0) > lat_span or abs(lon[a] - lon0) > lon_span:
            continue
        km = haversine_km(lat0, lon0, cos0, lat[a], lon[a], cos_lat[a])
        band, above = 0, bands  # the first band reaching km, by bisection (as searchsorted, left)
        while band < above:
            middle = (band + above) // 2
            if band_reach[middle] < km:
                band = middle + 1
            else:
                above = middle
        if band < bands:
            areas[k], area_km[k], area_band[k] = a, km, band
            k += 1
    return areas[:k].copy(), area_km[:k].copy(), area_band[:k].copy()


@njit(cache=True, nogil=True)
def select_rows(areas, area_km, area_band, bands, start, sorted_rows, hours_lo, hours_hi, near_hours, sorted_hours,
                active, cells, indexed, check_filed):
    """The active rows that may be in reach, with their km: of each of the ``areas``
    (``areas_in_reach``), the rows of the cells from its first band reaching it, whose hours
    (``sorted_hours``: least and most, as ``sorted_rows``) are at most ``near_hours`` off
    the vacancy's ``hours_lo``..``hours_hi``. Without a branch a row: which rows pass is
    unpredictable, and a mispredicted branch costs more than the write. With
    ``check_filed``, only rows still filed under their cell (see _CellIndex)."""
    total = 0
    for i in range(len(areas)):
        a = np.int64(areas[i])
        total += start[(a + 1) * bands] - start[a * bands + area_band[i]]
    rows = np.empty(total, np.int64)
    dist = np.empty(total, np.float64)
    n = 0
    for i in range(len(areas)):
        a = np.int64(areas[i])
        km = area_km[i]
        for p in range(start[a * bands + area_band[i]], start[(a + 1) * bands]):
            row = sorted_rows[p]
            rows[n] = row
            dist[n] = km
            near = max(hours_lo - np.int64(sorted_hours[p, 1]), np.int64(sorted_hours[p, 0]) - hours_hi) <= near_hours
            n += near & active[row] & (not check_filed or cells[row] == indexed[row])
    return rows[:n], dist[:n]


@njit(cache=True, nogil=True)
def score_rows(rows, dist, params, vacancy,
               reach, hours_min, hours_max, needs, level, available_from, popcount,
               held_starts, held_lens, held_skills, held_levels, required, skill_lut, strength, codes, weights,
               concept_starts, concept_lens, concepts, concept_lut, target_concepts, target_weights, target_norm,
               wanted_starts, wanted_lens, wanted, similarities, groups, k, near_k):
    """Constraints, then the five components and the total of each row that is eligible
    or a near-miss (one failure, only just). Returns the rows kept and their km, failure
    counts and which constraints failed (``FAILED_*`` bits), component values
    (``scoring.COMPONENTS`` order) and totals; how many rows are eligible, then how many
    of them hold each ``groups`` bit (target groups, for fairness); and the positions
    of the eligible rows that may be among the best ``k`` and of the near-misses that may
    be among the best ``near_k`` (``_contenders``).

    The vacancy's required skills (``codes``) with their (must share, nice share, strict)
    (``weights``) go into ``skill_lut`` and ``required`` (a byte a skill, whether it is
    required), its occupation-fit target weights into ``concept_lut``, for the pass: these
    tables are zero before and after. ``similarities``: the vacancy's occupation's similarity
    to each occupation code (empty when ESCO does not know it)."""
    for j in range(len(codes)):
        required[codes[j]] = True
        for x in range(3):
            skill_lut[codes[j], x] = weights[j, x]
    for j in range(len(target_concepts)):
        concept_lut[target_concepts[j]] = target_weights[j]
    n = len(rows)
    kept = np.empty(n, np.int64)
    kept_dist = np.empty(n, np.float64)
    eligible_groups = np.zeros(256, np.int64)
    top_totals, near_totals = np.full(max(k, 0), -np.inf), np.full(max(near_k, 0), -np.inf)
    fails_out = np.empty(n, np.uint8)
    why_out = np.empty(n, np.uint8)
    values = np.empty((n, 5), np.float64)
    totals = np.empty(n, np.float64)
    near_travel, near_hours, near_level, near_days = (params[P_NEAR_TRAVEL], params[P_NEAR_HOURS],
                                                      params[P_NEAR_LEVEL], params[P_NEAR_DAYS])
    neutral, share = params[P_NEUTRAL], params[P_WISH_SHARE]
    hours_lo, hours_hi, not_offered = vacancy[V_HOURS_LO], vacancy[V_HOURS_HI], vacancy[V_NOT_OFFERED]
    n_strict = vacancy[V_N_STRICT]
    occupation = vacancy[V_OCCUPATION]
    m = 0
    for i in range(n):
        if i + AHEAD < n:
            ahead = rows[i + AHEAD]
            prefetch(reach, rows[min(i + 2 * AHEAD, n - 1)])  # the record further ahead: its spans are read next
            prefetch(held_skills, held_starts[ahead])
            prefetch(held_levels, held_starts[ahead])
            prefetch(concepts, concept_starts[ahead])
        row = rows[i]
        d = dist[i]
        r = reach[row]
        # each constraint as soon as it can be told (most rows are too far): what a row
        # never has to read is what makes this pass fast (memory, not arithmetic)
        fails = 0
        why = 0  # which constraints fail, a bit each (FAILED_*)
        if d > r:  # an unknown distance (NaN) neither fails nor is far, as in numpy
            if d > r * near_travel:
                continue
            fails += 1
            why |= FAILED_TRAVEL
        most = np.int64(hours_max[row])
        gap = max(hours_lo - most, np.int64(hours_min[row]) - hours_hi)
        if gap > 0:
            if gap > near_hours or fails:
                continue
            fails += 1
            why |= FAILED_HOURS
        unmet = popcount[needs[row] & not_offered]
        if unmet:
            fails += unmet
            why |= FAILED_CONDITIONS
        if fails >= 2:
            continue
        if vacancy[V_HAS_LEVEL]:
            short = vacancy[V_LEVEL] - np.int64(level[row])
            if short > 0:
                if short > near_level or fails:
                    continue
                fails += 1
                why |= FAILED_LEVEL
        if vacancy[V_HAS_DATE]:
            late = np.int64(available_from[row]) - vacancy[V_DATE]
            if late > 0:
                if late > near_days or fails:
                    continue
                fails += 1
                why |= FAILED_AVAILABILITY

        must = 0.0
        nice = 0.0
        strict = 0.0
        for p in range(held_starts[row], held_starts[row] + held_lens[row]):
            skill = held_skills[p]
            if required[skill]:  # a byte a skill, in L1: the table of shares is read only for these
                s = strength[held_levels[p]]
                must += skill_lut[skill, 0] * s
                nice += skill_lut[skill, 1] * s
                strict += skill_lut[skill, 2]
        if n_strict:
            missing = np.int64(np.round(n_strict - strict))
            fails += missing
            if missing > 0:
                why |= FAILED_SKILLS
            if n_strict < params[P_NEAR_STRICT] and missing > 0:
                fails = 2  # lacking the one key skill is no near-miss
            if fails >= 2:
                continue

        if target_norm:
            covered = 0.0
            for p in range(concept_starts[row], concept_starts[row] + concept_lens[row]):
                weight = concept_lut[concepts[p]]
                if weight != 0.0:  # most are not the target's: adding 0.0 alike, but each add waits for the last
                    covered += weight
            fit = covered / target_norm
        else:
            fit = neutral
        if vacancy[V_HAS_OCCUPATION] and wanted_lens[row] > 0:
            best = -np.inf
            for p in range(wanted_starts[row], wanted_starts[row] + wanted_lens[row]):
                w = wanted[p]
                if w == occupation:
                    sim = 1.0
                elif w < len(similarities):
                    sim = similarities[w]
                else:
                    sim = 0.0
                best = max(best, sim)
        else:
            best = neutral
        wishes = share * best + (1 - share) * (min(hours_hi, most) / most)
        if np.isnan(d):
            closeness = 0.0
        elif np.isinf(r):
            closeness = 1.0
        elif r > 0:
            closeness = max(0.0, 1.0 - d / r)
        else:
            closeness = 1.0 if d == 0 else 0.0
        must_value = must if vacancy[V_HAS_MUST] else 1.0
        nice_value = nice if vacancy[V_HAS_NICE] else neutral

        kept[m] = row
        kept_dist[m] = d
        fails_out[m] = fails
        why_out[m] = why
        if fails == 0:
            eligible_groups[groups[row]] += 1
        values[m, 0] = must_value
        values[m, 1] = nice_value
        values[m, 2] = fit
        values[m, 3] = wishes
        values[m, 4] = closeness
        totals[m] = (params[P_W_MUST] * must_value + params[P_W_NICE] * nice_value + params[P_W_FIT] * fit
                     + params[P_W_WISHES] * wishes + params[P_W_DISTANCE] * closeness)
        _keep_best(near_totals if fails else top_totals, totals[m])
        m += 1
    for j in range(len(codes)):
        required[codes[j]] = False
        for x in range(3):
            skill_lut[codes[j], x] = 0.0
    for j in range(len(target_concepts)):
        concept_lut[target_concepts[j]] = 0.0
    totals, fails_out = totals[:m], fails_out[:m]
    # how many are eligible, then how many of them hold each groups bit
    eligible = np.zeros(9, np.int64)
    for pattern in range(256):
        eligible[0] += eligible_groups[pattern]
        for bit in range(8):
            if pattern >> bit & 1:
                eligible[1 + bit] += eligible_groups[pattern]
    return (kept[:m], kept_dist[:m], fails_out, why_out[:m], values[:m], totals, eligible,
            _contenders(totals, fails_out, top_totals, True), _contenders(totals, fails_out, near_totals, False))


@njit(cache=True, nogil=True)
def _keep_best(best, total):
    """Insert ``total`` into ``best`` (descending, fixed length) if it belongs there. A page of
    results is a few entries: insertion is cheapest."""
    k = len(best)
    if k == 0 or not total > best[k - 1]:
        return
    j = k - 1
    while j > 0 and best[j - 1] < total:
        best[j] = best[j - 1]
        j -= 1
    best[j] = total


@njit(cache=True, nogil=True)
def _contenders(totals, fails, best, eligible):
    """Positions of the eligible rows (or near-misses) whose total is at least the k-th
    best (``best[-1]``) less 1e-8: rounded to 9 digits, as rankings order, they may tie with it."""
    out = np.empty(len(totals), np.int64)
    if len(best) == 0:
        return out[:0]
    floor = best[-1] - 1e-8  # -inf when fewer than k: all of them
    n = 0
    for i in range(len(totals)):
        if (fails[i] == 0) == eligible and totals[i] >= floor:
            out[n] = i
            n += 1
    return out[:n]


@njit(cache=True, nogil=True)
def explain_rows(rows, held_starts, held_lens, held_skills, concept_starts, concept_lens, concepts,
                 target_concepts, target_weights, reach_skills, reach_starts, reach_concepts, norm, marks, weights,
                 slots, gap_codes, occupation, wanted_starts, wanted_lens, wanted):
    """What ``scoring.Explainer`` works out with sets, for the rows a query serves. Per row:
    of its transfer (``Explainer.transfer``), the target skills held (``exact``), the target
    concepts its concepts cover, the fit through concepts that no exact skill reaches
    (summed in ascending concept order, as the Explainer sums, then divided by ``norm``)
    and the heaviest three of those concepts (``named``, ties by concept, -1 for none: all
    an explanation names); its ``Explainer.held_mask`` (``gap_codes``: the skill of each
    gaps entry, at most 63); and whether it wants ``occupation`` (a code, -1 for none).

    ``target_concepts`` and ``target_weights``: the vacancy's occupation-fit target;
    ``reach_skills`` its target skills, each reaching ``reach_concepts[reach_starts[j]:
    reach_starts[j + 1]]`` of the target. Scratch, zero before and after: ``marks`` and
    ``weights`` a byte and a double per concept, ``slots`` an int per skill."""
    for j in range(len(target_concepts)):
        marks[target_concepts[j]] = IN_TARGET
        weights[target_concepts[j]] = target_weights[j]
    for j in range(len(reach_skills)):
        slots[reach_skills[j]] = j + 1
    n = len(rows)
    exact = np.zeros(n, np.int64)
    covered = np.zeros(n, np.int64)
    fit = np.zeros(n, np.float64)
    named = np.full((n, 3), -1, np.int64)
    masks = np.zeros(n, np.int64)
    wants = np.zeros(n, np.bool_)
    for i in range(n):
        row = rows[i]
        held_first, held_end = held_starts[row], held_starts[row] + held_lens[row]
        for p in range(held_first, held_end):  # mark what the exactly held target skills reach
            skill = held_skills[p]
            for g in range(len(gap_codes)):
                if gap_codes[g] == skill:
                    masks[i] |= np.int64(1) << g
            j = slots[skill] - 1
            if j >= 0:
                exact[i] += 1
                for q in range(reach_starts[j], reach_starts[j + 1]):
                    marks[reach_concepts[q]] |= REACHED
        through_others = 0.0
        top = named[i]
        for p in range(concept_starts[row], concept_starts[row] + concept_lens[row]):
            c = concepts[p]
            if marks[c] & IN_TARGET:
                covered[i] += 1
                if not marks[c] & REACHED:
                    w = weights[c]
                    through_others += w
                    # into the heaviest three (ascending concepts: an equal weight stays behind)
                    at = 3
                    while at > 0 and (top[at - 1] < 0 or w > weights[top[at - 1]]):
                        at -= 1
                    if at < 3:
                        for k in range(2, at, -1):
                            top[k] = top[k - 1]
                        top[at] = c
        fit[i] = through_others / norm
        for p in range(held_first, held_end):  # and unmark
            j = slots[held_skills[p]] - 1
            if j >= 0:
                for q in range(reach_starts[j], reach_starts[j + 1]):
                    marks[reach_concepts[q]] = IN_TARGET
        for p in range(wanted_starts[row], wanted_starts[row] + wanted_lens[row]):
            if wanted[p] == occupation:
                wants[i] = True
    for j in range(len(target_concepts)):
        marks[target_concepts[j]] = 0
        weights[target_concepts[j]] = 0.0
    for j in range(len(reach_skills)):
        slots[reach_skills[j]] = 0
    return exact, covered, fit, named, masks, wants


@njit(cache=True, nogil=True)
def result_numbers(values, weights, totals, distances, scales):
    """The numbers ``scoring.Explainer.results`` shows, a row a result: component values,
    their contributions (times ``weights``), the total and the km, each scaled by its
    ``scales`` (10 ** digits), rounded half to even and scaled back, as ``scoring.rounded``
    does in numpy; ``unsure`` marks those within rounding error of a tie, which ``round()``
    redoes (``raw``: the numbers before rounding). Large values (1e5 and up) or NaN: ``ok``
    is False, and all are ``round()``'s."""
    n, k = values.shape
    raw = np.empty((n, 2 * k + 2), np.float64)
    for i in range(n):
        for j in range(k):
            raw[i, j] = values[i, j]
            raw[i, k + j] = values[i, j] * weights[j]
        raw[i, 2 * k] = totals[i]
        raw[i, 2 * k + 1] = distances[i]
    out = np.empty_like(raw)
    unsure = np.zeros(raw.shape, np.bool_)
    ok = True
    for i in range(n):
        for j in range(2 * k + 2):
            x = raw[i, j]
            if not abs(x) < 1e5:
                ok = False
            scaled = x * scales[j]
            nearest = np.rint(scaled)
            out[i, j] = nearest / scales[j]
            unsure[i, j] = abs(scaled - nearest) >= 0.5 - 1e-6
    return raw, out, unsure, ok
