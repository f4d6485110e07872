"""Candidates' tables. Personal data lives apart from the matching profile,
so the profile can be shared and erased data is easy to find."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Candidate(Base):
    """The werkprofiel: what someone can and wants. No name, no address."""

    __tablename__ = "candidates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    region: Mapped[str] = mapped_column(String(80), index=True)
    pc4: Mapped[str] = mapped_column(String(4))
    target_groups: Mapped[list] = mapped_column(JSON)
    skills: Mapped[list] = mapped_column(JSON)
    hours_per_week: Mapped[int]
    conditions: Mapped[list] = mapped_column(JSON)
    cohort: Mapped[str | None] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PersonalData(Base):
    __tablename__ = "candidate_personal_data"

    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(7))
