"""Matching's decisions over a unit of work: what the entrypoints in ``service`` call.

Each handler is a plain function of the unit of work (``uow``: its session,
``emit``, ``get``), the index (``index.changed`` logs, in the same transaction,
which of the index's rows changed, so every replica applies it once committed),
who asks (a :class:`~werkbrug_shared.visibility.Viewer`) and the moment
(``now``). The rules themselves are in :mod:`matching.domain`; who may see a
vacancy is :mod:`werkbrug_shared.visibility`'s one rule. Unit tests call these on
a SQLite unit of work with a fake index and a fixed moment, no broker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from matching import domain, scoring
from matching.changes import CANDIDATE, MODULE, POOL, VACANCY, candidate_profile_of, vacancy_profile_of
from matching.models import (
    ErasedCandidate,
    IndexedCandidate,
    IndexedVacancy,
    LearnedModule,
    Match,
    MatchingConsent,
    Placement,
)
from werkbrug_shared import audit as chain
from werkbrug_shared import visibility
from werkbrug_shared.db import insert_rows
from werkbrug_shared.errors import Conflict, NotFound, ValidationError
from werkbrug_shared.events.types import (
    MATCH_INTRODUCED,
    MATCH_PROPOSED,
    MATCH_REJECTED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
)
from werkbrug_shared.visibility import Viewer

CANDIDATE_FIELDS = ("region", "pc4", "target_groups", "skills", "hours_per_week", "conditions", "cohort")
VACANCY_FIELDS = ("employer_id", "region", "pc4", "skills_required", "hours_per_week", "openings", "visibility")
# what a retried record_placement must repeat to get its placement back (request_id)
PLACEMENT_REQUEST_FIELDS = ("candidate_id", "vacancy_id", "start_date", "hours_per_week", "match_id")


# --- who may see what ---------------------------------------------------------------------

MATCH_NOTE = "match_note"  # the professional's own words on a match: personal data (audit log's kind)
NOTE_FIELDS = ("note",)


def may_see(viewer: Viewer, vacancy: IndexedVacancy) -> bool:
    return visibility.may_see_vacancy(viewer, vacancy.visibility, vacancy.region, vacancy.steward_organisations or ())


def vacancies_seen(uow, viewer: Viewer, vacancy_ids) -> set[str]:
    """Of these vacancies, those ``viewer`` may see; one matching does not hold, nobody."""
    if not vacancy_ids:
        return set()
    rows = uow.session.scalars(select(IndexedVacancy).where(IndexedVacancy.vacancy_id.in_(vacancy_ids)))
    return {v.vacancy_id for v in rows if may_see(viewer, v)}


def visible_vacancy(uow, viewer: Viewer, vacancy_id: str) -> IndexedVacancy:
    """The vacancy, or NotFound as if it did not exist: its existence must not leak."""
    vacancy = uow.session.get(IndexedVacancy, vacancy_id)
    if vacancy is None or not may_see(viewer, vacancy):
        raise NotFound(f"no vacancy in the matching index: {vacancy_id}")
    return vacancy


def visible(uow, viewer: Viewer, row: Match | Placement) -> Match | Placement:
    """A match or placement, if ``viewer`` may see its vacancy; else as if it did not exist."""
    if row.vacancy_id not in vacancies_seen(uow, viewer, {row.vacancy_id}):
        raise NotFound(f"no {'match' if isinstance(row, Match) else 'placement'} {row.id}")
    return row


# --- matches ------------------------------------------------------------------------------

def propose(uow, viewer: Viewer, candidate_id: str, vacancy_id: str, now: datetime) -> Match:
    """A professional proposes a candidate for a vacancy; the match keeps the score it had."""
    session = uow.session
    candidate = uow.get(IndexedCandidate, candidate_id, "candidate in the matching index:")
    vacancy = visible_vacancy(uow, viewer, vacancy_id)
    if not consented(uow, candidate.candidate_id):
        raise Conflict(f"candidate {candidate.candidate_id} withdrew their consent to matching")
    if vacancy.status != "open":
        raise Conflict(f"vacancy {vacancy.vacancy_id} is {vacancy.status}")
    open_match = session.scalar(select(Match.id).where(
        Match.candidate_id == candidate.candidate_id, Match.vacancy_id == vacancy.vacancy_id,
        Match.status.in_(domain.OPEN_MATCH)))
    if open_match:
        raise Conflict(f"this candidate is already proposed for this vacancy (match {open_match})")
    pair = scoring.score_pair(candidate_profile_of(candidate), vacancy_profile_of(vacancy))
    match = Match(
        id=str(uuid.uuid4()), candidate_id=candidate.candidate_id, vacancy_id=vacancy.vacancy_id,
        status=domain.PROPOSED, score=round(pair.score, 4), breakdown=scoring.breakdown(pair.values),
        proposed_by=viewer.organisation, proposed_at=now,
    )
    session.add(match)
    uow.emit(MATCH_PROPOSED, match.id, {
        "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
        "score": match.score, "proposed_by": match.proposed_by,
    })
    session.flush()
    return match


def match_moving_to(uow, viewer: Viewer, match_id: str, status: str) -> Match:
    """The match, locked, if it may move to ``status`` (``domain.MATCH_TRANSITIONS``)."""
    match = visible(uow, viewer, uow.get(Match, match_id, "match", for_update=True))
    try:
        domain.check_match_transition(match.status, status)
    except domain.RuleBroken as exc:
        raise Conflict(str(exc)) from None
    return match


def introduce(uow, viewer: Viewer, match_id: str, note: str | None, now: datetime, actor=None) -> Match:
    """The jobhunter introduced the candidate to the employer. The note stays in matching.
    ``actor`` (who calls, with its professional) is who the audit log names; else the viewer."""
    match = match_moving_to(uow, viewer, match_id, domain.INTRODUCED)
    match.status, match.introduced_at = domain.INTRODUCED, now
    if note or match.note:
        chain.record(uow, actor or viewer, now, purpose=chain.MEDIATION, action=chain.CHANGE, operation="introduce",
                     candidate_id=match.candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    match.note, match.note_by = note, viewer.organisation if note else None
    uow.emit(MATCH_INTRODUCED, match.id, {
        "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
    })
    return match


def reject(uow, viewer: Viewer, match_id: str, reason: str, note: str | None, now: datetime, actor=None) -> Match:
    """The employer, the candidate or the professional ends the match; the reason is a code."""
    match = match_moving_to(uow, viewer, match_id, domain.REJECTED)
    match.status, match.rejected_reason, match.decided_at = domain.REJECTED, reason, now
    if note:
        match.note, match.note_by = note, viewer.organisation
        chain.record(uow, actor or viewer, now, purpose=chain.MEDIATION, action=chain.CHANGE, operation="reject",
                     candidate_id=match.candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    uow.emit(MATCH_REJECTED, match.id, {
        "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
        "reason": match.rejected_reason,
    })
    return match


# --- placements ---------------------------------------------------------------------------

def placement_request(row: Placement) -> dict:
    return {"candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id, "start_date": row.start_date,
            "hours_per_week": row.hours_per_week, "match_id": row.match_id}


def request_id_taken(request_id: str, differences=()) -> Conflict:
    other = f" (its {', '.join(differences)} differed)" if differences else ""
    return Conflict(f"request_id {request_id!r} was already used by your organisation for another placement"
                    f"{other}; a retry sends the same placement, a new request a new request_id")


def placement_requested(uow, organisation: str, data: dict) -> Placement | None:
    """The placement this organisation's request_id made before, if the request is the same."""
    row = uow.session.scalar(select(Placement).where(
        Placement.recorded_by == organisation, Placement.request_id == data["request_id"]))
    if row is None:
        return None
    differences = domain.request_differences(placement_request(row), {k: data[k] for k in PLACEMENT_REQUEST_FIELDS})
    if differences:
        raise request_id_taken(data["request_id"], differences)
    return row


