"""Jobcoaches, aftercare plans (one per placement) and their tasks."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class Jobcoach(Base):
    __tablename__ = "jobcoaches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(80), index=True)
    capacity: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AftercarePlan(Base):
    __tablename__ = "aftercare_plans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # unique: the last line of defence for "exactly one plan per placement",
    # also when two aftercare instances take the same event at once.
    placement_id: Mapped[str] = mapped_column(String(36), unique=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    jobcoach_id: Mapped[str | None] = mapped_column(ForeignKey("jobcoaches.id"), index=True)
    region: Mapped[str] = mapped_column(String(80))
    start_date: Mapped[date] = mapped_column(Date)
    hours_per_week: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AftercareTask(Base):
    __tablename__ = "aftercare_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("aftercare_plans.id"), index=True)
    placement_id: Mapped[str] = mapped_column(String(36), index=True)
    jobcoach_id: Mapped[str | None] = mapped_column(ForeignKey("jobcoaches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    outcome: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
