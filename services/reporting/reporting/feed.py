"""The partner change feed: every stored event gets a position, and who may see it is
decided once, when it is stored.

Positions. Each batch the store handler commits takes the lock on ``feed_head``
(after the read models' lock, when it projects), adds its number of events to the
head and numbers its events from there, in the batch's order, all in the
transaction that stores them. The lock is held until that transaction ends, so
batches number and commit one after another: positions are gap-free (a batch that
rolls back gives its numbers back) and in commit order. A reader who has seen
position N will never later find a new event at or below N. On SQLite the head is
moved by an ``UPDATE`` before it is read, which takes the database's write lock
first, so the same holds there.

Audiences (:func:`decide`, pure). Decided in position order from the event's data
and what earlier events said (which organisation registered a candidate, which
organisations a placement belongs to, whether a vacancy is public now), never
again afterwards: what a position shows does not change later, except that an
erasure strips an event's data down to ids (as in the event store).

- ``vacancy.opened`` / ``vacancy.updated`` of a public, not closed vacancy: everyone,
  whole. A vacancy that stops being public (its visibility changed, or it closed):
  everyone, its id alone, once (``{"vacancy_id": ...}`` means: drop it from your copy).
  A vacancy that was never public: nothing at all. ``vacancy.filled`` of a public one:
  everyone, whole.
- ``candidate.status_changed``: the organisation that registered the candidate, when
  ``candidate.registered``'s data names it (``registered_by`` or ``organisation``).
- ``placement.recorded``: its credited organisations (the vacancy's stewards, the
  proposer's) and the candidate's registering organisation; the coaching organisation
  joins them with ``aftercare_plan.created``. ``placement.ended``, ``placement.at_risk``,
  ``placement.sustained`` and ``aftercare_task.completed`` (with the completing
  organisation): those organisations.
- Anything else, or what cannot be attributed when it is stored: nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, union_all, update
from sqlalchemy.orm import Session

from reporting.models import FeedCandidate, FeedEntry, FeedHead, FeedPlacementOrganisation, FeedVacancy, StoredEvent
from werkbrug_shared.db import insert_rows
from werkbrug_shared.errors import Forbidden, ValidationError
from werkbrug_shared.events.types import (
    AFTERCARE_PLAN_CREATED,
    AFTERCARE_TASK_COMPLETED,
    CANDIDATE_REGISTERED,
    CANDIDATE_STATUS_CHANGED,
    PLACEMENT_AT_RISK,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
    PLACEMENT_SUSTAINED,
    VACANCY_CLOSED,
    VACANCY_FILLED,
    VACANCY_OPENED,
    VACANCY_UPDATED,
)
from werkbrug_shared.visibility import PUBLIC

EVERYONE = "*"
WHOLE, ID_ALONE = 0, 1
HEAD_ID = 1
MAX_LIMIT = 1000

VACANCY_TYPES = (VACANCY_OPENED, VACANCY_UPDATED, VACANCY_FILLED, VACANCY_CLOSED)
PLACEMENT_OUTCOMES = (PLACEMENT_ENDED, PLACEMENT_AT_RISK, PLACEMENT_SUSTAINED, AFTERCARE_TASK_COMPLETED)
FEED_TYPES = (*VACANCY_TYPES, CANDIDATE_STATUS_CHANGED, PLACEMENT_RECORDED, *PLACEMENT_OUTCOMES)
# what the rules remember of these (they are not in the feed themselves)
REMEMBERED = (CANDIDATE_REGISTERED, AFTERCARE_PLAN_CREATED)


def registering_organisation(data: dict) -> str | None:
    """Who registered a candidate, as ``candidate.registered``'s data says (if it does)."""
    org = data.get("registered_by") or data.get("organisation")
    return org if isinstance(org, str) and org else None


@dataclass
class Known:
    """What the rules need of earlier events, for the keys a batch touches; what changed is written back."""

    candidates: dict[str, str] = field(default_factory=dict)  # candidate -> registering organisation
    placements: dict[str, set[str]] = field(default_factory=dict)  # placement -> organisations
    vacancies: dict[str, tuple[bool, int]] = field(default_factory=dict)  # vacancy -> (public now, position)
    changed_candidates: set[str] = field(default_factory=set)
    added_placement_orgs: set[tuple[str, str]] = field(default_factory=set)
    changed_vacancies: set[str] = field(default_factory=set)


