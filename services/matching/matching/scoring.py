"""Scoring one (candidate, vacancy) pair, in plain Python: the reference the
vectorised index must agree with, and the code that writes every result's
breakdown, skill gaps and explanation. ``matching.kernels`` states the same rules
compiled, once for both of the index's queries: a rule changed here is changed there
(its docstring pairs each function here with its own), and the index's property tests
hold both queries to the brute-force rankings below (``rank_candidates``, ``rank_vacancies``).

Hard constraints first, each failing one with a why-not:

- hours: the candidate's least-to-most hours overlap the vacancy's (exactly its
  hours; from half of them when it offers ``flexible_hours``);
- travel: the straight line between the PC4 centroids is within the candidate's
  reach, the farthest their fastest mode gets within their maximum minutes (an
  hour by bicycle or public transport when none is stated) and maximum km;
- conditions: what the candidate needs, the vacancy offers (see ``profiles``);
- level: work and thinking level at least the vacancy's (one less for a
  leerwerkbaan); unknown on either side is not held against anyone;
- skills: every must-have held, or closable by a known module (then a gap);
- availability: available before the vacancy's closing date.

A pair failing exactly one, and only just (``NEAR_*``), is a near-miss: shown
apart, with its why-not, because a small change (a module, an hour, an
adaptation) would make it a match. Then a weighted score over ``WEIGHTS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from matching import esco
from matching.modules import CATALOGUE, ModuleCatalogue
from matching.profiles import (
    CONDITION_OFFERS,
    HEAVY_LIFTING_SKILLS,
    LIFTING_RELIEF,
    TARGET_GROUPS,
    UNCHECKED_CONDITIONS,
    CandidateProfile,
    VacancyProfile,
)
from werkbrug_shared import clock, refdata

WEIGHTS = {
    "must_have": 0.30,
    "nice_to_have": 0.15,
    "occupation_fit": 0.30,
    "wishes": 0.10,
    "distance": 0.15,
}
"""Weights of the score's components (they sum to 1).

must_have and occupation_fit weigh most and alike: the must-haves already
passed as a constraint, so their coverage (weights, skill levels) refines, and
the transferable fit is what lets a person rank by what they can rather than
by their last job title. nice_to_have is the employer's wish list, half a
must-have. distance counts for sustainability (a long commute is a common
reason a placement ends), but every match is already within the candidate's
own maximum. wishes (wanted occupation, wanted hours) matter, but in these
target groups they are often still forming.
"""
COMPONENTS = tuple(WEIGHTS)
NEUTRAL = 0.5  # a component with nothing to measure (no nice-to-haves, no wish) neither helps nor hurts
NICE_TARGET_WEIGHT = 0.5  # a nice-to-have skill's concepts count half in the occupation-fit target
WISH_OCCUPATION_SHARE = 0.5  # wishes: wanted occupation, the rest wanted hours

# Skill strength by claimed level code: 1 basic, 2 independent, 3 experienced,
# 4 expert, 5 claimed without a level (taken as independent). Evidence (diploma
# or practice day) does not weigh: a missing diploma must not hide a person.
UNKNOWN_LEVEL = 5
STRENGTH = (0.0, 0.6, 0.8, 1.0, 1.0, 0.8)
# a Dutch level implies ESCO's Dutch skills at a level; A1 implies none
DUTCH_LEVEL_CODE = {"A2": 1, "B1": 2, "B2": 3, "C1": 4, "C2": 4}

# Travel. Speeds are door-to-door averages over road distance; road distance is
# the straight line between PC4 centroids times DETOUR; overheads are parking,
# or walking to and waiting for public transport.
DETOUR = 1.3
SPEED_KMH = {"on_foot": 5.0, "bicycle": 15.0, "public_transport": 25.0, "car": 50.0}
OVERHEAD_MINUTES = {"on_foot": 0.0, "bicycle": 0.0, "public_transport": 10.0, "car": 5.0}
# without a stated maximum: an hour one way, UWV's norm for suitable work (two hours a day)
DEFAULT_MAX_TRAVEL_MINUTES = 60
DEFAULT_TRANSPORT_MODES = ("bicycle", "public_transport")  # without stated modes: no car assumed
MODE_WORDS = {"on_foot": "on foot", "bicycle": "by bicycle", "public_transport": "by public transport",
              "car": "by car"}

# near-misses: how far off a single failing constraint may be
NEAR_TRAVEL_FACTOR = 1.25  # up to a quarter beyond the candidate's reach
NEAR_HOURS = 8  # hours a week between the wanted and the offered hours
NEAR_LEVEL = 1  # work and thinking levels short
NEAR_AVAILABILITY_DAYS = 31  # available at most a month after the vacancy closes
NEAR_SKILLS_STRICT = 2  # one strict must-have missing of at least this many

TOP_FOR_FAIRNESS = 10
TRANSFER_CARRIES = 0.15  # share of the occupation profile reached only through other skills
CONSTRAINTS = ("hours", "travel", "conditions", "level", "skills", "availability")  # why-not codes, in order
CANDIDATE_FILTERS = ("region", "target_group", "cohort", "banenafspraak")
VACANCY_FILTERS = ("region", "is_leerwerkbaan", "visibility", "banenafspraak_suitable")
CONDITION_WORDS = {
    "low_stimulus_workplace": "a low-stimulus workplace",
    "workplace_adaptation": "an adapted workplace",
    "jobcoach_needed": "a jobcoach on the job",
}
OFFER_WORDS = {
    "low_stimulus_workplace": "a low-stimulus workplace",
    "adapted_workplace": "an adapted workplace",
    "on_the_job_guidance": "on-the-job guidance",
}


# --- what scoring needs of each side ------------------------------------------------


@dataclass(slots=True)
class CandidateFacts:
    """A candidate as scoring sees it: derived once per profile, however stored.
    Read-only by convention (not frozen: the index makes these per result served)."""

    id: str
    pc4: str
    region: str
    target_groups: tuple[str, ...]
    cohort: str | None
    banenafspraak: bool
    hours: tuple[int, int]  # least and most hours a week
    reach_km: float  # straight-line km the candidate can travel within their maximum
    travel_minutes: float | None  # the time limit, if any
    distance_km_limit: float | None
    modes: tuple[str, ...]
    needs: tuple[str, ...]  # checked conditions (profiles.CHECKED_CONDITIONS)
    to_check: tuple[str, ...]  # conditions vacancy data cannot answer
    level: int | None
    available_from: date | None
    held: dict[str, int]  # skill URI -> level code (1-5)
    concepts: Collection[int] = frozenset()  # distinct; the index hands a sorted tuple (a set costs more to build)
    wanted: tuple[str, ...] = ()


class Served(NamedTuple):
    """What writing a result reads of a candidate (``Explainer.results``; CandidateFacts
    has the same): the index builds only these for the candidates it serves, and leaves
    held skills, concepts and wanted occupations empty: it hands its explainers each
    transfer and ``coded`` numbers instead."""

    held: Collection[str]  # skill URIs
    concepts: Collection[int]
    modes: tuple[str, ...]
    wanted: tuple[str, ...]
    to_check: tuple[str, ...]


@dataclass(frozen=True)
class VacancyFacts:
    id: str
    employer_id: str
    pc4: str
    region: str
    occupation: str | None
    hours: tuple[int, int]  # the hours a week it accepts: exactly its hours, or from half with flexible hours
    offers: frozenset[str]
    level_required: int | None
    must: tuple[tuple[str, float], ...]
    nice: tuple[tuple[str, float], ...]
    target: dict[int, float] = field(hash=False)  # occupation-fit target: concept -> weight
    target_norm: float = 0.0
    target_skills: frozenset[str] = frozenset()  # the skills the target is made of
    heavy_lifting: tuple[str, ...] = ()  # must-haves a no-heavy-lifting candidate cannot do
    valid_through: date | None = None
    is_open: bool = True
    visibility: str = "public"
    is_leerwerkbaan: bool = False
    banenafspraak_suitable: bool = False
    steward_organisations: frozenset[str] = frozenset()  # with visibility and region: who may see it

    @property
    def must_total(self) -> float:
        return sum(w for _, w in self.must)

    @property
    def nice_total(self) -> float:
        return sum(w for _, w in self.nice)


def travel_minutes(distance_km: float, mode: str) -> float:
    return OVERHEAD_MINUTES[mode] + distance_km * DETOUR / SPEED_KMH[mode] * 60.0


@lru_cache(maxsize=4096)
def reach_km(minutes: float | None, distance_limit: float | None, modes: tuple[str, ...]) -> float:
    """How far (straight line) a candidate gets within both limits, by their fastest mode."""
    reach = math.inf
    if minutes is not None:
        reach = max(max(0.0, minutes - OVERHEAD_MINUTES[m]) * SPEED_KMH[m] / 60.0 / DETOUR for m in modes)
    if distance_limit is not None:
        reach = min(reach, float(distance_limit))
    return reach


_NEEDS = (*CONDITION_OFFERS, "no_heavy_lifting")
_LEVELS = {1: 1, 2: 2, 3: 3, 4: 4}


@lru_cache(maxsize=1024)
def _modes(transport_modes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(m for m in SPEED_KMH if m in transport_modes) or DEFAULT_TRANSPORT_MODES


@lru_cache(maxsize=1024)
def _conditions(conditions: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The checked needs, and the rest to check by hand."""
    needs = tuple(c for c in _NEEDS if c in conditions)
    return needs, tuple(sorted(set(conditions) - set(needs)))