def record_placement(uow, index, viewer: Viewer, data: dict, now: datetime) -> Placement:
    """A candidate starts work, from a match or directly; the credit goes to every steward
    organisation of the vacancy and to whoever proposed or recorded it. A request_id sent
    again by the same organisation gets the placement it made, and nothing new is recorded."""
    organisation = viewer.organisation
    if data["request_id"] is not None and (made := placement_requested(uow, organisation, data)) is not None:
        return made
    session = uow.session
    candidate = uow.get(IndexedCandidate, data["candidate_id"], "candidate in the matching index:", for_update=True)
    if data["request_id"] is not None and (made := placement_requested(uow, organisation, data)) is not None:
        return made  # the same request, committed while we waited for the candidate's lock
    vacancy = visible_vacancy(uow, viewer, data["vacancy_id"])
    match = None
    if data["match_id"] is not None:
        match = match_moving_to(uow, viewer, data["match_id"], domain.PLACED)
        if (match.candidate_id, match.vacancy_id) != (candidate.candidate_id, vacancy.vacancy_id):
            raise ValidationError.from_fields("placement", {"match_id": ["is a match of another candidate "
                                                                         "or vacancy"]})
    active = session.scalars(select(Placement).where(
        Placement.candidate_id == candidate.candidate_id, Placement.status == domain.ACTIVE)).all()
    if any(p.vacancy_id == vacancy.vacancy_id for p in active):
        raise Conflict("this candidate already has an active placement on this vacancy")
    try:
        domain.check_hours_fit([p.hours_per_week for p in active], data["hours_per_week"], candidate.hours_per_week)
    except domain.RuleBroken as exc:
        raise Conflict(str(exc)) from None
    row = Placement(
        id=str(uuid.uuid4()), candidate_id=candidate.candidate_id, vacancy_id=vacancy.vacancy_id,
        employer_id=vacancy.employer_id, start_date=data["start_date"], hours_per_week=data["hours_per_week"],
        status=domain.ACTIVE, recorded_at=now, match_id=match.id if match else None,
        credited_organisations=domain.credited_organisations(
            vacancy.steward_organisations or [], match.proposed_by if match else None, organisation),
        recorded_by=organisation, request_id=data["request_id"],
    )
    session.add(row)
    if match is not None:
        match.status, match.placement_id, match.decided_at = domain.PLACED, row.id, now
    candidate.in_pool = False
    if data["request_id"] is None:
        session.flush()
    else:
        try:
            with session.begin_nested():  # the same request_id at this moment, for another candidate
                session.flush()
        except IntegrityError:
            raise request_id_taken(data["request_id"]) from None
    profile = candidate.profile or {}
    uow.emit(PLACEMENT_RECORDED, row.id, {
        "placement_id": row.id, "candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id,
        "employer_id": row.employer_id, "start_date": row.start_date.isoformat(),
        "hours_per_week": row.hours_per_week, "region": candidate.region,
        "target_groups": candidate.target_groups, "cohort": candidate.cohort,
        "match_id": row.match_id, "credited_organisations": row.credited_organisations,
        "conditions": profile.get("conditions", []), "dutch_level": profile.get("dutch_level"),
    })
    index.changed(POOL, [candidate.candidate_id])
    return row