def _public(data: dict) -> bool:
    return data.get("visibility", PUBLIC) == PUBLIC and data.get("status", "open") != "closed"


def decide(known: Known, event_type: str, data: dict, position: int) -> list[tuple[str, int]]:
    """Who sees the event at ``position`` (``(audience, form)`` pairs), remembering what later
    events need. Pure over ``known``; called in position order."""
    if event_type in (VACANCY_OPENED, VACANCY_UPDATED):
        vid = data.get("vacancy_id")
        was_public, _ = known.vacancies.get(vid, (False, 0))
        if _public(data):
            known.vacancies[vid] = (True, position)
            known.changed_vacancies.add(vid)
            return [(EVERYONE, WHOLE)]
        if was_public:
            known.vacancies[vid] = (False, position)
            known.changed_vacancies.add(vid)
            return [(EVERYONE, ID_ALONE)]
        return []
    if event_type == VACANCY_FILLED:
        return [(EVERYONE, WHOLE)] if known.vacancies.get(data.get("vacancy_id"), (False, 0))[0] else []
    if event_type == VACANCY_CLOSED:
        vid = data.get("vacancy_id")
        was_public, last = known.vacancies.get(vid, (False, 0))
        if not was_public:
            return []
        known.vacancies[vid] = (False, last)
        known.changed_vacancies.add(vid)
        return [(EVERYONE, ID_ALONE)]
    if event_type == CANDIDATE_REGISTERED:
        org = registering_organisation(data)
        cid = data.get("candidate_id")
        if org and cid and known.candidates.get(cid) != org:
            known.candidates[cid] = org
            known.changed_candidates.add(cid)
        return []
    if event_type == CANDIDATE_STATUS_CHANGED:
        org = known.candidates.get(data.get("candidate_id"))
        return [(org, WHOLE)] if org else []
    if event_type == PLACEMENT_RECORDED:
        orgs = {o for o in data.get("credited_organisations") or () if isinstance(o, str) and o}
        registering = known.candidates.get(data.get("candidate_id"))
        if registering:
            orgs.add(registering)
        _add_placement_orgs(known, data.get("placement_id"), orgs)
        return [(org, WHOLE) for org in sorted(orgs)]
    if event_type == AFTERCARE_PLAN_CREATED:
        org = data.get("organisation")
        if org:
            _add_placement_orgs(known, data.get("placement_id"), {org})
        return []
    if event_type in PLACEMENT_OUTCOMES:
        orgs = set(known.placements.get(data.get("placement_id"), ()))
        if event_type == AFTERCARE_TASK_COMPLETED and data.get("organisation"):
            orgs.add(data["organisation"])
        return [(org, WHOLE) for org in sorted(orgs) if org != EVERYONE]
    return []


def _add_placement_orgs(known: Known, placement_id, orgs) -> None:
    if not placement_id:
        return
    have = known.placements.setdefault(placement_id, set())
    for org in orgs:
        if org != EVERYONE and org not in have:
            have.add(org)
            known.added_placement_orgs.add((placement_id, org))


# --- storing ---------------------------------------------------------------------------------

def advance_head(session: Session, count: int) -> int:
    """Take ``count`` positions: the head moved (and locked until the transaction ends); the new head."""
    table = FeedHead.__table__
    moved = session.execute(update(table).where(table.c.id == HEAD_ID).values(position=table.c.position + count))
    if moved.rowcount == 0:  # a database made from the models (tests), not the migration
        session.execute(insert(table).values(id=HEAD_ID, position=count))
    return session.scalar(select(table.c.position).where(table.c.id == HEAD_ID))


def head(session: Session) -> int:
    return session.scalar(select(FeedHead.position).where(FeedHead.id == HEAD_ID)) or 0


def _load(session: Session, items) -> Known:
    known = Known()
    cids, pids, vids = set(), set(), set()
    for event_type, data in items:
        if event_type in (CANDIDATE_REGISTERED, CANDIDATE_STATUS_CHANGED, PLACEMENT_RECORDED):
            cids.add(data.get("candidate_id"))
        if event_type in (PLACEMENT_RECORDED, AFTERCARE_PLAN_CREATED, *PLACEMENT_OUTCOMES):
            pids.add(data.get("placement_id"))
        if event_type in VACANCY_TYPES:
            vids.add(data.get("vacancy_id"))
    cids.discard(None), pids.discard(None), vids.discard(None)
    if cids:
        known.candidates.update(session.execute(
            select(FeedCandidate.candidate_id, FeedCandidate.organisation).where(
                FeedCandidate.candidate_id.in_(cids))).all())
    if pids:
        for pid, org in session.execute(select(
                FeedPlacementOrganisation.placement_id, FeedPlacementOrganisation.organisation).where(
                FeedPlacementOrganisation.placement_id.in_(pids))):
            known.placements.setdefault(pid, set()).add(org)
    if vids:
        for vid, public, position in session.execute(select(
                FeedVacancy.vacancy_id, FeedVacancy.public, FeedVacancy.position).where(
                FeedVacancy.vacancy_id.in_(vids))):
            known.vacancies[vid] = (public, position)
    return known


