"""Reporting's event store and the read models built from it alone."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class StoredEvent(Base):
    """Every event reporting received, as received: read models can be rebuilt from here."""

    __tablename__ = "event_store"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(120), index=True)
    source: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # whom the event is about, so an erasure finds every event of one person
    candidate_id: Mapped[str | None] = mapped_column(String(36), index=True)


class CandidateOutflow(Base):
    """One row per candidate in scope: where they are enrolled, whether placed."""

    __tablename__ = "candidate_outflow"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cohort: Mapped[str | None] = mapped_column(String(80), index=True)
    region: Mapped[str | None] = mapped_column(String(80), index=True)
    first_placed_on: Mapped[date | None] = mapped_column(Date)
    placements: Mapped[int] = mapped_column(default=0)


class CandidateTargetGroup(Base):
    __tablename__ = "candidate_target_groups"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_group: Mapped[str] = mapped_column(String(20), primary_key=True)


class PlacementFact(Base):
    __tablename__ = "placement_facts"

    placement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    region: Mapped[str] = mapped_column(String(80))
    cohort: Mapped[str | None] = mapped_column(String(80))
    start_date: Mapped[date] = mapped_column(Date)


class PlacementTargetGroup(Base):
    __tablename__ = "placement_target_groups"

    placement_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    target_group: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class ErasedCandidate(Base):
    """Tombstone of an AVG erasure: events of this person arriving later are stored anonymised."""

    __tablename__ = "erased_candidates"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
