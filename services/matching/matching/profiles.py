"""The anonymous profiles matching holds, read from the catalogue's events.

``CandidateProfile.from_event`` takes the data of ``MatchingProfile``
(candidate.registered / profile_updated), ``VacancyProfile.from_event`` that of
``VacancyProfile`` (vacancy.opened / updated), as loaded by the schema or as
stored raw: dates may be ``date`` objects or ISO strings, and events older than
the werkprofiel or the shared pool lack the later fields, which then take the
schema's defaults.

Conditions. A candidate's condition is either met by something the vacancy
offers, or cannot be checked against vacancy data at all:

===========================  ===================================================
candidate condition          what the vacancy must offer
===========================  ===================================================
low_stimulus_workplace       ``low_stimulus_workplace``
workplace_adaptation         ``adapted_workplace``
jobcoach_needed              ``on_the_job_guidance`` (guidance at the workplace)
no_heavy_lifting             no must-have heavy-lifting skill (ESCO *lift heavy
                             weights*), unless it offers ``job_carving`` or an
                             ``adapted_workplace`` that takes the lifting out
===========================  ===================================================

``no_night_shifts``, ``childcare_window`` and ``fixed_schedule`` cannot be
checked: a vacancy profile says nothing about shifts or working times. They
never exclude a match; results list them under ``conditions_to_check`` so the
professional asks. So does any condition outside the vocabulary.
``flexible_hours`` widens the hours a vacancy accepts (see scoring);
``accessible_building`` answers no condition in the candidate vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from werkbrug_shared.visibility import PUBLIC

# mirrors werkbrug_shared.events.catalogue.TARGET_GROUPS (a test keeps them equal)
TARGET_GROUPS = ("bijstand", "doelgroepregister", "sw", "statushouder", "50plus", "ww")
TRANSPORT_MODES = ("car", "bicycle", "public_transport", "on_foot")
LANGUAGE_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")

CANDIDATE_CONDITIONS = (
    "low_stimulus_workplace", "jobcoach_needed", "no_night_shifts", "childcare_window",
    "workplace_adaptation", "no_heavy_lifting", "fixed_schedule",
)
VACANCY_CONDITIONS = (
    "low_stimulus_workplace", "job_carving", "on_the_job_guidance", "adapted_workplace", "flexible_hours",
    "accessible_building",
)
# candidate condition -> what the vacancy must offer
CONDITION_OFFERS = {
    "low_stimulus_workplace": "low_stimulus_workplace",
    "workplace_adaptation": "adapted_workplace",
    "jobcoach_needed": "on_the_job_guidance",
}
# met by the vacancy's must-haves and offers together, see no_heavy_lifting_met
HEAVY_LIFTING_SKILLS = frozenset({
    "http://data.europa.eu/esco/skill/ab2bb44a-3956-4028-8715-8b70b1960b99",  # lift heavy weights
})
LIFTING_RELIEF = ("job_carving", "adapted_workplace")
CHECKED_CONDITIONS = (*CONDITION_OFFERS, "no_heavy_lifting")
UNCHECKED_CONDITIONS = ("no_night_shifts", "childcare_window", "fixed_schedule")


def _date(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _tuple(values) -> tuple:
    return tuple(values or ())


@dataclass(frozen=True)
class SkillClaim:
    skill: str
    level: int | None = None  # 1 basic, 2 independent, 3 experienced, 4 expert
    evidence: str | None = None


@dataclass(frozen=True)
class CandidateProfile:
    """The anonymous matching profile: no name, no address, no notes."""

    candidate_id: str
    region: str
    pc4: str
    hours_per_week: int  # the most the candidate wants to work
    target_groups: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    skill_evidence: tuple[SkillClaim, ...] = ()
    conditions: tuple[str, ...] = ()
    cohort: str | None = None
    banenafspraak: bool = False
    occupations_wanted: tuple[str, ...] = ()
    work_thinking_level: int | None = None
    dutch_level: str | None = None
    hours_min: int | None = None  # None: anything from one hour
    available_days: tuple[str, ...] = ()
    available_from: date | None = None
    max_travel_minutes: int | None = None
    max_distance_km: int | None = None
    transport_modes: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, data: dict) -> CandidateProfile:
        claims = tuple(
            SkillClaim(c["skill"], c.get("level"), c.get("evidence")) for c in data.get("skill_evidence") or ()
        )
        return cls(
            candidate_id=data["candidate_id"],
            region=data["region"],
            pc4=str(data["pc4"]),
            hours_per_week=int(data["hours_per_week"]),
            target_groups=_tuple(data.get("target_groups")),
            skills=_tuple(data.get("skills")),
            skill_evidence=claims,
            conditions=_tuple(data.get("conditions")),
            cohort=data.get("cohort"),
            banenafspraak=bool(data.get("banenafspraak", False)),
            occupations_wanted=_tuple(data.get("occupations_wanted")),
            work_thinking_level=data.get("work_thinking_level"),
            dutch_level=data.get("dutch_level"),
            hours_min=data.get("hours_min"),
            available_days=_tuple(data.get("available_days")),
            available_from=_date(data.get("available_from")),
            max_travel_minutes=data.get("max_travel_minutes"),
            max_distance_km=data.get("max_distance_km"),
            transport_modes=_tuple(data.get("transport_modes")),
        )

    def skill_levels(self) -> dict[str, int | None]:
        """Each skill held with its best claimed level (None: claimed without a level)."""
        levels: dict[str, int | None] = dict.fromkeys(self.skills)
        if not self.skill_evidence:
            return levels
        for claim in self.skill_evidence:
            known = levels.get(claim.skill)
            if claim.skill not in levels or (claim.level is not None and (known is None or claim.level > known)):
                levels[claim.skill] = claim.level
        return levels


@dataclass(frozen=True)
class WeightedSkill:
    skill: str
    weight: float  # in (0, 1]: how much the employer cares


def _weighted(items) -> tuple[WeightedSkill, ...]:
    """Deduplicated, the highest weight kept, in first-seen order."""
    best: dict[str, float] = {}
    for item in items:
        skill, weight = (item["skill"], item["weight"]) if isinstance(item, dict) else (item.skill, item.weight)
        best[skill] = max(float(weight), best.get(skill, 0.0))
    return tuple(WeightedSkill(s, w) for s, w in best.items())


@dataclass(frozen=True)
class VacancyProfile:
    vacancy_id: str
    employer_id: str
    region: str
    pc4: str
    hours_per_week: int
    openings: int  # still free
    must_have: tuple[WeightedSkill, ...] = ()
    nice_to_have: tuple[WeightedSkill, ...] = ()
    occupation: str | None = None
    conditions_offered: tuple[str, ...] = ()
    work_thinking_level: int | None = None
    visibility: str = PUBLIC
    is_leerwerkbaan: bool = False
    banenafspraak_suitable: bool = False
    valid_through: date | None = None
    status: str = "open"
    # with visibility and region, who may see it (werkbrug_shared.visibility)
    steward_organisations: tuple[str, ...] = ()

    @property
    def skills_required(self) -> tuple[str, ...]:
        return tuple(w.skill for w in self.must_have)

    @property
    def is_open(self) -> bool:
        return self.status == "open" and self.openings > 0

    @classmethod
    def from_event(cls, data: dict) -> VacancyProfile:
        # skills_required are the must-haves' URIs; events from before weighted
        # requirements carry only them, each then a full must-have
        must = list(data.get("must_have") or ())
        listed = {m["skill"] for m in must}
        must += [{"skill": s, "weight": 1.0} for s in data.get("skills_required") or () if s not in listed]
        must_have = _weighted(must)
        required = {w.skill for w in must_have}
        return cls(
            vacancy_id=data["vacancy_id"],
            employer_id=data["employer_id"],
            region=data["region"],
            pc4=str(data["pc4"]),
            hours_per_week=int(data["hours_per_week"]),
            openings=int(data["openings"]),
            must_have=must_have,
            nice_to_have=tuple(w for w in _weighted(data.get("nice_to_have") or ()) if w.skill not in required),
            occupation=data.get("occupation"),
            conditions_offered=_tuple(data.get("conditions_offered")),
            work_thinking_level=data.get("work_thinking_level"),
            visibility=data.get("visibility") or PUBLIC,
            is_leerwerkbaan=bool(data.get("is_leerwerkbaan", False)),
            banenafspraak_suitable=bool(data.get("banenafspraak_suitable", False)),
            valid_through=_date(data.get("valid_through")),
            status=data.get("status") or "open",
            steward_organisations=tuple(sorted(set(data.get("steward_organisations") or ()))),
        )