def end_placement(uow, index, viewer: Viewer, placement_id: str, end_date: date, reason: str) -> Placement:
    """A partner ends a placement: the candidate is back in the pool (unless placed elsewhere)."""
    row = visible(uow, viewer, uow.get(Placement, placement_id, "placement", for_update=True))
    if row.status != domain.ACTIVE:
        raise Conflict(f"placement {row.id} has already ended")
    _end(uow, index, row, end_date, reason)
    return row


def placement_ended_by_jobcoach(uow, index, placement_id: str, end_date: date, reason: str) -> None:
    """The jobcoach found the placement ended (an aftercare outcome): end it here, where
    placements live; one that ended already stays as it is."""
    row = uow.session.get(Placement, placement_id, with_for_update=True)
    if row is None or row.status != domain.ACTIVE:
        return  # ended already (by the employer, or an earlier outcome)
    _end(uow, index, row, max(end_date, row.start_date), reason)


def _end(uow, index, row: Placement, end_date: date, reason: str) -> None:
    if end_date < row.start_date:
        raise ValidationError.from_fields("placement end", {"end_date": ["is before the start date"]})
    row.status, row.end_date, row.end_reason = domain.ENDED, end_date, reason
    session = uow.session
    session.flush()
    still_placed = session.scalar(select(func.count()).select_from(Placement).where(
        Placement.candidate_id == row.candidate_id, Placement.status == domain.ACTIVE))
    candidate = session.get(IndexedCandidate, row.candidate_id)
    if candidate is not None and not still_placed:
        candidate.in_pool = True
        index.changed(POOL, [row.candidate_id])
    uow.emit(PLACEMENT_ENDED, row.id, {
        "placement_id": row.id, "candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id,
        "end_date": row.end_date.isoformat(), "reason": row.end_reason,
    })


