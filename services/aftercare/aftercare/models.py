"""Jobcoaches and their organisations, aftercare plans (one per placement), tasks, escalations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.audit import audit_tables
from werkbrug_shared.db import service_metadata

metadata = service_metadata()
AUDIT_LOG, AUDIT_HEAD = audit_tables(metadata)  # werkbrug_shared.audit: the hash-chained audit log


class Base(DeclarativeBase):
    metadata = metadata


class CoachingOrganisation(Base):
    """A partner that employs jobcoaches; its coordinator receives the escalations."""

    __tablename__ = "coaching_organisations"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # the partner id, e.g. soweco
    name: Mapped[str] = mapped_column(String(200))
    # contact details stay in this database: never in an event, log line or metric
    coordinator_email: Mapped[str] = mapped_column(String(254))


class Jobcoach(Base):
    __tablename__ = "jobcoaches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("coaching_organisations.id"), index=True)
    regions: Mapped[list] = mapped_column(JSON, default=list)
    expertise: Mapped[list] = mapped_column(JSON, default=list)
    capacity_hours: Mapped[float] = mapped_column(Float)  # coaching hours per week
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
    status: Mapped[str] = mapped_column(String(12), default="active")
    budget_hours: Mapped[list] = mapped_column(JSON, default=list)  # per year, UWV norm
    expertise_wanted: Mapped[list] = mapped_column(JSON, default=list)
    target_groups: Mapped[list] = mapped_column(JSON, default=list)
    ended_on: Mapped[date | None] = mapped_column(Date)
    # who placed the person (placement.recorded's credited_organisations): they see the plan too
    credited_organisations: Mapped[list | None] = mapped_column(JSON)


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
    hours: Mapped[float] = mapped_column(Float, default=1.0)  # estimated
    hours_spent: Mapped[float | None] = mapped_column(Float)
    sustained_months: Mapped[int | None]
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set once, by the sweep


class Escalation(Base):
    """Something a coordinator must act on: a plan nobody could take, a task overdue."""

    __tablename__ = "escalations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # unassigned_plan | overdue_task
    plan_id: Mapped[str] = mapped_column(ForeignKey("aftercare_plans.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[str | None] = mapped_column(String(80), index=True)
    region: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
