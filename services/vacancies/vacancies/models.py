"""Employers and the shared vacancy pool."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Employer(Base):
    __tablename__ = "employers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kvk_number: Mapped[str] = mapped_column(String(8), unique=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Vacancy(Base):
    __tablename__ = "vacancies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employer_id: Mapped[str] = mapped_column(ForeignKey("employers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(80), index=True)
    postcode: Mapped[str] = mapped_column(String(7))
    pc4: Mapped[str] = mapped_column(String(4))
    skills_required: Mapped[list] = mapped_column(JSON)
    hours_per_week: Mapped[int]
    openings: Mapped[int]
    openings_filled: Mapped[int]
    status: Mapped[str] = mapped_column(String(12))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
