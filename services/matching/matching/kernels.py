"""The matching rules compiled, and the compiled passes of both queries that call them.

``scoring`` states each rule in plain Python for one pair: the reference. Here each rule
is stated once more, compiled and inlined (``check``, ``skills_failures``, ``components``
and the small ones they call; in this file with the passes, as numba's cache of a pass
is renewed only when its own file changes), and both directions' passes call the same ones:
``score_candidates`` (a vacancy's candidates, row by row of the candidate table) and
``score_vacancies`` (a candidate's vacancies, row by row of the vacancy table). A pass
differs from the other only in which side's lists it walks and which side it looks up.

The rules, by scoring's function and the compiled one stating it here:

    check_hours           hours_failures          coverage (must, nice)  components
    check_travel          travel_failures         occupation_fit         components
    check_conditions      conditions_failures *   wish_value             components, wished, similarity
    check_level           level_failures          distance_value         closeness
    check_skills          skills_failures         total                  components
    check_availability    availability_failures   (a near-miss)          check, FAR

    * what a vacancy offers, as the bits of the needs it meets: ``index.codes.offer_bits``

In numpy each step of a query (a constraint, a skill sum, the fit) is a call whose fixed
cost outweighs its work; one pass per row does it all. What a pass reads comes named:
thresholds and weights as ``RULES`` and ``components`` records (values, not globals:
numba's on-disk cache keys on this file, not on scoring's constants), each row as the
record of its table, each side's lists as a named tuple of flat arrays.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

EARTH_KM = 6371.0  # as scoring.haversine_km
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)  # bits set in a byte
AHEAD = 8  # rows ahead whose skills and concepts are asked for (4 to 16 did alike)
IN_TARGET, REACHED = 1, 2  # explain_rows' marks
# why a pair fails, a bit per constraint (scoring.CONSTRAINTS' names)
HOURS, TRAVEL, CONDITIONS, LEVEL, SKILLS, AVAILABILITY = 1, 2, 4, 8, 16, 32
WHY_BITS = {"hours": HOURS, "travel": TRAVEL, "conditions": CONDITIONS, "level": LEVEL, "skills": SKILLS,
            "availability": AVAILABILITY}
# the failures a constraint counts when failed by more than a near-miss allows: the pair is out
FAR = 2
NO_LEVEL = -128  # a vacancy asking no level (less than any candidate's)
LEVEL_UNKNOWN = 127  # a candidate's unknown level (meets any asked)
NO_DATE = np.iinfo(np.int32).max  # a vacancy without a closing date (later than anyone's availability)


def rules_type(levels: int) -> np.dtype:
    """How far off a near-miss may be, what stands in for nothing to measure, and the
    strength of each of ``levels`` skill level codes (scoring's names, without NEAR_)."""
    return np.dtype([
        ("near_travel", np.float64), ("near_hours", np.int64), ("near_level", np.int64),
        ("near_days", np.int64), ("near_strict", np.int64), ("neutral", np.float64),
        ("wish_share", np.float64), ("strength", np.float64, (levels,)),
    ])


def components_type(names) -> np.dtype:
    """A double per score component, in ``names``' order (scoring.COMPONENTS): the weights
    handed to a pass, and each row's values it gives back."""
    return np.dtype([(name, np.float64) for name in names])


# per skill, what the vacancy a candidate pass scores for asks of it (zero: nothing)
SKILL_ASKED = np.dtype([("must", np.float64), ("nice", np.float64), ("strict", np.uint8)], align=True)


class Asked(NamedTuple):
    """What a vacancy asks, as a candidate pass looks it up: skills (must-haves, then
    nice-to-haves) with their weight as either and whether no module closes them, and its
    occupation-fit target (concepts ascending, their weights)."""

    skills: np.ndarray  # int64 codes
    must: np.ndarray  # float64, 0 for a nice-to-have
    nice: np.ndarray  # float64, 0 for a must-have
    strict: np.ndarray  # uint8
    concepts: np.ndarray  # int64
    concept_weights: np.ndarray  # float64


class CandidateLists(NamedTuple):
    """The candidate table's lists, flat (a row's span is in its record: ``held_start`` ...)."""

    held_skills: np.ndarray
    held_levels: np.ndarray  # level codes (scoring.STRENGTH)
    concepts: np.ndarray  # ascending per row
    wanted: np.ndarray  # occupation codes


class VacancyLists(NamedTuple):
    """The vacancy table's lists, flat (spans in its records: ``must_start`` ...)."""

    must_skills: np.ndarray
    must_weights: np.ndarray
    nice_skills: np.ndarray
    nice_weights: np.ndarray
    target_concepts: np.ndarray  # ascending per row
    target_weights: np.ndarray


class Scratch(NamedTuple):
    """Lookup tables a pass fills from one side and clears again: zero between queries."""

    asked: np.ndarray  # SKILL_ASKED per skill code
    marked: np.ndarray  # bool per skill code, asked (a candidates pass) or held (a vacancies pass): in L1
    held: np.ndarray  # float64 per skill code: the candidate's strength, 0 not held
    concept_weights: np.ndarray  # float64 per concept
    marks: np.ndarray  # uint8 per concept
    slots: np.ndarray  # int32 per skill code


class Scored(NamedTuple):
    """A pass's rows kept (eligible, or a near-miss): each row's km, failures and why
    (bits), component values and total; and the positions of the eligible and of the
    near-misses that may be among the best k (``contenders``)."""

    rows: np.ndarray
    km: np.ndarray
    fails: np.ndarray
    why: np.ndarray
    values: np.ndarray
    totals: np.ndarray
    top: np.ndarray
    near_top: np.ndarray


class InReach(NamedTuple):
    """The areas some reach band gets to from one area: each area, its km, the first band."""

    areas: np.ndarray
    km: np.ndarray
    band: np.ndarray


class Filed(NamedTuple):
    """Rows filed by cell (index.areas.CellIndex): where each cell's rows start in ``rows``,
    the rows, their least and most hours, and the cell each row is filed under."""

    start: np.ndarray
    rows: np.ndarray
    hours: np.ndarray
    indexed: np.ndarray


class Reaches(NamedTuple):
    """Per target skill (ascending codes), the target concepts it reaches:
    ``concepts[starts[j]:starts[j + 1]]``."""

    skills: np.ndarray
    starts: np.ndarray
    concepts: np.ndarray


# --- the rules, each once ---------------------------------------------------------------------
# Each constraint counts 0 when met, 1 when only just failed (a near-miss), FAR otherwise.


@njit(inline="always")
def _near(off, near):
    if off <= 0:
        return 0
    return 1 if off <= near else FAR


@njit(inline="always")
def travel_failures(km, reach, rules):
    """Within reach; only just when within ``near_travel`` times it. An unknown distance
    (NaN) fails, and not only just."""
    if km <= reach:
        return 0
    return 1 if km <= reach * rules.near_travel else FAR


@njit(inline="always")
def hours_failures(least, most, lo, hi, rules):
    """The candidate's least to most hours overlap the vacancy's ``lo`` to ``hi``."""
    return _near(max(lo - most, least - hi), rules.near_hours)


@njit(inline="always")
def conditions_failures(needs, offers):
    """Each need (a bit) the vacancy does not offer: each only just."""
    return np.int64(POPCOUNT[np.int64(needs) & ~np.int64(offers) & 0xFF])


@njit(inline="always")
def level_failures(level, required, rules):
    """At least the level asked (``NO_LEVEL`` and ``LEVEL_UNKNOWN`` always pass)."""
    return _near(required - level, rules.near_level)


@njit(inline="always")
def availability_failures(available_from, valid_through, rules):
    """Available (a day ordinal, 0 now) by the closing date (``NO_DATE`` none)."""
    return _near(available_from - valid_through, rules.near_days)


@njit(inline="always")
def skills_failures(missing, strict, rules):
    """Each strict must-have missing fails; only just when one is missing of at least
    ``near_strict``: lacking the one key skill asked is no near-miss."""
    if missing == 0:
        return 0
    return missing if strict >= rules.near_strict else FAR


@njit(inline="always")
def check(km, candidate, vacancy, rules):
    """Every constraint but skills (which needs both sides' lists), cheapest first and no
    further once out: the failures counted and which failed (bits). ``candidate`` and
    ``vacancy``: records of their tables."""
    fails = travel_failures(km, candidate.reach, rules)
    why = TRAVEL if fails else 0
    if fails >= FAR:
        return fails, why
    f = hours_failures(np.int64(candidate.hours_min), np.int64(candidate.hours_max),
                       np.int64(vacancy.hours_lo), np.int64(vacancy.hours_hi), rules)
    if f:
        fails += f
        why |= HOURS
        if fails >= FAR:
            return fails, why
    f = conditions_failures(candidate.needs, vacancy.offers)
    if f:
        fails += f
        why |= CONDITIONS
        if fails >= FAR:
            return fails, why
    f = level_failures(np.int64(candidate.level), np.int64(vacancy.level_required), rules)
    if f:
        fails += f
        why |= LEVEL
        if fails >= FAR:
            return fails, why
    f = availability_failures(np.int64(candidate.available_from), np.int64(vacancy.valid_through), rules)
    if f:
        fails += f
        why |= AVAILABILITY
    return fails, why


@njit(inline="always")
def similarity(code, other, row_of_other):
    """Of two occupations (codes): the same is 1.0, else ESCO's similarity from the other's
    row (by code), 0.0 for one ESCO does not know."""
    if code == other:
        return 1.0
    return row_of_other[code] if code < len(row_of_other) else 0.0


@njit(inline="always")
def closeness(km, reach):
    """How near within reach: 1 next door, 0 at the limit; an unknown distance 0."""
    if np.isnan(km):
        return 0.0
    if np.isinf(reach):
        return 1.0
    if reach > 0:
        return max(0.0, 1.0 - km / reach)
    return 1.0 if km == 0 else 0.0


@njit(inline="always")
def components(out, must, nice, covered, occupation, km, candidate, vacancy, rules, weights):
    """The five components of a pair into ``out`` (a components record), and its total.
    ``must`` and ``nice``: the sums of weight times strength of the skills asked and held;
    ``covered``: the target weight of the concepts held; ``occupation``: the closest
    wanted occupation's similarity, or None's stand-in (``wished``)."""
    out.must_have = must / vacancy.must_total if vacancy.must_total else 1.0
    out.nice_to_have = nice / vacancy.nice_total if vacancy.nice_total else rules.neutral
    out.occupation_fit = covered / vacancy.target_norm if vacancy.target_norm else rules.neutral
    most = np.int64(candidate.hours_max)
    hours = min(np.int64(vacancy.hours_hi), most) / most
    out.wishes = rules.wish_share * occupation + (1 - rules.wish_share) * hours
    out.distance = closeness(km, candidate.reach)
    return (weights.must_have * out.must_have + weights.nice_to_have * out.nice_to_have
            + weights.occupation_fit * out.occupation_fit + weights.wishes * out.wishes
            + weights.distance * out.distance)


@njit(inline="always")
def wished(best, wanted, occupation, rules):
    """The wish for an occupation: the closest of the ``wanted`` (how many) occupations,
    neutral when the candidate wants none or the vacancy names none (``occupation`` < 0)."""
    return best if wanted > 0 and occupation >= 0 else rules.neutral


# --- candidates for a vacancy -----------------------------------------------------------------


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
def score_candidates(rows, km, vacancy, asked, similarities, candidates, lists, scratch, rules, weights, k, near_k):
    """The constraints, components and total of each of ``rows`` (candidate table rows, at
    ``km`` from the vacancy) that is eligible or a near-miss, for one vacancy: ``vacancy``
    its record (one), ``asked`` what it asks, ``similarities`` its occupation's row (empty
    when ESCO does not know it). Returns ``Scored`` (``k`` and ``near_k``: how many of
    the eligible and of the near-misses are wanted), and how many rows are eligible, then
    how many of those hold each target group bit (for fairness)."""
    v, r, w = vacancy[0], rules[0], weights[0]
    strict = 0
    for j in range(len(asked.skills)):
        code = asked.skills[j]
        scratch.marked[code] = True
        scratch.asked[code].must = asked.must[j]
        scratch.asked[code].nice = asked.nice[j]
        scratch.asked[code].strict = asked.strict[j]
        strict += asked.strict[j]
    for j in range(len(asked.concepts)):
        scratch.concept_weights[asked.concepts[j]] = asked.concept_weights[j]
    n = len(rows)
    kept = np.empty(n, np.int64)
    kept_km = np.empty(n, np.float64)
    fails_out = np.empty(n, np.uint8)
    why_out = np.empty(n, np.uint8)
    values = np.empty(n, weights.dtype)
    totals = np.empty(n, np.float64)
    eligible_groups = np.zeros(256, np.int64)
    top, near_top = np.full(max(k, 0), -np.inf), np.full(max(near_k, 0), -np.inf)
    m = 0
    for i in range(n):
        if i + AHEAD < n:
            ahead = candidates[rows[i + AHEAD]]
            prefetch(candidates, rows[min(i + 2 * AHEAD, n - 1)])  # the record further ahead: its spans are read next
            prefetch(lists.held_skills, ahead.held_start)
            prefetch(lists.held_levels, ahead.held_start)
            prefetch(lists.concepts, ahead.concepts_start)
        row = rows[i]
        c = candidates[row]
        d = km[i]
        # what a row never has to read is what makes this pass fast (memory, not arithmetic)
        fails, why = check(d, c, v, r)
        if fails >= FAR:
            continue
        must = 0.0
        nice = 0.0
        held_strict = 0
        for p in range(c.held_start, c.held_start + c.held_len):
            skill = lists.held_skills[p]
            if scratch.marked[skill]:  # the table of what is asked is read only for these
                s = r.strength[lists.held_levels[p]]
                a = scratch.asked[skill]
                must += a.must * s
                nice += a.nice * s
                held_strict += a.strict
        f = skills_failures(strict - held_strict, strict, r)
        if f:
            fails += f
            why |= SKILLS
            if fails >= FAR:
                continue
        covered = 0.0
        if v.target_norm:  # (without a target there is nothing to add up)
            for p in range(c.concepts_start, c.concepts_start + c.concepts_len):
                weight = scratch.concept_weights[lists.concepts[p]]
                if weight != 0.0:  # most are not the target's: adding 0.0 alike, but each add waits for the last
                    covered += weight
        best = -np.inf
        if v.occupation >= 0:
            for p in range(c.wanted_start, c.wanted_start + c.wanted_len):
                best = max(best, similarity(lists.wanted[p], v.occupation, similarities))
        total = components(values[m], must, nice, covered, wished(best, c.wanted_len, v.occupation, r), d, c, v,
                           r, w)
        kept[m] = row
        kept_km[m] = d
        fails_out[m] = fails
        why_out[m] = why
        totals[m] = total
        if fails == 0:
            eligible_groups[c.groups] += 1
        _keep_best(near_top if fails else top, total)
        m += 1
    for j in range(len(asked.skills)):
        code = asked.skills[j]
        scratch.marked[code] = False
        scratch.asked[code].must = 0.0
        scratch.asked[code].nice = 0.0
        scratch.asked[code].strict = 0
    for j in range(len(asked.concepts)):
        scratch.concept_weights[asked.concepts[j]] = 0.0
    totals, fails_out = totals[:m], fails_out[:m]
    # how many are eligible, then how many of them hold each groups bit
    eligible = np.zeros(9, np.int64)
    for pattern in range(256):
        eligible[0] += eligible_groups[pattern]
        for bit in range(8):
            if pattern >> bit & 1:
                eligible[1 + bit] += eligible_groups[pattern]
    scored = Scored(kept[:m], kept_km[:m], fails_out, why_out[:m], values[:m], totals,
                    contenders(totals, fails_out, top, True), contenders(totals, fails_out, near_top, False))
    return scored, eligible


# --- vacancies for a candidate ----------------------------------------------------------------


@njit(cache=True, nogil=True)
def score_vacancies(rows, km, candidate, candidate_lists, wanted_rows, vacancies, lists, closable, scratch, rules,
                    weights, k, near_k):
    """``score_candidates`` the other way round: for one candidate (``candidate``: their
    record, one; ``candidate_lists``: the candidate table's lists), each of ``rows``
    (vacancy table rows, at ``km``) that is eligible or a near-miss. ``wanted_rows``: per
    occupation the candidate wants (in their order), its similarity to each occupation
    code (zeros for one ESCO does not know); ``closable``: per skill code, whether a module
    closes it."""
    c, r, w = candidate[0], rules[0], weights[0]
    held_first, held_end = c.held_start, c.held_start + c.held_len
    for p in range(held_first, held_end):
        scratch.held[candidate_lists.held_skills[p]] = r.strength[candidate_lists.held_levels[p]]
        scratch.marked[candidate_lists.held_skills[p]] = True
    for p in range(c.concepts_start, c.concepts_start + c.concepts_len):
        scratch.marks[candidate_lists.concepts[p]] = 1
    n = len(rows)
    kept = np.empty(n, np.int64)
    kept_km = np.empty(n, np.float64)
    fails_out = np.empty(n, np.uint8)
    why_out = np.empty(n, np.uint8)
    values = np.empty(n, weights.dtype)
    totals = np.empty(n, np.float64)
    top, near_top = np.full(max(k, 0), -np.inf), np.full(max(near_k, 0), -np.inf)
    m = 0
    for i in range(n):
        row = rows[i]
        v = vacancies[row]
        d = km[i]
        fails, why = check(d, c, v, r)
        if fails >= FAR:
            continue
        must = 0.0
        strict = 0
        missing = 0
        for p in range(v.must_start, v.must_start + v.must_len):
            skill = lists.must_skills[p]
            must += lists.must_weights[p] * scratch.held[skill]
            if not closable[skill]:
                strict += 1
                missing += not scratch.marked[skill]
        f = skills_failures(missing, strict, r)
        if f:
            fails += f
            why |= SKILLS
            if fails >= FAR:
                continue
        nice = 0.0
        for p in range(v.nice_start, v.nice_start + v.nice_len):
            nice += lists.nice_weights[p] * scratch.held[lists.nice_skills[p]]
        covered = 0.0
        for p in range(v.target_start, v.target_start + v.target_len):
            if scratch.marks[lists.target_concepts[p]]:
                covered += lists.target_weights[p]
        best = -np.inf
        if v.occupation >= 0:
            for j in range(len(wanted_rows)):
                wanted = candidate_lists.wanted[c.wanted_start + j]
                best = max(best, similarity(v.occupation, wanted, wanted_rows[j]))
        total = components(values[m], must, nice, covered, wished(best, c.wanted_len, v.occupation, r), d, c, v,
                           r, w)
        kept[m] = row
        kept_km[m] = d
        fails_out[m] = fails
        why_out[m] = why
        totals[m] = total
        _keep_best(near_top if fails else top, total)
        m += 1
    for p in range(held_first, held_end):
        scratch.held[candidate_lists.held_skills[p]] = 0.0
        scratch.marked[candidate_lists.held_skills[p]] = False
    for p in range(c.concepts_start, c.concepts_start + c.concepts_len):
        scratch.marks[candidate_lists.concepts[p]] = 0
    totals, fails_out = totals[:m], fails_out[:m]
    return Scored(kept[:m], kept_km[:m], fails_out, why_out[:m], values[:m], totals,
                  contenders(totals, fails_out, top, True), contenders(totals, fails_out, near_top, False))


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
def contenders(totals, fails, best, eligible):
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


# --- the first cut: areas and cells -----------------------------------------------------------


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
def areas_in_reach(area, lat, lon, cos_lat, lat_span, lon_span, band_reach):
    """The areas some band's reach (``band_reach``, ascending) gets to from ``area``, of
    those within ``lat_span`` and ``lon_span`` of it: ``InReach``."""
    n_areas, bands = len(lat), len(band_reach)
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
    return InReach(areas[:k].copy(), area_km[:k].copy(), area_band[:k].copy())


@njit(cache=True, nogil=True)
def select_rows(reached, filed, bands, hours_lo, hours_hi, near_hours, active, cells, check_filed):
    """The active rows that may be in reach, with their km: of each area ``reached``
    (``InReach``), the rows ``filed`` under its cells from its first band reaching it,
    whose hours are at most ``near_hours`` off the vacancy's ``hours_lo``..``hours_hi``.
    Without a branch a row: which rows pass is unpredictable, and a mispredicted branch
    costs more than the write. With ``check_filed``, only rows still filed under their
    cell (``cells``: each row's)."""
    start, sorted_hours = filed.start, filed.hours
    total = 0
    for i in range(len(reached.areas)):
        a = np.int64(reached.areas[i])
        total += start[(a + 1) * bands] - start[a * bands + reached.band[i]]
    rows = np.empty(total, np.int64)
    dist = np.empty(total, np.float64)
    n = 0
    for i in range(len(reached.areas)):
        a = np.int64(reached.areas[i])
        km = reached.km[i]
        for p in range(start[a * bands + reached.band[i]], start[(a + 1) * bands]):
            row = filed.rows[p]
            rows[n] = row
            dist[n] = km
            near = max(hours_lo - np.int64(sorted_hours[p, 1]), np.int64(sorted_hours[p, 0]) - hours_hi) <= near_hours
            n += near & active[row] & (not check_filed or cells[row] == filed.indexed[row])
    return rows[:n], dist[:n]


# --- what results served show -----------------------------------------------------------------


@njit(cache=True, nogil=True)
def explain_rows(rows, candidates, lists, asked, reaches, norm, gap_codes, occupation, scratch):
    """What ``scoring.Explainer`` works out with sets, for the rows a query serves. Per row:
    of its transfer (``Explainer.transfer``), the target skills held (``exact``), the target
    concepts its concepts cover, the fit through concepts that no exact skill reaches
    (summed in ascending concept order, as the Explainer sums, then divided by ``norm``)
    and the heaviest three of those concepts (``named``, ties by concept, -1 for none: all
    an explanation names); its ``Explainer.held_mask`` (``gap_codes``: the skill of each
    gaps entry, at most 63); and whether it wants ``occupation`` (a code, -1 for none).

    ``asked``: the vacancy's (its target); ``reaches``: what each of its target skills
    reaches of the target. ``scratch``'s marks, concept weights and slots are used."""
    marks, weights, slots = scratch.marks, scratch.concept_weights, scratch.slots
    for j in range(len(asked.concepts)):
        marks[asked.concepts[j]] = IN_TARGET
        weights[asked.concepts[j]] = asked.concept_weights[j]
    for j in range(len(reaches.skills)):
        slots[reaches.skills[j]] = j + 1
    n = len(rows)
    exact = np.zeros(n, np.int64)
    covered = np.zeros(n, np.int64)
    fit = np.zeros(n, np.float64)
    named = np.full((n, 3), -1, np.int64)
    masks = np.zeros(n, np.int64)
    wants = np.zeros(n, np.bool_)
    for i in range(n):
        c = candidates[rows[i]]
        held_first, held_end = c.held_start, c.held_start + c.held_len
        for p in range(held_first, held_end):  # mark what the exactly held target skills reach
            skill = lists.held_skills[p]
            for g in range(len(gap_codes)):
                if gap_codes[g] == skill:
                    masks[i] |= np.int64(1) << g
            j = slots[skill] - 1
            if j >= 0:
                exact[i] += 1
                for q in range(reaches.starts[j], reaches.starts[j + 1]):
                    marks[reaches.concepts[q]] |= REACHED
        through_others = 0.0
        top = named[i]
        for p in range(c.concepts_start, c.concepts_start + c.concepts_len):
            concept = lists.concepts[p]
            if marks[concept] & IN_TARGET:
                covered[i] += 1
                if not marks[concept] & REACHED:
                    weight = weights[concept]
                    through_others += weight
                    # into the heaviest three (ascending concepts: an equal weight stays behind)
                    at = 3
                    while at > 0 and (top[at - 1] < 0 or weight > weights[top[at - 1]]):
                        at -= 1
                    if at < 3:
                        for k in range(2, at, -1):
                            top[k] = top[k - 1]
                        top[at] = concept
        fit[i] = through_others / norm
        for p in range(held_first, held_end):  # and unmark
            j = slots[lists.held_skills[p]] - 1
            if j >= 0:
                for q in range(reaches.starts[j], reaches.starts[j + 1]):
                    marks[reaches.concepts[q]] = IN_TARGET
        for p in range(c.wanted_start, c.wanted_start + c.wanted_len):
            if lists.wanted[p] == occupation:
                wants[i] = True
    for j in range(len(asked.concepts)):
        marks[asked.concepts[j]] = 0
        weights[asked.concepts[j]] = 0.0
    for j in range(len(reaches.skills)):
        slots[reaches.skills[j]] = 0
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
