"""Matching's own tables: an anonymous index fed by events, and placements."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


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


class IndexedVacancy(Base):
    __tablename__ = "indexed_vacancies"

    vacancy_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employer_id: Mapped[str] = mapped_column(String(36))
    region: Mapped[str] = mapped_column(String(80), index=True)
    pc4: Mapped[str] = mapped_column(String(4))
    skills_required: Mapped[list] = mapped_column(JSON)
    hours_per_week: Mapped[int]
    openings: Mapped[int]


class Placement(Base):
    __tablename__ = "placements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    vacancy_id: Mapped[str] = mapped_column(String(36), index=True)
    employer_id: Mapped[str] = mapped_column(String(36))
    start_date: Mapped[date] = mapped_column(Date)
    hours_per_week: Mapped[int]
    status: Mapped[str] = mapped_column(String(12))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ErasedCandidate(Base):
    """Tombstone of an AVG erasure: only the id, so late events cannot re-index the person."""

    __tablename__ = "erased_candidates"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
