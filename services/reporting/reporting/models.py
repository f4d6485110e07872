"""Reporting's event store and the read models built from it alone.

The read models are fact rows (see :mod:`reporting.domain`): one per person
in scope, placement, aftercare task, vacancy and target group (fairness), with
the derived columns the figures sum (months, days to placement, decided and
durable marks). Figures per cohort, trajectory, region, target group and
period are ``GROUP BY``s over them (:mod:`reporting.queries`). Everything but
``event_store`` and ``erased_candidates`` can be dropped and rebuilt from the
store (``werkbrug reporting rebuild``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Index, Integer, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from werkbrug_shared.db import service_metadata

metadata = service_metadata()


class Base(DeclarativeBase):
    metadata = metadata


class StoredEvent(Base):
    """Every event reporting received, as received: read models can be rebuilt from here."""

    __tablename__ = "event_store"
    # the replay order: event time, then id
    __table_args__ = (Index("ix_event_store_replay", "time", "event_id"),)

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(120), index=True)
    source: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # whom the event is about, so an erasure finds every event of one person
    candidate_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # the partner feed's position: gap-free, in commit order (reporting.feed); None for events
    # stored before the feed existed and not numbered since (the migration numbers them all)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class ErasedCandidate(Base):
    """Tombstone of an AVG erasure: events of this person arriving later are stored anonymised."""

    __tablename__ = "erased_candidates"

    candidate_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- the partner change feed and webhooks (reporting.feed, reporting.webhooks) ----------------
# Decided when an event is stored, in position order, and never again: a position once read
# never changes who sees it. Not read models: a rebuild leaves them as they are.

class FeedHead(Base):
    """One row: the last position given. Locked by every batch that stores events."""

    __tablename__ = "feed_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class FeedEntry(Base):
    """Who sees the event at ``position`` in the feed: an organisation, or ``*`` for everyone;
    ``form`` 0 the whole event, 1 its id alone (a vacancy that closed or stopped being public)."""

    __tablename__ = "feed_entries"
    __table_args__ = (Index("ix_feed_entries_type", "audience", "type", "position"),)

    audience: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(120))
    form: Mapped[int] = mapped_column(SmallInteger)


class FeedCandidate(Base):
    """Which organisation registered a candidate (from ``candidate.registered``'s data)."""

    __tablename__ = "feed_candidates"

    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(120))


class FeedPlacementOrganisation(Base):
    """The organisations a placement belongs to: credited ones, the candidate's, the coaching one."""

    __tablename__ = "feed_placement_organisations"

    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(120), primary_key=True)


class FeedVacancy(Base):
    """A vacancy as the feed knows it: public now or not, and its last whole event's position."""

    __tablename__ = "feed_vacancies"

    vacancy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean)
    position: Mapped[int] = mapped_column(BigInteger)


class WebhookSubscription(Base):
    """A partner's webhook: where, which types, its secret, and how far it has been delivered."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(120), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    types: Mapped[list] = mapped_column(JSON)  # [] is every type of the feed
    secret: Mapped[str] = mapped_column(String(100))
    cursor: Mapped[int] = mapped_column(BigInteger)  # every position up to here is delivered or dead-lettered
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(120))
    delivered: Mapped[int] = mapped_column(BigInteger)
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """A delivery that did not succeed at once: ``pending`` (to retry at ``next_attempt_at``), ``dead``
    (gave up after the bound; kept, listed, replayable) or ``replayed`` (a dead one given again)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_sub", "subscription_id", "status", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- read models (rebuildable) -------------------------------------------------------------

STAMP = String(160)  # "rank|time|event id": which event a "last wins" value came from


class Person(Base):
    """One person in scope: their enrolment, groupings and first placement."""

    __tablename__ = "rm_people"

    candidate_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cohort: Mapped[str | None] = mapped_column(String(80))
    trajectory: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(80))
    target_groups: Mapped[int] = mapped_column(SmallInteger)  # bit per target group (domain.BITS)
    enrolled_on: Mapped[date | None] = mapped_column(Date)
    enrol_stamp: Mapped[str | None] = mapped_column(STAMP)
    profile_stamp: Mapped[str | None] = mapped_column(STAMP)
    first_start: Mapped[date | None] = mapped_column(Date)
    enrolled_month: Mapped[str | None] = mapped_column(String(7))
    placed_month: Mapped[str | None] = mapped_column(String(7))
    days_to_placement: Mapped[int | None] = mapped_column(Integer)


class Placement(Base):
    __tablename__ = "rm_placements"

    placement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    candidate_id: Mapped[str | None] = mapped_column(String(64), index=True)
    vacancy_id: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[date | None] = mapped_column(Date)
    target_groups: Mapped[int] = mapped_column(SmallInteger)  # as recorded with it (what targets count)
    recorded_stamp: Mapped[str | None] = mapped_column(STAMP)
    end_date: Mapped[date | None] = mapped_column(Date)
    end_stamp: Mapped[str | None] = mapped_column(STAMP)
    sustained_months: Mapped[int] = mapped_column(SmallInteger)
    start_month: Mapped[str | None] = mapped_column(String(7))
    ended_early: Mapped[int] = mapped_column(SmallInteger)
    decided_6: Mapped[int] = mapped_column(SmallInteger)
    durable_6: Mapped[int] = mapped_column(SmallInteger)
    decided_12: Mapped[int] = mapped_column(SmallInteger)
    durable_12: Mapped[int] = mapped_column(SmallInteger)


class Task(Base):
    __tablename__ = "rm_tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str | None] = mapped_column(String(120))
    assign_stamp: Mapped[str | None] = mapped_column(STAMP)
    completed: Mapped[bool] = mapped_column(Boolean)
    cancelled: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)
    is_open: Mapped[int] = mapped_column(SmallInteger)
    is_overdue: Mapped[int] = mapped_column(SmallInteger)


class Vacancy(Base):
    __tablename__ = "rm_vacancies"

    vacancy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    is_leerwerkbaan: Mapped[bool] = mapped_column(Boolean)
    stamp: Mapped[str | None] = mapped_column(STAMP)


class Fairness(Base):
    __tablename__ = "rm_fairness"

    target_group: Mapped[str] = mapped_column(String(20), primary_key=True)
    top: Mapped[int] = mapped_column(BigInteger)
    eligible: Mapped[int] = mapped_column(BigInteger)


class ReadModelState(Base):
    """One row: the read models' version (bumped by every change), what they hold up to, and when.

    Every batch that projects takes this row's lock first, so batches (and a
    rebuild) apply one after another, also across replicas.
    """

    __tablename__ = "rm_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # latest event time applied
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # wall clock of the last change
    read_model_version: Mapped[int] = mapped_column(Integer)  # of the projection code that built them
    fairness_top_total: Mapped[int] = mapped_column(BigInteger)
    fairness_eligible_total: Mapped[int] = mapped_column(BigInteger)


READ_MODELS = (Person, Placement, Task, Vacancy, Fairness)