@lru_cache(maxsize=256)
def _groups(target_groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(g for g in TARGET_GROUPS if g in target_groups)


def candidate_facts(profile: CandidateProfile, knowledge: esco.SkillKnowledge | None = None, *,
                    with_concepts: bool = True) -> CandidateFacts:
    """``with_concepts=False`` leaves ``concepts`` empty, for a caller that derives
    them for many candidates at once (the index's bulk load)."""
    knowledge = knowledge or esco.knowledge()
    held = {skill: _LEVELS.get(level, UNKNOWN_LEVEL) for skill, level in profile.skill_levels().items()}
    dutch = DUTCH_LEVEL_CODE.get(profile.dutch_level or "")
    if dutch:
        for skill in esco.DUTCH_SKILLS:
            if STRENGTH[dutch] > STRENGTH[held.get(skill, 0)]:
                held[skill] = dutch
    modes = _modes(tuple(profile.transport_modes))
    minutes = profile.max_travel_minutes
    if minutes is None and profile.max_distance_km is None:
        minutes = DEFAULT_MAX_TRAVEL_MINUTES
    needs, to_check = _conditions(tuple(profile.conditions))
    return CandidateFacts(
        id=profile.candidate_id,
        pc4=profile.pc4,
        region=profile.region,
        target_groups=_groups(tuple(profile.target_groups)),
        cohort=profile.cohort,
        banenafspraak=profile.banenafspraak,
        hours=(min(profile.hours_min or 1, profile.hours_per_week), profile.hours_per_week),
        reach_km=reach_km(minutes, profile.max_distance_km, modes),
        travel_minutes=None if minutes is None else float(minutes),
        distance_km_limit=None if profile.max_distance_km is None else float(profile.max_distance_km),
        modes=modes,
        needs=needs,
        to_check=to_check,
        level=profile.work_thinking_level,
        available_from=profile.available_from,
        held=held,
        concepts=knowledge.concepts_of(held) if with_concepts else frozenset(),
        wanted=tuple(dict.fromkeys(profile.occupations_wanted)),
    )


def vacancy_facts(profile: VacancyProfile, knowledge: esco.SkillKnowledge | None = None) -> VacancyFacts:
    knowledge = knowledge or esco.knowledge()
    must = tuple((w.skill, w.weight) for w in profile.must_have)
    nice = tuple((w.skill, w.weight) for w in profile.nice_to_have)
    # the occupation-fit target: the occupation's essential skills and the must-haves in
    # full, nice-to-haves at half; each concept weighted by its rarity (idf)
    share: dict[int, float] = {c: 1.0 for c in knowledge.occupation_concepts(profile.occupation)}
    for skill, _ in must:
        share.update(dict.fromkeys(knowledge.skill_concepts(skill), 1.0))
    for skill, _ in nice:
        for c in knowledge.skill_concepts(skill):
            share.setdefault(c, NICE_TARGET_WEIGHT)
    target = {c: share[c] * float(knowledge.idf[c]) for c in sorted(share)}
    hours = profile.hours_per_week
    flexible = "flexible_hours" in profile.conditions_offered
    offers = set(profile.conditions_offered)
    heavy = tuple(s for s, _ in must if s in HEAVY_LIFTING_SKILLS)
    level = profile.work_thinking_level
    if level is not None and profile.is_leerwerkbaan:
        level -= 1  # a leerwerkbaan teaches on the job: one level below will do
    return VacancyFacts(
        id=profile.vacancy_id,
        employer_id=profile.employer_id,
        pc4=profile.pc4,
        region=profile.region,
        occupation=profile.occupation,
        hours=((hours + 1) // 2 if flexible else hours, hours),
        offers=frozenset(offers),
        level_required=level,
        must=must,
        nice=nice,
        target=target,
        target_norm=sum(target.values()),
        target_skills=frozenset((*knowledge.essential_skills(profile.occupation), *(s for s, _ in must + nice))),
        heavy_lifting=heavy,
        valid_through=profile.valid_through,
        is_open=profile.is_open,
        visibility=profile.visibility,
        is_leerwerkbaan=profile.is_leerwerkbaan,
        banenafspraak_suitable=profile.banenafspraak_suitable,
        steward_organisations=frozenset(profile.steward_organisations),
    )


def area_distance_km(pc4_a: str, pc4_b: str) -> float | None:
    """Straight-line km between two PC4 centroids; None if either area is unknown."""
    areas = refdata.postcode_areas()
    a, b = areas.get(pc4_a), areas.get(pc4_b)
    if a is None or b is None:
        return None
    return haversine_km(a.lat, a.lon, b.lat, b.lon)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


# --- hard constraints ---------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    constraint: str
    reason: str
    near: bool  # only just: this alone would make a near-miss

    def as_dict(self) -> dict:
        return {"constraint": self.constraint, "reason": self.reason}


def hours_gap(cf: CandidateFacts, vf: VacancyFacts) -> int:
    return max(vf.hours[0] - cf.hours[1], cf.hours[0] - vf.hours[1], 0)


def _hours_text(lo: int, hi: int) -> str:
    return f"{hi}" if lo == hi else f"{lo}-{hi}"


def check_hours(cf, vf) -> list[Failure]:
    gap = hours_gap(cf, vf)
    if not gap:
        return []
    offered = _hours_text(*vf.hours) + (" (flexible)" if vf.hours[0] != vf.hours[1] else "")
    return [Failure("hours", f"the vacancy's {offered} hours a week do not fit the candidate's "
                             f"{_hours_text(*cf.hours)} hours", gap <= NEAR_HOURS)]


def fastest_mode(modes, distance: float) -> tuple[str, float]:
    """The quickest of these modes over this distance and its minutes (as travel_minutes,
    to the last bit); ties by mode name. A plain loop: this runs for every result written."""
    road = distance * DETOUR
    fastest = minutes = None
    for mode in modes:
        overhead, speed = _MODE_TERMS[mode]
        took = overhead + road / speed * 60.0
        if fastest is None or took < minutes or (took == minutes and mode < fastest):
            fastest, minutes = mode, took
    return fastest, minutes


_MODE_TERMS = {m: (OVERHEAD_MINUTES[m], SPEED_KMH[m]) for m in SPEED_KMH}


def check_travel(cf, vf, distance: float | None) -> list[Failure]:
    if distance is None:
        unknown = [p for p in (cf.pc4, vf.pc4) if p not in refdata.postcode_areas()]
        return [Failure("travel", f"postcode area {', '.join(unknown)} has no known location", False)]
    if distance <= cf.reach_km:
        return []
    near = distance <= NEAR_TRAVEL_FACTOR * cf.reach_km
    if cf.distance_km_limit is not None and distance > cf.distance_km_limit:
        return [Failure("travel", f"{distance:.1f} km is over the candidate's maximum of "
                                  f"{cf.distance_km_limit:g} km", near)]
    mode, minutes = fastest_mode(cf.modes, distance)
    return [Failure("travel", f"{distance:.1f} km takes about {minutes:.0f} minutes {MODE_WORDS[mode]}, over the "
                              f"candidate's maximum of {cf.travel_minutes:g} minutes", near)]


def check_conditions(cf, vf) -> list[Failure]:
    failures = []
    for need in cf.needs:
        if need == "no_heavy_lifting":
            if vf.heavy_lifting and not vf.offers.intersection(LIFTING_RELIEF):
                skills = ", ".join(esco.knowledge().label(s) for s in vf.heavy_lifting)
                failures.append(Failure("conditions", f"the candidate cannot lift heavy loads and the vacancy "
                                                      f"requires {skills}, without job carving or an adapted "
                                                      f"workplace", True))
        elif CONDITION_OFFERS[need] not in vf.offers:
            failures.append(Failure("conditions", f"the candidate needs {CONDITION_WORDS[need]}; the vacancy "
                                                  f"offers no {OFFER_WORDS[CONDITION_OFFERS[need]]}", True))
    return failures


def check_level(cf, vf) -> list[Failure]:
    if vf.level_required is None or cf.level is None or cf.level >= vf.level_required:
        return []
    return [Failure("level", f"the vacancy asks work and thinking level {vf.level_required}; the candidate's "
                             f"is {cf.level}", vf.level_required - cf.level <= NEAR_LEVEL)]


def strict_missing(cf, vf, modules: ModuleCatalogue) -> list[str]:
    """Must-haves the candidate lacks and no module closes."""
    return [s for s, _ in vf.must if s not in cf.held and not modules.closable(s)]


def check_skills(cf, vf, modules) -> list[Failure]:
    """Each strict must-have missing. Only just missed (near) when the candidate holds
    the others of at least two: lacking the one key skill asked is no near-miss."""
    label = esco.knowledge().label
    missing = strict_missing(cf, vf, modules)
    strict = sum(1 for s, _ in vf.must if not modules.closable(s))
    near = len(missing) == 1 and strict >= NEAR_SKILLS_STRICT
    return [Failure("skills", f"must-have skill '{label(s)}' is missing and no known module closes it", near)
            for s in missing]


def check_availability(cf, vf) -> list[Failure]:
    if cf.available_from is None or vf.valid_through is None or cf.available_from <= vf.valid_through:
        return []
    late = (cf.available_from - vf.valid_through).days
    return [Failure("availability", f"the candidate is available from {cf.available_from.isoformat()}, after the "
                                    f"vacancy closes on {vf.valid_through.isoformat()}",
                    late <= NEAR_AVAILABILITY_DAYS)]


def failures(cf, vf, distance, modules, constraints: Collection[str] = CONSTRAINTS) -> list[Failure]:
    """Each constraint failed, in ``CONSTRAINTS`` order; ``constraints``: only these are
    checked (the index knows which failed: of those it checks none that passed)."""
    out = []
    for constraint in CONSTRAINTS:
        if constraint in constraints:
            check = _CHECKS[constraint]
            out += check(cf, vf, distance) if check is check_travel else (
                check(cf, vf, modules) if check is check_skills else check(cf, vf))
    return out


_CHECKS = {"hours": check_hours, "travel": check_travel, "conditions": check_conditions, "level": check_level,
           "skills": check_skills, "availability": check_availability}
assert tuple(_CHECKS) == CONSTRAINTS


# --- weighted components ------------------------------------------------------------


def coverage(held: dict[str, int], wanted: tuple[tuple[str, float], ...], empty: float) -> float:
    total = sum(w for _, w in wanted)
    if not total:
        return empty
    return sum(w * STRENGTH[held.get(s, 0)] for s, w in wanted) / total


def occupation_fit(cf, vf) -> float:
    if not vf.target_norm:
        return NEUTRAL
    return sum(vf.target.get(c, 0.0) for c in sorted(cf.concepts)) / vf.target_norm


def wish_value(cf, vf, knowledge) -> float:
    if cf.wanted and vf.occupation:
        occupation = max(knowledge.occupation_similarity(w, vf.occupation) for w in cf.wanted)
    else:
        occupation = NEUTRAL
    hours = min(vf.hours[1], cf.hours[1]) / cf.hours[1]
    return WISH_OCCUPATION_SHARE * occupation + (1 - WISH_OCCUPATION_SHARE) * hours


def distance_value(cf, distance: float | None) -> float:
    if distance is None:
        return 0.0
    if math.isinf(cf.reach_km):
        return 1.0
    return max(0.0, 1.0 - distance / cf.reach_km) if cf.reach_km > 0 else float(distance == 0)


def components(cf, vf, distance, knowledge) -> dict[str, float]:
    return {
        "must_have": coverage(cf.held, vf.must, 1.0),
        "nice_to_have": coverage(cf.held, vf.nice, NEUTRAL),
        "occupation_fit": occupation_fit(cf, vf),
        "wishes": wish_value(cf, vf, knowledge),
        "distance": distance_value(cf, distance),
    }


def total(values: dict[str, float]) -> float:
    return sum(WEIGHTS[k] * values[k] for k in COMPONENTS)


def breakdown(values: dict[str, float]) -> list[dict]:
    row = [values[k] for k in COMPONENTS]
    values, contributions = rounded(np.array([row, [w * v for w, v in zip(WEIGHT_ROW, row, strict=True)]]), 4).tolist()
    return _breakdown(values + contributions)


WEIGHT_ROW = tuple(WEIGHTS[k] for k in COMPONENTS)


def _breakdown(row: list[float]) -> list[dict]:
    """The breakdown from a ``result_numbers`` row: rounded component values, then contributions."""
    n = len(COMPONENTS)
    return [{"component": k, "value": row[i], "weight": w, "contribution": row[i + n]}
            for i, (k, w) in enumerate(_COMPONENT_WEIGHTS)]


def rounded(x: np.ndarray, digits) -> np.ndarray:
    """``round(v, d)`` of each value, exactly as Python rounds (the nearest decimal, ties to even)
    but at once (round() costs about a microsecond a number); ``digits`` an int or one per column.
    Scaling, rint and scaling back give the same double unless the scaled value lies within its
    rounding error of a tie (which a margin far above that error catches): those go to round()."""
    digits = np.asarray(digits)
    if not np.abs(x).max(initial=0.0) < 1e5:  # large (the margin would not hold) or NaN: all by round()
        every = np.broadcast_to(digits, x.shape)
        return np.array([round(float(v), int(d)) for v, d in zip(x.flat, every.flat, strict=True)]).reshape(x.shape)
    scale = 10.0 ** digits
    scaled = x * scale
    nearest = np.rint(scaled)
    out = nearest / scale
    unsure = np.abs(scaled - nearest) >= 0.5 - 1e-6
    if unsure.any():
        every = np.broadcast_to(digits, x.shape)
        for i in zip(*np.nonzero(unsure), strict=True):
            out[i] = round(float(x[i]), int(every[i]))
    return out


# --- gaps and explanation -----------------------------------------------------------


class Transfer(NamedTuple):
    """How much of the occupation fit comes from skills other than the ones asked
    (a tuple, not a frozen dataclass: one is made per result written, and that was slower)."""

    transfer_fit: float  # fit from concepts only reached through other skills
    others: Collection[int]  # those concepts (the index hands only the three heaviest: all an explanation names)
    target_groups: int
    covered_groups: int
    exact_held: int
    target_skills: int

    @property
    def carries(self) -> bool:
        """Transfer carries the match when few target skills are held exactly (under
        half) yet other skills still cover a real part of the profile."""
        return self.transfer_fit >= TRANSFER_CARRIES and 2 * self.exact_held < self.target_skills


def _same(value):
    return value


def _unchecked_first(condition: str) -> tuple[bool, str]:
    return condition not in UNCHECKED_CONDITIONS, condition


_COMPONENT_WEIGHTS = tuple(zip(COMPONENTS, WEIGHT_ROW, strict=True))
RESULT_DIGITS = (4,) * (2 * len(COMPONENTS) + 1) + (1,)
RESULT_SCALES = np.array([10.0 ** d for d in RESULT_DIGITS])  # as rounded() scales


def result_numbers(values: np.ndarray, scores: list[float], distances: list) -> list[list[float]]:
    """Per result, rounded as shown: component values and contributions (4 digits), the score
    (4) and the km (1; 0 for none), in a row."""
    n = len(COMPONENTS)
    numbers = np.empty((len(values), 2 * n + 2))
    numbers[:, :n] = values
    np.multiply(values, WEIGHT_ROW, out=numbers[:, n:2 * n])
    numbers[:, -2] = scores
    numbers[:, -1] = [0.0 if d is None else d for d in distances]
    return rounded(numbers, RESULT_DIGITS).tolist()


class Explainer:
    """Writes results for one vacancy: what all its results share (labels, gap
    entries, names) is prepared once; per candidate only held skills, concepts,
    component values, distance and travel modes differ. The index and the
    brute-force reference both write through here, so their texts agree."""

    def __init__(self, vf: VacancyFacts, knowledge=None, modules: ModuleCatalogue | None = None,
                 skill_key: Callable[[str], Hashable] | None = None):
        """``skill_key``: how the held skills handed in are named, if not by URI (the index
        hands its int codes: no string objects to chase); such an explainer must be handed
        each candidate's transfer, worked out already."""
        self.vf = vf
        self.knowledge = knowledge = knowledge or esco.knowledge()
        modules = modules or CATALOGUE
        self.coded = skill_key is not None
        key = skill_key or _same
        self.gaps = []
        for requirement, wanted in (("must_have", vf.must), ("nice_to_have", vf.nice)):
            for skill, weight in sorted(wanted, key=lambda sw: (-sw[1], sw[0])):
                self.gaps.append((key(skill), {
                    "skill": skill, "label": knowledge.label(skill), "requirement": requirement, "weight": weight,
                    "closable_by": list(modules.modules_for(skill))}))
        self.must = frozenset(key(s) for s, _ in vf.must)
        self.must_closable = frozenset(key(s) for s, _ in vf.must if modules.closable(s))
        self.nice = frozenset(key(s) for s, _ in vf.nice)
        self.target_keys = frozenset(vf.target)
        # every skill an explanation asks about: a candidate's held skills are cut to these
        # once, and the several questions asked of them are asked of a set of a few
        self.asked = self.must | self.nice | frozenset(map(key, vf.target_skills))
        # a candidate's held requirements as a mask, a bit per gaps entry (``held_mask``; the
        # index's compiled pass makes the same): per kind, the bits of each distinct skill's
        # first entry, so counting bits counts skills as the sets above do
        first: dict = {}
        for j, (skill, _) in enumerate(self.gaps):
            first.setdefault(skill, j)
        self._must_bits, self._closable_bits, self._nice_bits = (
            sum(1 << first[skill] for skill in kind) for kind in (self.must, self.must_closable, self.nice))
        self._reaches: dict[str, frozenset[int]] = {}
        # each target concept's place by weight, heaviest first, ties by concept (shared_labels)
        by_weight = sorted(sorted(vf.target), key=vf.target.__getitem__, reverse=True)
        self._heaviest_first = {c: i for i, c in enumerate(by_weight)}
        self._skills_texts: dict[tuple[int, int, int], str] = {}
        self.what = f"{knowledge.occupation_label(vf.occupation)}'s" if vf.occupation else "the vacancy's"
        self.wanted_text = f"wants to work as {knowledge.occupation_label(vf.occupation)}" if vf.occupation else ""

    def skill_gaps(self, held) -> list[dict]:
        """Requirements the candidate lacks, each with the modules that would close it."""
        return [dict(entry) for skill, entry in self.gaps if skill not in held]

    def held_mask(self, held) -> int:
        """Which ``gaps`` entries these skills meet, a bit each (entry j: 1 << j)."""
        return sum(1 << j for j, (skill, _) in enumerate(self.gaps) if skill in held)

    def _gaps_of(self, mask: int) -> list[dict]:
        """``skill_gaps`` of the skills whose ``held_mask`` this is."""
        return [dict(entry) for j, (_, entry) in enumerate(self.gaps) if not mask >> j & 1]

    def transfer(self, held, concepts, exact: frozenset[str] | None = None) -> Transfer:
        """``exact``: the target skills held, when known."""
        if self.coded:  # held skills by code: not comparable with the target's skills
            raise ValueError("an explainer of coded skills is handed each candidate's transfer")
        vf = self.vf
        exact = vf.target_skills.intersection(held) if exact is None else exact
        covered = self.target_keys.intersection(concepts)
        others = covered.difference(*[self.reach(s) for s in exact])
        target = vf.target
        return Transfer(
            transfer_fit=sum(map(target.__getitem__, sorted(others))) / (vf.target_norm or 1.0),
            others=others,
            target_groups=len(target),
            covered_groups=len(covered),
            exact_held=len(exact),
            target_skills=len(vf.target_skills),
        )

    def prepare(self) -> Explainer:
        """Work out now what each target skill reaches, rather than as results first meet
        it (for an explainer kept as long as its vacancy)."""
        for skill in self.vf.target_skills:
            self.reach(skill)
        return self

    def reach(self, skill: str) -> frozenset[int]:
        """What of the target this skill reaches (kept: the results of one vacancy share skills)."""
        found = self._reaches.get(skill)
        if found is None:
            found = self._reaches[skill] = self.target_keys.intersection(self.knowledge.skill_concepts(skill))
        return found

    def _carrying_transfer(self, held, concepts, fit: float, known: Transfer | None = None) -> Transfer | None:
        """The transfer (``known``, or worked out) when it carries the match, the cheap tests
        first: the part through other skills is at most the whole fit, and half the target
        skills held exactly never carries."""
        if fit < TRANSFER_CARRIES - 1e-9:
            return None
        if known is None:
            exact = self.vf.target_skills.intersection(held)
            if 2 * len(exact) >= len(self.vf.target_skills):
                return None
            known = self.transfer(held, concepts, exact)
        return known if known.carries else None

    def shared_labels(self, others, n: int = 3) -> str:
        """The heaviest concepts reached only through other skills, by name."""
        heaviest = sorted(others, key=self._heaviest_first.__getitem__)[:n]
        return ", ".join(map(self.knowledge.concept_label, heaviest))

    def _skills_text(self, n_must: int, n_closable: int, n_nice: int) -> str:
        """What the explanation says of the must-haves and nice-to-haves held (a vacancy's
        results say one of a few such texts: each is written once)."""
        parts = []
        if self.must:
            closable = len(self.must_closable) - n_closable
            text = f"holds {n_must} of {len(self.must)} must-have skills"
            parts.append(text + (f" ({closable} more closable by a module)" if closable else ""))
        if self.nice:
            parts.append(f"{n_nice} of {len(self.nice)} nice-to-have skills")
        return "; ".join(parts)

    def explanation(self, held, concepts, fit: float, distance, modes, wanted=(), transfer: Transfer | None = None,
                    ) -> str:
        """One line in plain English; names transferable skills when they carry the match.
        ``transfer``: the candidate's, if already known (as ``transfer(held, concepts)``)."""
        held = self.asked.intersection(held)
        return self._explanation(self.held_mask(held), held, concepts, fit, distance, modes,
                                 bool(self.vf.occupation) and self.vf.occupation in wanted, transfer)

    def _explanation(self, mask, held, concepts, fit, distance, modes, wants_occupation, transfer) -> str:
        """``explanation`` of held skills as their ``held_mask`` (and cut to the asked ones,
        needed only to work out a transfer not handed in); ``wants_occupation``: whether
        the candidate wants the vacancy's occupation."""
        key = ((mask & self._must_bits).bit_count(), (mask & self._closable_bits).bit_count(),
               (mask & self._nice_bits).bit_count())
        skills_text = self._skills_texts.get(key)
        if skills_text is None:
            skills_text = self._skills_texts[key] = self._skills_text(*key)
        parts = [skills_text] if skills_text else []
        if self.vf.target_norm:
            t = self._carrying_transfer(held, concepts, fit, transfer)
            if t is not None:
                labels = self.shared_labels(t.others)
                parts.append(f"transferable skills carry the match: the candidate's skills reach {t.covered_groups} "
                             f"of {self.what} {t.target_groups} skill groups ({labels}) though only {t.exact_held} of "
                             f"its {t.target_skills} essential or asked skills are held exactly")
            else:
                parts.append(f"covers {fit:.0%} of {self.what} skill profile")
        if wants_occupation:
            parts.append(self.wanted_text)
        if distance is not None:
            mode, minutes = fastest_mode(modes, distance)
            parts.append(f"{distance:.1f} km away (about {minutes:.0f} min {MODE_WORDS[mode]})")
        line = "; ".join(parts) or "no skills asked"
        return line[0].upper() + line[1:]

    def result(self, result_id: str, cf: CandidateFacts, score: float, values: dict[str, float],
               distance: float | None, failures=()) -> dict:
        """The JSON-ready result: score, breakdown, explanation, gaps (and why not, if any)."""
        return self.results([result_id], [cf], [score], [[values[k] for k in COMPONENTS]], [distance], [failures])[0]

    def results(self, ids: list[str], facts: list[CandidateFacts | Served], scores: list[float], values,
                distances: list, failures: list | None = None, transfers: list[Transfer] | None = None,
                numbers: list[list[float]] | None = None, coded: tuple[list[int], list[bool]] | None = None,
                ) -> list[dict]:
        """``result`` of each; ``values`` a row of component values (``COMPONENTS`` order) each;
        ``transfers`` each candidate's, if worked out already (the index does, compiled), and
        ``numbers`` too (``result_numbers``'s, the index's compiled), and ``coded`` too: each
        one's ``held_mask`` and whether they want the vacancy's occupation (then the facts'
        held skills and wanted occupations are not read). The numbers of all are rounded at once."""
        n = len(COMPONENTS)
        values = np.asarray(values, np.float64).reshape(len(ids), n)
        fits = values[:, COMPONENTS.index("occupation_fit")].tolist()
        if numbers is None:
            numbers = result_numbers(values, scores, distances)
        out = []
        asked, occupation = self.asked, self.vf.occupation
        for i, cf in enumerate(facts):
            distance, row = distances[i], numbers[i]
            if coded is None:
                held = asked.intersection(cf.held)
                mask, wants = self.held_mask(held), bool(occupation) and occupation in cf.wanted
            else:
                held, mask, wants = None, coded[0][i], coded[1][i]
            result = {
                "id": ids[i],
                "score": row[-2],
                "breakdown": _breakdown(row),
                "explanation": self._explanation(mask, held, cf.concepts, fits[i], distance, cf.modes, wants,
                                                 transfers[i] if transfers else None),
                "skill_gaps": self._gaps_of(mask),
                "distance_km": None if distance is None else row[-1],
                "conditions_to_check": sorted(cf.to_check, key=_unchecked_first) if cf.to_check else [],
            }
            if failures and failures[i]:
                result["why_not"] = [f.as_dict() for f in failures[i]]
            out.append(result)
        return out


def skill_gaps(cf, vf, modules=None, knowledge=None) -> list[dict]:
    return Explainer(vf, knowledge, modules).skill_gaps(cf.held)


def transfer(cf, vf, knowledge=None) -> Transfer:
    return Explainer(vf, knowledge).transfer(cf.held, cf.concepts)


# --- one pair -----------------------------------------------------------------------


@dataclass
class PairScore:
    candidate_id: str
    vacancy_id: str
    score: float
    values: dict[str, float]
    failures: list[Failure]
    distance_km: float | None
    cf: CandidateFacts
    vf: VacancyFacts

    @property
    def eligible(self) -> bool:
        return not self.failures

    @property
    def near_miss(self) -> bool:
        return len(self.failures) == 1 and self.failures[0].near

    def result(self, result_id: str, knowledge=None, modules=None, explainer: Explainer | None = None) -> dict:
        """The JSON-ready result: score, breakdown, explanation, gaps (and why not, if any)."""
        explainer = explainer or Explainer(self.vf, knowledge, modules)
        return explainer.result(result_id, self.cf, self.score, self.values, self.distance_km, self.failures)


def evaluate(cf: CandidateFacts, vf: VacancyFacts, *, distance: float | None = math.nan, knowledge=None,
             modules: ModuleCatalogue | None = None) -> PairScore:
    """Constraints and score of one pair. ``distance`` defaults to the PC4 centroids'."""
    knowledge = knowledge or esco.knowledge()
    modules = modules or CATALOGUE
    if distance is not None and math.isnan(distance):
        distance = area_distance_km(cf.pc4, vf.pc4)
    values = components(cf, vf, distance, knowledge)
    return PairScore(cf.id, vf.id, total(values), values, failures(cf, vf, distance, modules), distance, cf, vf)


def score_pair(candidate: CandidateProfile, vacancy: VacancyProfile, *, knowledge=None, modules=None) -> PairScore:
    knowledge = knowledge or esco.knowledge()
    return evaluate(candidate_facts(candidate, knowledge), vacancy_facts(vacancy, knowledge),
                    knowledge=knowledge, modules=modules)


# --- rankings -----------------------------------------------------------------------


def rank_key(score: float, result_id: str) -> tuple[float, str]:
    """Best first, ties by id. Rounded (as numpy rounds, like the index) so that the
    index's and this module's sums, which may differ in the last bits, order alike."""
    return (-float(np.round(score, 9)), result_id)


@dataclass
class Ranking:
    """A ranking served: results and near-misses as JSON-ready dicts, and fairness counts."""

    results: list[dict]
    near_misses: list[dict]
    fairness: dict | None
    scores: list[float] = field(default_factory=list)  # unrounded, as ranked; not serialised
    near_miss_scores: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"results": self.results, "near_misses": self.near_misses, "fairness": self.fairness}

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.results]