# --- the index's rows, fed by events --------------------------------------------------------

def index_candidates(uow, index, events) -> None:
    """Upsert a batch of profiles: two queries to find what exists, one COPY for the new
    ones; a late profile of an erased candidate never brings the person back."""
    session = uow.session
    latest = {e.data["candidate_id"]: e for e in events}  # a repeated id: the last profile wins
    with session.no_autoflush:
        erased = set(session.scalars(
            select(ErasedCandidate.candidate_id).where(ErasedCandidate.candidate_id.in_(latest))))
        rows = {r.candidate_id: r for r in session.scalars(
            select(IndexedCandidate).where(IndexedCandidate.candidate_id.in_(latest)))}
    new, indexed = [], []
    for candidate_id, event in latest.items():
        if candidate_id in erased:
            continue
        values = {field: event.data[field] for field in CANDIDATE_FIELDS}
        values["profile"] = event.wire_data
        row = rows.get(candidate_id)
        if row is None:
            new.append({"candidate_id": candidate_id, "in_pool": True, **values})
        else:
            for field, value in values.items():
                setattr(row, field, value)
        indexed.append(candidate_id)
    insert_rows(session, IndexedCandidate.__table__, new)
    index.changed(CANDIDATE, indexed)


def index_vacancy(uow, index, event) -> None:
    data = event.data
    row = uow.session.get(IndexedVacancy, data["vacancy_id"])
    if row is None:
        row = IndexedVacancy(vacancy_id=data["vacancy_id"])
        uow.session.add(row)
    for field in VACANCY_FIELDS:
        setattr(row, field, data[field])
    row.steward_organisations = sorted(set(data["steward_organisations"]))
    row.status = data["status"]
    row.profile = event.wire_data
    index.changed(VACANCY, [row.vacancy_id])


def vacancy_status(uow, index, vacancy_id: str, status: str) -> None:
    row = uow.session.get(IndexedVacancy, vacancy_id)
    if row is None:
        return  # never indexed (opened before matching listened): nothing to change
    row.status = status
    index.changed(VACANCY, [vacancy_id])


def erase_candidate(uow, index, candidate_id: str, now: datetime) -> None:
    """AVG erasure: the profile leaves the index; matches and placements keep only ids and
    codes, for the counts (a professional's note may name the person, so it goes)."""
    session = uow.session
    row = session.get(IndexedCandidate, candidate_id)
    if row is not None:
        session.delete(row)
    noted = session.execute(update(Match).where(Match.candidate_id == candidate_id, Match.note.is_not(None))
                            .values(note=None, note_by=None)).rowcount
    if noted:
        chain.record(uow, None, now, purpose=chain.ERASURE, action=chain.REMOVE, operation="candidate.erased",
                     candidate_id=candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    uow.forget_replies_mentioning(candidate_id)  # replies kept for redelivery once echoed notes
    if session.get(ErasedCandidate, candidate_id) is None:
        session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=now))
    index.changed(CANDIDATE, [candidate_id])


def consented(uow, candidate_id: str) -> bool:
    """Whether the candidate consented to matching: given unless withdrawn (scoring.rankable)."""
    return uow.session.scalar(select(MatchingConsent.given).where(
        MatchingConsent.candidate_id == candidate_id)) is not False


def consent_changed(uow, index, candidate_id: str, given: bool, at: datetime) -> None:
    """candidate.consent_changed (purpose matching): kept, and through the change log every
    replica's index drops the candidate from rankings or takes them back (scoring.rankable).
    Kept for one not indexed yet too (the events travel on different queues); a change older
    than the one known (a late redelivery) is left."""
    row = uow.session.get(MatchingConsent, candidate_id, with_for_update=True)
    if row is None:
        uow.session.add(MatchingConsent(candidate_id=candidate_id, given=given, changed_at=at))
    elif _aware(row.changed_at) > at:
        return
    else:
        row.given, row.changed_at = given, at
    index.changed(POOL, [candidate_id])


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)  # SQLite gives UTC without its zone