def _write(session: Session, known: Known, entries: list[dict]) -> None:
    if entries:
        insert_rows(session, FeedEntry.__table__, entries)
    if known.changed_candidates:
        ids = known.changed_candidates
        session.execute(delete(FeedCandidate.__table__).where(FeedCandidate.candidate_id.in_(ids)))
        session.execute(insert(FeedCandidate.__table__),
                        [{"candidate_id": c, "organisation": known.candidates[c]} for c in ids])
    if known.added_placement_orgs:
        session.execute(insert(FeedPlacementOrganisation.__table__),
                        [{"placement_id": p, "organisation": o} for p, o in sorted(known.added_placement_orgs)])
    if known.changed_vacancies:
        ids = known.changed_vacancies
        session.execute(delete(FeedVacancy.__table__).where(FeedVacancy.vacancy_id.in_(ids)))
        session.execute(insert(FeedVacancy.__table__), [
            {"vacancy_id": v, "public": known.vacancies[v][0], "position": known.vacancies[v][1]} for v in ids])


def number(session: Session, rows: list[dict]) -> None:
    """Give each stored-event row (``type``, ``data``) its ``position``, in order, and record who
    sees it. Called in the transaction that inserts the rows, before it does."""
    if not rows:
        return
    last = advance_head(session, len(rows))
    for offset, row in enumerate(rows):
        row["position"] = last - len(rows) + 1 + offset
    _decide_rows(session, rows)


def _decide_rows(session: Session, rows: list[dict]) -> None:
    """Who sees each row (with its ``position``, ``type``, ``data``), in order; written with them."""
    relevant = [(r["type"], r["data"]) for r in rows if r["type"] in FEED_TYPES or r["type"] in REMEMBERED]
    if not relevant:
        return
    known = _load(session, relevant)
    entries = []
    for row in rows:
        if row["type"] in FEED_TYPES or row["type"] in REMEMBERED:
            for audience, form in decide(known, row["type"], row["data"], row["position"]):
                entries.append({"audience": audience, "position": row["position"], "type": row["type"],
                                "form": form})
    _write(session, known, entries)


def number_unnumbered(session: Session, batch: int = 5000) -> int:
    """Number the stored events that have no position (stored before the feed existed) after the
    head, in the order they were received, and decide their audiences by the same rules, in that
    order. One UPDATE numbers them; the rules then walk them a batch at a time. Returns how many."""
    top = head(session)
    table = StoredEvent.__table__
    ranked = select(table.c.event_id, (func.row_number().over(
        order_by=(table.c.received_at, table.c.time, table.c.event_id)) + top).label("pos")).where(
        table.c.position.is_(None)).subquery()
    done = session.execute(update(table).where(table.c.event_id == ranked.c.event_id).values(
        position=ranked.c.pos)).rowcount
    if not done:
        return 0
    last = top
    while True:
        rows = [dict(r._mapping) for r in session.execute(
            select(table.c.position, table.c.type, table.c.data).where(
                table.c.position > last, table.c.position <= top + done,
                table.c.type.in_((*FEED_TYPES, *REMEMBERED))).order_by(table.c.position).limit(batch))]
        if not rows:
            break
        _decide_rows(session, rows)
        last = rows[-1]["position"]
    advance_head(session, done)
    return done


# --- reading ---------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cloudevent(row, form: int) -> dict:
    """A stored event as the feed gives it: a CloudEvent with its ``position`` (an extension attribute)."""
    data = row.data
    if form == ID_ALONE:
        data = {"vacancy_id": data.get("vacancy_id")}
    return {"specversion": "1.0", "id": row.event_id, "source": row.source, "type": row.type,
            "subject": row.subject, "time": _iso(row.time), "datacontenttype": "application/json",
            "position": row.position, "data": data}