def _one_of(value, wanted) -> bool:
    if isinstance(wanted, (list, tuple, set, frozenset)):
        return value in wanted
    return value == wanted


def check_filters(filters: dict | None, allowed: tuple[str, ...]) -> dict:
    filters = dict(filters or {})
    unknown = sorted(set(filters) - set(allowed))
    if unknown:
        raise ValueError(f"unknown filter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return {k: v for k, v in filters.items() if v is not None}


def candidate_passes(cf: CandidateFacts, filters: dict) -> bool:
    if "region" in filters and not _one_of(cf.region, filters["region"]):
        return False
    if "target_group" in filters:
        wanted = filters["target_group"]
        wanted = set(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else {wanted}
        if not wanted.intersection(cf.target_groups):
            return False
    if "cohort" in filters and not _one_of(cf.cohort, filters["cohort"]):
        return False
    return "banenafspraak" not in filters or cf.banenafspraak == bool(filters["banenafspraak"])


def vacancy_passes(vf: VacancyFacts, filters: dict) -> bool:
    if "region" in filters and not _one_of(vf.region, filters["region"]):
        return False
    if "visibility" in filters and not _one_of(vf.visibility, filters["visibility"]):
        return False
    for flag in ("is_leerwerkbaan", "banenafspraak_suitable"):
        if flag in filters and getattr(vf, flag) != bool(filters[flag]):
            return False
    return True


def fairness(eligible_groups: Iterable[tuple[str, ...]], top_groups: Iterable[tuple[str, ...]]) -> dict:
    """Per target group: how many in the eligible pool, and in the top ten served."""
    pool = {g: 0 for g in TARGET_GROUPS}
    top = {g: 0 for g in TARGET_GROUPS}
    n_pool = n_top = 0
    for groups in eligible_groups:
        n_pool += 1
        for g in groups:
            pool[g] += 1
    for groups in top_groups:
        n_top += 1
        for g in groups:
            top[g] += 1
    return {"eligible": n_pool, "eligible_by_group": pool, "top": n_top, "top_by_group": top}


def _ranking(pairs: list[tuple[str, PairScore]], near: list[tuple[str, PairScore]], limit, near_misses,
             fair, knowledge, modules) -> Ranking:
    pairs.sort(key=lambda p: rank_key(p[1].score, p[0]))
    near.sort(key=lambda p: rank_key(p[1].score, p[0]))
    chosen, chosen_near = pairs[:limit], near[:near_misses]
    explainers: dict[str, Explainer] = {}

    def result(result_id: str, pair: PairScore) -> dict:
        explainer = explainers.get(pair.vf.id) or explainers.setdefault(
            pair.vf.id, Explainer(pair.vf, knowledge, modules))
        return pair.result(result_id, explainer=explainer)

    return Ranking(
        results=[result(i, p) for i, p in chosen],
        near_misses=[result(i, p) for i, p in chosen_near],
        fairness=fair(pairs) if fair else None,
        scores=[p.score for _, p in chosen],
        near_miss_scores=[p.score for _, p in chosen_near],
    )


def rankable(in_pool: bool, consented: bool = True) -> bool:
    """Whether a candidate appears in rankings: active (in the pool: not at work on a placement
    matching recorded; an erased one is not indexed at all) and consented to matching (given at
    intake unless refused; candidate.consent_changed). The index keeps this per row ("active")."""
    return in_pool and consented


def rank_candidates(vacancy: VacancyProfile, candidates: Iterable[CandidateProfile], *, limit: int = 10,
                    filters: dict | None = None, near_misses: int = 3, placed=frozenset(), withdrawn=frozenset(),
                    knowledge=None, modules: ModuleCatalogue | None = None) -> Ranking:
    """Brute force: every candidate who may be ranked (:func:`rankable`: not in ``placed``, not in
    ``withdrawn``) scored against the vacancy."""
    knowledge = knowledge or esco.knowledge()
    modules = modules or CATALOGUE
    filters = check_filters(filters, CANDIDATE_FILTERS)
    vf = vacancy_facts(vacancy, knowledge)
    eligible, near = [], []
    for candidate in candidates:
        if not rankable(candidate.candidate_id not in placed, candidate.candidate_id not in withdrawn):
            continue
        cf = candidate_facts(candidate, knowledge)
        if not candidate_passes(cf, filters):
            continue
        pair = evaluate(cf, vf, knowledge=knowledge, modules=modules)
        if pair.eligible:
            eligible.append((cf.id, pair))
        elif pair.near_miss:
            near.append((cf.id, pair))

    def fair(pairs):
        return fairness((p.cf.target_groups for _, p in pairs),
                        (p.cf.target_groups for _, p in pairs[:TOP_FOR_FAIRNESS]))

    return _ranking(eligible, near, limit, near_misses, fair, knowledge, modules)


def rank_vacancies(candidate: CandidateProfile, vacancies: Iterable[VacancyProfile], *, limit: int = 10,
                   filters: dict | None = None, near_misses: int = 3, today: date | None = None, knowledge=None,
                   modules: ModuleCatalogue | None = None) -> Ranking:
    """Brute force: every open vacancy with a free opening, not past its date, scored for the candidate."""
    knowledge = knowledge or esco.knowledge()
    modules = modules or CATALOGUE
    filters = check_filters(filters, VACANCY_FILTERS)
    today = today or clock.today()
    cf = candidate_facts(candidate, knowledge)
    eligible, near = [], []
    for vacancy in vacancies:
        vf = vacancy_facts(vacancy, knowledge)
        if not vf.is_open or (vf.valid_through is not None and vf.valid_through < today):
            continue
        if not vacancy_passes(vf, filters):
            continue
        pair = evaluate(cf, vf, knowledge=knowledge, modules=modules)
        if pair.eligible:
            eligible.append((vf.id, pair))
        elif pair.near_miss:
            near.append((vf.id, pair))
    return _ranking(eligible, near, limit, near_misses, None, knowledge, modules)


# --- looking broader ----------------------------------------------------------------


def suggest_occupations(cf: CandidateFacts, limit: int = 10, knowledge=None, modules=None) -> list[dict]:
    """ESCO occupations ranked by fit of the candidate's skills to their profiles
    (ties by URI), each with the skill groups shared and the essential skills still missing."""
    knowledge = knowledge or esco.knowledge()
    modules = modules or CATALOGUE
    if limit <= 0 or not cf.concepts:
        return []
    fits = knowledge.occupation_fits(cf.concepts)
    order = np.lexsort((np.arange(len(fits)), -np.round(fits, 9)))
    out = []
    for i in order[:limit].tolist():
        if fits[i] <= 0:
            break
        occupation = knowledge.occupations[i]
        essential = knowledge.essential_skills(occupation)
        held = [s for s in essential if s in cf.held]
        profile = knowledge.occupation_concepts(occupation)
        shared = sorted(profile.intersection(cf.concepts), key=lambda c: (-knowledge.idf[c], knowledge.concepts[c]))
        labels = [knowledge.concept_label(c) for c in shared[:5]]
        name = knowledge.occupation_label(occupation)
        out.append({
            "occupation": occupation,
            "label": name,
            "label_nl": refdata.occupations()[occupation].label_nl,
            "fit": round(float(fits[i]), 4),
            "shared_groups": labels,
            "groups_shared": len(shared),
            "groups_total": len(profile),
            "essential_held": len(held),
            "essential_total": len(essential),
            "explanation": f"Shares {len(shared)} of {name}'s {len(profile)} skill groups ({', '.join(labels[:3])}) "
                           f"and holds {len(held)} of its {len(essential)} essential skills",
            "skill_gaps": sorted(({"skill": s, "label": knowledge.label(s), "closable_by": list(modules.modules_for(s))}
                                  for s in essential if s not in cf.held), key=lambda g: (g["label"], g["skill"])),
        })
    return out
