"""Employers and the shared vacancy pool."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from werkbrug_shared.audit import audit_tables
from werkbrug_shared.db import service_metadata

metadata = service_metadata()
AUDIT_LOG, AUDIT_HEAD = audit_tables(metadata)  # werkbrug_shared.audit: the hash-chained audit log


class Base(DeclarativeBase):
    metadata = metadata


class Employer(Base):
    __tablename__ = "employers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kvk_number: Mapped[str] = mapped_column(String(8), unique=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    sbi: Mapped[str | None] = mapped_column(String(5))
    postcode: Mapped[str | None] = mapped_column(String(6))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Vacancy(Base):
    __tablename__ = "vacancies"
    __table_args__ = (
        # an import names its rows; a re-sent row finds the vacancy it made
        UniqueConstraint("source_organisation", "source_ref"),
        # the list's keyset order: newest first
        Index("ix_vacancies_opened_at_id", "opened_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employer_id: Mapped[str] = mapped_column(ForeignKey("employers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    occupation: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(80), index=True)
    postcode: Mapped[str] = mapped_column(String(7))
    pc4: Mapped[str] = mapped_column(String(4))
    hours_per_week: Mapped[int]
    openings: Mapped[int]
    openings_filled: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), index=True)
    visibility: Mapped[str] = mapped_column(String(12), server_default="public")
    conditions_offered: Mapped[list] = mapped_column(JSON, server_default=text("'[]'"))
    is_leerwerkbaan: Mapped[bool] = mapped_column(server_default=false())
    banenafspraak_suitable: Mapped[bool] = mapped_column(server_default=false())
    valid_through: Mapped[date | None] = mapped_column(Date)
    work_thinking_level: Mapped[int | None] = mapped_column(Integer)
    source_organisation: Mapped[str | None] = mapped_column(String(64))
    source_ref: Mapped[str | None] = mapped_column(String(100))
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    closed_note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    skills: Mapped[list[VacancySkill]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="(VacancySkill.must_have.desc(), VacancySkill.skill)")
    stewards: Mapped[list[Steward]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Steward.id")


class VacancySkill(Base):
    """A must-have or nice-to-have skill with its weight; one row each, so a
    skill filter is an indexed lookup on every database."""

    __tablename__ = "vacancy_skills"

    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    weight: Mapped[float] = mapped_column(Float)
    must_have: Mapped[bool]


class Steward(Base):
    """A professional (of any partner organisation) who looks after a vacancy."""

    __tablename__ = "vacancy_stewards"
    __table_args__ = (UniqueConstraint("vacancy_id", "organisation", "professional"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id"))
    organisation: Mapped[str] = mapped_column(String(64), index=True)
    # None when the organisation opened it without naming a professional
    professional: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShortlistEntry(Base):
    """A candidate a steward put forward for a vacancy. The note is the
    steward's own words and never leaves this service."""

    __tablename__ = "shortlist"

    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id"), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    organisation: Mapped[str] = mapped_column(String(64))
    professional: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the entry's last activity (added, or added again with a new note): retention counts from it
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class PlacementSeen(Base):
    """Placements on our vacancies, so a recorded or ended placement moves an
    opening once, whatever order or how often the events arrive."""

    __tablename__ = "placements_seen"

    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vacancy_id: Mapped[str] = mapped_column(ForeignKey("vacancies.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
