"""Matching's own tables: an anonymous index fed by events, and placements."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.audit import audit_tables
from werkbrug_shared.db import service_metadata

metadata = service_metadata()
AUDIT_LOG, AUDIT_HEAD = audit_tables(metadata)  # werkbrug_shared.audit: the hash-chained audit log


class Base(DeclarativeBase):
    metadata = metadata


class IndexedCandidate(Base):
    """The anonymous matching profile only: ids, PC4 area, skills, hours."""

    __tablename__ = "indexed_candidates"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    pc4: Mapped[str] = mapped_column(String(4))
    target_groups: Mapped[list] = mapped_column(JSON)
    skills: Mapped[list] = mapped_column(JSON)
    hours_per_week: Mapped[int]
    conditions: Mapped[list] = mapped_column(JSON)
    cohort: Mapped[str | None] = mapped_column(String(80))
    in_pool: Mapped[bool] = mapped_column(default=True, index=True)
    # the whole anonymous matching profile as the last event carried it: the
    # in-memory index is rebuilt from these rows at start-up
    profile: Mapped[dict | None] = mapped_column(JSON)


class IndexedVacancy(Base):
    __tablename__ = "indexed_vacancies"

    vacancy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employer_id: Mapped[str] = mapped_column(String(36))
    region: Mapped[str] = mapped_column(String(80), index=True)
    pc4: Mapped[str] = mapped_column(String(4))
    skills_required: Mapped[list] = mapped_column(JSON)
    hours_per_week: Mapped[int]
    openings: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="open", server_default="open")
    profile: Mapped[dict | None] = mapped_column(JSON)
    # who may see it, and so its rankings, matches and placements (werkbrug_shared.visibility),
    # as the last vacancy.opened / updated said
    visibility: Mapped[str] = mapped_column(String(12), default="public", server_default="public")
    steward_organisations: Mapped[list | None] = mapped_column(JSON)


class Match(Base):
    """A proposal of one candidate for one vacancy, and where it went.

    proposed → introduced (the jobhunter introduced the candidate to the
    employer) → placed, or rejected from either. ``note`` is the
    professional's own words: it never leaves matching and is cleared when the
    candidate is erased.
    """

    __tablename__ = "matches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    vacancy_id: Mapped[str] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(12))
    score: Mapped[float] = mapped_column(Float)
    breakdown: Mapped[list | None] = mapped_column(JSON)
    proposed_by: Mapped[str | None] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    introduced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    note_by: Mapped[str | None] = mapped_column(String(64))  # the organisation whose professional wrote it
    rejected_reason: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    placement_id: Mapped[str | None] = mapped_column(String(36))


class Placement(Base):
    """``request_id``: the recording organisation's own key for its call, so that a call
    retried after a lost reply answers the placement it made rather than a second one."""

    __tablename__ = "placements"
    __table_args__ = (UniqueConstraint("recorded_by", "request_id", name="uq_placements_recorded_by_request_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    vacancy_id: Mapped[str] = mapped_column(String(36), index=True)
    employer_id: Mapped[str] = mapped_column(String(36))
    start_date: Mapped[date] = mapped_column(Date)
    hours_per_week: Mapped[int]
    status: Mapped[str] = mapped_column(String(12))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    match_id: Mapped[str | None] = mapped_column(String(36))
    credited_organisations: Mapped[list | None] = mapped_column(JSON)
    end_date: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(40))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))


class MatchingConsent(Base):
    """Whether a candidate consented to being ranked (candidate.consent_changed, purpose matching):
    given unless a row says otherwise. ``changed_at`` is the event's time: a late event of an
    earlier change does not undo a later one. The index applies it through the change log."""

    __tablename__ = "matching_consents"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    given: Mapped[bool]
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ErasedCandidate(Base):
    """Tombstone of an AVG erasure: only the id, so late events cannot re-index the person."""

    __tablename__ = "erased_candidates"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LearnedModule(Base):
    """A module a partner's trajectory offers that closes a skill gap (trajectory.defined):
    the index's module catalogue is the built-in one plus these, rebuilt at start-up."""

    __tablename__ = "learned_modules"

    module: Mapped[str] = mapped_column(String(120), primary_key=True)
    skill: Mapped[str] = mapped_column(String(120), primary_key=True)
    trajectory_id: Mapped[str] = mapped_column(String(64))
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IndexChange(Base):
    """A committed change of what the in-memory index is built from, in commit order (nearly:
    see ``matching.changes``): every replica applies the changes after the last it applied, so
    each serves the same index whichever replica took the event or the call.

    ``kind`` says what changed (candidate, pool, vacancy, module) and ``key`` which one; the rows
    themselves are read again when applied. Written in the transaction of the change, pruned
    after a day (a replica that starts builds from the tables, not from here)."""

    __tablename__ = "index_changes"
    # SQLite's AUTOINCREMENT: never hand out a position again, even once every row was pruned
    __table_args__ = {"sqlite_autoincrement": True}

    position: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                          autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FairnessCount(Base):
    """What one replica (``instance``: host and process) reported of the rankings it served,
    added to at each of its reports, in the transaction of its ``fairness_counted`` event.
    ``matching.fairness`` adds every replica's up, so each answers for the whole service."""

    __tablename__ = "fairness_counts"

    instance: Mapped[str] = mapped_column(String(160), primary_key=True)
    rankings: Mapped[int] = mapped_column(BigInteger)
    top_total: Mapped[int] = mapped_column(BigInteger)
    pool_total: Mapped[int] = mapped_column(BigInteger)
    in_top: Mapped[dict] = mapped_column(JSON)  # target group -> people served in a top 10
    in_pool: Mapped[dict] = mapped_column(JSON)  # target group -> people eligible
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
