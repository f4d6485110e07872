"""Retention on an injected clock (werkbrug_shared.clock.Clock), each service's handler on SQLite:
logbook entries, jobcoaches' notes, notes on matches and shortlist entries go RETENTION_DAYS after
their last activity, what the counts need stays, and each removal is in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.unit.conftest import sqlite_unit_of_work
from werkbrug_shared import audit
from werkbrug_shared.clock import NL, Clock

TODAY = date(2028, 3, 1)
NOW = datetime(2028, 3, 1, 10, 0, tzinfo=UTC)
DAYS = 730
CLOCK = Clock(TODAY, now=lambda: NOW)


def ago(days: int, hour: int = 12) -> datetime:
    """Noon in the Netherlands, ``days`` before TODAY."""
    return datetime.combine(TODAY - timedelta(days=days), datetime.min.time(), tzinfo=NL).replace(hour=hour)


def retention_entries(uow) -> list[tuple]:
    rows = uow.session.execute(text("SELECT organisation, purpose, action, record, candidate_id, fields "
                                    "FROM audit_log ORDER BY seq")).all()
    return [tuple(r) for r in rows]


def test_the_cutoff_is_a_day_in_the_netherlands_and_follows_a_fixed_date():
    cutoff = audit.retention_cutoff(Clock(date(2026, 7, 1)), 1)
    assert cutoff == datetime(2026, 6, 29, 22, 0, tzinfo=UTC)  # 30 June, 00:00 in summer time
    assert audit.retention_cutoff(Clock(date(2026, 1, 2)), 1) == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)


def test_the_period_is_configurable(monkeypatch):
    monkeypatch.delenv("WERKBRUG_RETENTION_DAYS", raising=False)
    assert audit.retention_days({}) == 730
    monkeypatch.setenv("WERKBRUG_RETENTION_DAYS", "365")
    assert audit.retention_days({}) == 365
    assert audit.retention_days({"RETENTION_DAYS": 30}) == 30
    with pytest.raises(ValueError):
        audit.retention_days({"RETENTION_DAYS": 0})


def test_candidates_logbook_entries():
    from candidates import handlers
    from candidates.models import LogEntry, metadata
    from tests.unit.test_candidates_handlers import ENSCHEDE, register

    with sqlite_unit_of_work(metadata, "candidates") as uow:
        cid = register(uow)
        for days in (DAYS + 1, DAYS, DAYS - 1):
            handlers.write_log(uow, ENSCHEDE, Clock(TODAY, now=lambda d=days: ago(d)), cid, f"{days} days", None)
        uow.session.commit()
        before = len(retention_entries(uow))
        assert handlers.remove_expired(uow, CLOCK, DAYS) == 1
        uow.session.commit()
        assert sorted(uow.session.scalars(select(LogEntry.text))) == [f"{DAYS - 1} days", f"{DAYS} days"]
        assert retention_entries(uow)[before:] == [(None, "retention", "remove", "log_entry", cid, "[]")]
        assert handlers.remove_expired(uow, CLOCK, DAYS) == 0  # nothing twice
        # a year later the rest goes too
        assert handlers.remove_expired(uow, Clock(TODAY + timedelta(days=366), now=lambda: NOW), DAYS) == 2
        uow.session.commit()
        assert audit.verify(uow.session.connection()).intact


def test_aftercare_notes_go_and_tasks_stay():
    from aftercare import handlers
    from aftercare.models import AftercarePlan, AftercareTask, metadata

    with sqlite_unit_of_work(metadata, "aftercare") as uow:
        uow.session.add(AftercarePlan(id="plan-1", placement_id="pl-1", candidate_id="c-1", region="Twente",
                                      start_date=date(2025, 1, 6), hours_per_week=24, created_at=ago(DAYS + 60)))
        for task_id, completed, note in (("old", ago(DAYS + 1), "moeite met de reistijd"),
                                         ("recent", ago(DAYS - 1), "gaat goed"), ("open", None, None)):
            uow.session.add(AftercareTask(id=task_id, plan_id="plan-1", placement_id="pl-1", kind="week_1",
                                          due=date(2025, 1, 13), status="done" if completed else "open",
                                          outcome="going_well" if completed else None, note=note,
                                          completed_at=completed))
        uow.session.commit()
        assert handlers.remove_expired(uow, CLOCK, DAYS) == 1
        uow.session.commit()
        notes = dict(uow.session.execute(select(AftercareTask.id, AftercareTask.note)).all())
        assert notes == {"old": None, "recent": "gaat goed", "open": None}
        assert uow.session.scalar(select(func.count()).select_from(AftercareTask)) == 3  # the counts stay
        assert retention_entries(uow) == [(None, "retention", "remove", "task_note", "c-1", '["note"]')]


def test_matching_notes_go_after_the_match_last_moved():
    from matching import handlers
    from matching.models import Match, metadata

    with sqlite_unit_of_work(metadata, "matching") as uow:
        for match_id, proposed, decided in (("stale", ago(DAYS + 90), ago(DAYS + 2)),
                                            ("moved-lately", ago(DAYS + 90), ago(DAYS - 3))):
            uow.session.add(Match(id=match_id, candidate_id=f"c-{match_id}", vacancy_id="v-1", status="rejected",
                                  score=0.5, proposed_at=proposed, decided_at=decided, note="kon niet op maandag",
                                  note_by="uwv-twente"))
        uow.session.commit()
        assert handlers.remove_expired(uow, CLOCK, DAYS) == 1
        uow.session.commit()
        rows = {m.id: (m.note, m.note_by, m.status) for m in uow.session.scalars(select(Match))}
        assert rows == {"stale": (None, None, "rejected"), "moved-lately": ("kon niet op maandag", "uwv-twente",
                                                                             "rejected")}
        assert [e[4] for e in retention_entries(uow)] == ["c-stale"]


def test_vacancies_shortlist_entries_go_after_their_last_activity():
    from vacancies import handlers
    from vacancies.models import ShortlistEntry, metadata

    with sqlite_unit_of_work(metadata, "vacancies") as uow:
        for candidate_id, added, changed in (("c-old", ago(DAYS + 5), None), ("c-renewed", ago(DAYS + 5), ago(10)),
                                             ("c-new", ago(3), ago(3))):
            uow.session.add(ShortlistEntry(vacancy_id="v-1", candidate_id=candidate_id, organisation="uwv-twente",
                                           note="sterk in de keuken", added_at=added, changed_at=changed))
        uow.session.commit()
        assert handlers.remove_expired(uow, CLOCK, DAYS) == 1
        uow.session.commit()
        assert sorted(uow.session.scalars(select(ShortlistEntry.candidate_id))) == ["c-new", "c-renewed"]
        (entry,) = retention_entries(uow)
        assert entry[:5] == (None, "retention", "remove", "shortlist_entry", "c-old")
        assert "note" in json.loads(entry[5])