def learn_modules(uow, index, trajectory_id: str, modules: list[dict], now: datetime) -> None:
    """A trajectory's certificate modules (a module that adds a skill, such as VCA) close
    that skill's gap from now on: a must-have it teaches no longer excludes a candidate,
    and results name the module. Kept, so a restart knows them too."""
    session, learned = uow.session, []
    for module in modules:
        skill = module.get("skill")
        if skill and session.get(LearnedModule, (module["name"], skill)) is None:
            session.add(LearnedModule(module=module["name"], skill=skill, trajectory_id=trajectory_id,
                                      learned_at=now))
            learned.append((module["name"], skill))
    index.changed(MODULE, [name for name, _ in learned])


# --- accountability: reads of notes, inzage, retention -------------------------------------------

def read_match(uow, viewer: Viewer, match_id: str, now: datetime, actor=None) -> Match:
    """A match the viewer may see; reading its note (only its writer's organisation does) is accounted for."""
    match = visible(uow, viewer, uow.get(Match, match_id, "match"))
    if match.note is not None and visibility.may_read_note(viewer, match.note_by):
        chain.record(uow, actor or viewer, now, purpose=chain.MEDIATION, action=chain.READ, operation="get_match",
                     candidate_id=match.candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    return match


MATCH_COLUMNS = ("id", "vacancy_id", "status", "score", "proposed_by", "proposed_at", "introduced_at", "note",
                 "note_by", "rejected_reason", "decided_at", "placement_id")
PLACEMENT_COLUMNS = ("id", "vacancy_id", "employer_id", "start_date", "hours_per_week", "status", "recorded_at",
                     "match_id", "credited_organisations", "end_date", "end_reason", "recorded_by")


def inzage(uow, actor, candidate_id: str, now: datetime) -> dict:
    """AVG inzage: what matching stores on the person (its anonymous profile, matches with their
    notes, placements). The caller's custody was checked with candidates (service.inzage)."""
    session = uow.session
    out: dict[str, list] = {}
    indexed = session.get(IndexedCandidate, candidate_id)
    if indexed is not None:
        out["matching_profile"] = [{"candidate_id": indexed.candidate_id, "in_pool": indexed.in_pool,
                                    "profile": indexed.profile}]
    matches = session.scalars(select(Match).where(Match.candidate_id == candidate_id)
                              .order_by(Match.proposed_at, Match.id)).all()
    out["matches"] = [chain.row_dict(m, MATCH_COLUMNS) for m in matches]
    out["placements"] = [chain.row_dict(p, PLACEMENT_COLUMNS) for p in session.scalars(
        select(Placement).where(Placement.candidate_id == candidate_id).order_by(Placement.recorded_at))]
    erased = session.get(ErasedCandidate, candidate_id)
    if erased is not None:
        out["erased"] = [{"candidate_id": candidate_id, "erased_at": chain.json_value(erased.erased_at)}]
    out["audit_log"] = chain.entries_for(session, candidate_id, limit=10_000, after=None)["items"]
    if any(m.note is not None for m in matches):
        chain.record(uow, actor, now, purpose=chain.INZAGE, action=chain.READ, operation="inzage",
                     candidate_id=candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    return chain.inzage_reply("matching", out)


def remove_expired(uow, clock, days: int, batch: int = chain.RETENTION_BATCH) -> int:
    """Retention: a match's note goes ``days`` after the match's last activity (proposed,
    introduced or decided); the match stays for the counts. SKIP LOCKED: replicas take other rows."""
    cutoff = chain.retention_cutoff(clock, days)
    last = func.coalesce(Match.decided_at, Match.introduced_at, Match.proposed_at)
    expired = uow.session.execute(
        select(Match.id, Match.candidate_id).where(Match.note.is_not(None), last < cutoff)
        .order_by(Match.id).limit(batch).with_for_update(skip_locked=True)).all()
    if not expired:
        return 0
    uow.session.execute(update(Match).where(Match.id.in_([e.id for e in expired])).values(note=None, note_by=None))
    now = clock.now()
    for e in expired:
        chain.record(uow, None, now, purpose=chain.RETENTION, action=chain.REMOVE, operation="retention",
                     candidate_id=e.candidate_id, kind=MATCH_NOTE, fields=NOTE_FIELDS)
    return len(expired)