def _columns():
    return (StoredEvent.event_id, StoredEvent.source, StoredEvent.type, StoredEvent.subject, StoredEvent.time,
            StoredEvent.position, StoredEvent.data)


def read(session: Session, organisation: str, after: int, types, limit: int) -> dict:
    """What ``organisation`` sees after position ``after``, in position order, at most ``limit``:
    ``{"events": [CloudEvent + position], "next": position to ask after next time, "head": ...}``.

    ``next`` is the last event's position when the page is full, else the head as it was read
    first (every position up to it had committed, so nothing new can appear below it)."""
    top = head(session)
    parts = []
    for audience in (EVERYONE, organisation):
        for event_type in (sorted(set(types)) if types else [None]):
            q = select(FeedEntry.position, FeedEntry.form).where(
                FeedEntry.audience == audience, FeedEntry.position > after, FeedEntry.position <= top)
            if event_type is not None:
                q = q.where(FeedEntry.type == event_type)
            parts.append(q.order_by(FeedEntry.position).limit(limit).subquery())
    merged = union_all(*(select(p.c.position, p.c.form) for p in parts)).subquery()
    picked = session.execute(select(merged.c.position, merged.c.form).order_by(merged.c.position)
                             .limit(limit)).all()
    forms = dict(picked)
    events = []
    if forms:
        rows = session.execute(select(*_columns()).where(StoredEvent.position.in_(list(forms)))
                               .order_by(StoredEvent.position)).all()
        events = [cloudevent(row, forms[row.position]) for row in rows]
    nxt = picked[-1][0] if len(picked) == limit else max(top, after)
    return {"events": events, "next": nxt, "head": top}


def snapshot(session: Session) -> dict:
    """The published vacancies as they are at ``position``: each as its latest whole event.
    ``feed(after=position)`` carries on from it (a vacancy changed since is in the feed after it)."""
    top = head(session)
    rows = session.execute(
        select(*_columns()).join(FeedVacancy, FeedVacancy.position == StoredEvent.position)
        .where(FeedVacancy.public.is_(True), FeedVacancy.position <= top).order_by(StoredEvent.position)).all()
    return {"position": top, "vacancies": [cloudevent(row, WHOLE) for row in rows]}


def check_query(after, types, limit) -> tuple[int, list[str] | None, int]:
    """The feed's arguments, or a ValidationError naming each bad one."""
    errors = {}
    if after is None:
        after = 0
    if isinstance(after, str) and after.isdigit():
        after = int(after)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        errors["after"] = ["a position: a whole number, 0 or more"]
    if types is not None:
        if isinstance(types, str):
            types = [t for t in types.split(",") if t]
        if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
            errors["types"] = ["a list of event type names"]
        else:
            unknown = sorted(set(types) - set(FEED_TYPES))
            if unknown:
                errors["types"] = [f"not in the feed: {', '.join(unknown)[:200]}; the feed has "
                                   + ", ".join(FEED_TYPES)]
            types = sorted(set(types)) or None
    if isinstance(limit, str) and limit.isdigit():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [f"from 1 to {MAX_LIMIT}"]
    if errors:
        raise ValidationError.from_fields("feed query", errors)
    return after, types, limit


def inzage(session: Session, organisation: str, candidate_id, registered_by) -> dict:
    """What reporting holds on one person: the stored events naming them (as stored: after an
    erasure, ids, dates and groupings only). For the registering organisation only."""
    if not isinstance(candidate_id, str) or not 1 <= len(candidate_id) <= 64:
        raise ValidationError.from_fields("inzage", {"candidate_id": ["a candidate id"]})
    owner = session.scalar(select(FeedCandidate.organisation).where(FeedCandidate.candidate_id == candidate_id))
    if owner is None:
        owner = registered_by(candidate_id)
    if owner is None or owner != organisation:
        raise Forbidden("only the organisation that registered this candidate may ask for its inzage")
    rows = session.execute(select(*_columns(), StoredEvent.received_at).where(
        StoredEvent.candidate_id == candidate_id).order_by(StoredEvent.time, StoredEvent.event_id)).all()
    return {"service": "reporting", "records": {"events": [
        {"id": r.event_id, "type": r.type, "source": r.source, "subject": r.subject, "time": _iso(r.time),
         "received_at": _iso(r.received_at), "position": r.position, "data": r.data} for r in rows]}}
