"""Candidates' tables. Personal data lives apart from the matching profile,
so the profile can be shared and erased data is easy to find: erasure deletes
the rows of PersonalData, LogEntry and Plan, and keeps an anonymous Candidate."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from werkbrug_shared.audit import audit_tables
from werkbrug_shared.db import service_metadata

metadata = service_metadata()
AUDIT_LOG, AUDIT_HEAD = audit_tables(metadata)  # werkbrug_shared.audit: the hash-chained audit log
ESCO_URI = 100  # "http://data.europa.eu/esco/occupation/" + a uuid is 74


class Base(DeclarativeBase):
    metadata = metadata


class Candidate(Base):
    """The werkprofiel: what someone can and wants. No name, no address, no notes."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("registered_by", "source_ref", name="uq_candidates_registered_by_source_ref"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    # None once erased: even the area goes
    pc4: Mapped[str | None] = mapped_column(String(4))
    banenafspraak: Mapped[bool]
    occupations_wanted: Mapped[list] = mapped_column(JSON)
    work_thinking_level: Mapped[int | None]
    dutch_level: Mapped[str | None] = mapped_column(String(2))
    hours_per_week: Mapped[int]  # the most hours wanted
    hours_min: Mapped[int | None]
    available_days: Mapped[list] = mapped_column(JSON)
    available_from: Mapped[dt.date | None] = mapped_column(Date)
    max_travel_minutes: Mapped[int | None]
    max_distance_km: Mapped[int | None]
    transport_modes: Mapped[list] = mapped_column(JSON)
    conditions: Mapped[list] = mapped_column(JSON)
    cohort: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # the partner whose professionals may see who this is; None: registered anonymously (spine)
    registered_by: Mapped[str | None] = mapped_column(String(64), index=True)
    # the key of the partner's previous system, so a re-run import finds what it wrote
    source_ref: Mapped[str | None] = mapped_column(String(100))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    target_group_rows: Mapped[list[CandidateTargetGroup]] = relationship(
        cascade="all, delete-orphan", order_by="CandidateTargetGroup.target_group", lazy="selectin")
    skill_rows: Mapped[list[CandidateSkill]] = relationship(
        cascade="all, delete-orphan", order_by="CandidateSkill.skill", lazy="selectin")

    @property
    def target_groups(self) -> list[str]:
        return [t.target_group for t in self.target_group_rows]

    @property
    def skill_claims(self) -> list[dict]:
        return [{"skill": s.skill, "level": s.level, "evidence": s.evidence} for s in self.skill_rows]


class CandidateTargetGroup(Base):
    __tablename__ = "candidate_target_groups"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    target_group: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class CandidateSkill(Base):
    """One skill of the werkprofiel, how well, and how we know."""

    __tablename__ = "candidate_skills"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(ESCO_URI), primary_key=True, index=True)
    level: Mapped[int]
    evidence: Mapped[str] = mapped_column(String(20))


class PersonalData(Base):
    """Who someone is. Deleted as a whole on erasure; never in an event or a log line."""

    __tablename__ = "candidate_personal_data"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(7))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    street: Mapped[str | None] = mapped_column(String(120))
    house_number: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(80))
    condition_notes: Mapped[str | None] = mapped_column(Text)
    # AES-GCM, see candidates.bsn; the hash finds a second registration of one person
    bsn_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    bsn_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class LogEntry(Base):
    """The intake logbook: who wrote what about the candidate, when."""

    __tablename__ = "candidate_log_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(64))
    professional: Mapped[str | None] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)  # retention


class Plan(Base):
    """The trajectory plan: a goal and the steps towards it."""

    __tablename__ = "candidate_plans"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    goal: Mapped[str] = mapped_column(Text)
    steps: Mapped[list] = mapped_column(JSON)
    organisation: Mapped[str] = mapped_column(String(64))
    professional: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PersonalDataRead(Base):
    """The first audit trail: every time personal data left the service, and to whom.
    Holds ids only, so it outlives an erasure. Still written beside the hash-chained
    audit log (``audit_log``, werkbrug_shared.audit), which accounts for changes too."""

    __tablename__ = "personal_data_reads"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    organisation: Mapped[str | None] = mapped_column(String(64))
    professional: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    operation: Mapped[str] = mapped_column(String(40))


class Placement(Base):
    """What candidates heard of a placement, so events that overtake each other still end right."""

    __tablename__ = "candidate_placements"

    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    ended: Mapped[bool]


class ProposedMatch(Base):
    """match.introduced names only the match; match.proposed said whose it is."""

    __tablename__ = "candidate_matches"

    match_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    # when match.introduced came: an introduction's consent holds from then (werkbrug_shared.visibility)
    introduced_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Consent(Base):
    """What the candidate agreed to, as their klantmanager recorded it: one organisation may see
    who they are, for one purpose (werkbrug_shared.visibility.PURPOSES), with a scope, from a date
    until an expiry (dates in the Netherlands), until revoked. ``matching`` names no organisation
    (``*``: every partner of the region sees the anonymous profile in rankings); without a row it
    is given, as intake records it. Ids and dates only: an erasure removes the rows all the same."""

    __tablename__ = "candidate_consents"
    __table_args__ = (UniqueConstraint("candidate_id", "purpose", "organisation",
                                       name="uq_candidate_consents_candidate_purpose_organisation"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    organisation: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(12))
    match_id: Mapped[str | None] = mapped_column(String(64))  # an introduction's match
    given_on: Mapped[dt.date | None] = mapped_column(Date)  # None: never given (matching refused at intake)
    given_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_on: Mapped[dt.date | None] = mapped_column(Date)  # the last day it holds
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    professional: Mapped[str | None] = mapped_column(String(64))


class Trajectory(Base):
    """A route to work, e.g. werkfit installatietechniek: 12 weeks of modules."""

    __tablename__ = "trajectories"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    weeks: Mapped[int]
    organisation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    modules: Mapped[list[Module]] = relationship(cascade="all, delete-orphan", order_by="Module.position",
                                                 lazy="selectin")


class Module(Base):
    __tablename__ = "trajectory_modules"

    trajectory_id: Mapped[str] = mapped_column(ForeignKey("trajectories.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int]
    # a certificate module (VCA) proves this ESCO skill when completed
    certificate_skill: Mapped[str | None] = mapped_column(String(ESCO_URI))


class Cohort(Base):
    """A group starting a trajectory together; its name is what reporting counts by."""

    __tablename__ = "cohorts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trajectory_id: Mapped[str] = mapped_column(ForeignKey("trajectories.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    region: Mapped[str] = mapped_column(String(80))
    organisation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    trajectory: Mapped[Trajectory] = relationship(lazy="joined")


class Enrolment(Base):
    __tablename__ = "enrolments"

    cohort_id: Mapped[str] = mapped_column(ForeignKey("cohorts.id"), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True,
                                              index=True)
    organisation: Mapped[str] = mapped_column(String(64))
    enrolled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ModuleCompletion(Base):
    __tablename__ = "module_completions"

    cohort_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    module_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
