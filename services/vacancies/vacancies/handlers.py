"""Vacancies' operations over a unit of work: what the entrypoints in :mod:`vacancies.service`
call, one each, once they have parsed the request and know who calls.

Every write takes the unit of work (its session, and ``emit`` for the events that go with a
change, in the same transaction), the moment it happens (``now``) and, where it acts for a
partner, the calling actor, or a vacancy already found to be theirs (:func:`require_steward`).
It returns the rows it changed; the replies' shape is :func:`vacancy_dict` and the service's.
The rules themselves are :mod:`vacancies.domain`'s; the reads of many rows :mod:`vacancies.queries`'."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import SimpleNamespace

import yaml
from marshmallow import ValidationError as SchemaError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from vacancies import domain
from vacancies.models import Employer, PlacementSeen, ShortlistEntry, Steward, Vacancy, VacancySkill
from vacancies.schemas import BulkVacancy
from werkbrug_shared import actor as partners
from werkbrug_shared import audit as chain
from werkbrug_shared import visibility
from werkbrug_shared.actor import Actor
from werkbrug_shared.db import UnitOfWork
from werkbrug_shared.errors import Conflict, Forbidden, NotFound, ValidationError
from werkbrug_shared.events.types import (
    EMPLOYER_REGISTERED,
    VACANCY_CLOSED,
    VACANCY_FILLED,
    VACANCY_OPENED,
    VACANCY_UPDATED,
)
from werkbrug_shared.visibility import Viewer

MAX_ROWS = 1000
# fields of a vacancy a change may set as they come
PLAIN_FIELDS = (
    "title", "occupation", "region", "hours_per_week", "conditions_offered", "visibility",
    "is_leerwerkbaan", "banenafspraak_suitable", "valid_through", "work_thinking_level",
)


def refused(what: str, exc: domain.Refused) -> ValidationError:
    return ValidationError.from_fields(what, {exc.field: [exc.message]})


# --- what callers and events see ----------------------------------------------------------


def employer_dict(e: Employer) -> dict:
    return {"id": e.id, "name": e.name, "kvk_number": e.kvk_number, "region": e.region, "sbi": e.sbi,
            "postcode": e.postcode}


def steward_organisations(v: Vacancy) -> list[str]:
    return sorted({s.organisation for s in v.stewards})


def _weighted(v: Vacancy, must: bool) -> list[dict]:
    return [{"skill": s.skill, "weight": s.weight}
            for s in sorted(v.skills, key=lambda s: s.skill) if bool(s.must_have) is must]


def vacancy_dict(v: Vacancy) -> dict:
    must = _weighted(v, True)
    return {
        "id": v.id, "employer_id": v.employer_id, "title": v.title, "occupation": v.occupation,
        "region": v.region, "postcode": v.postcode, "skills_required": [s["skill"] for s in must],
        "must_have": must, "nice_to_have": _weighted(v, False), "hours_per_week": v.hours_per_week,
        "openings": v.openings, "openings_filled": v.openings_filled,
        "openings_free": max(v.openings - v.openings_filled, 0), "status": v.status, "visibility": v.visibility,
        "conditions_offered": v.conditions_offered, "is_leerwerkbaan": v.is_leerwerkbaan,
        "banenafspraak_suitable": v.banenafspraak_suitable,
        "valid_through": v.valid_through.isoformat() if v.valid_through else None,
        "work_thinking_level": v.work_thinking_level, "steward_organisations": steward_organisations(v),
        "source_ref": v.source_ref, "closed_reason": v.closed_reason,
        "opened_at": v.opened_at.isoformat(),
    }


def vacancy_profile(v: Vacancy) -> dict:
    """The catalogue's VacancyProfile: what matching and reporting may know."""
    must = _weighted(v, True)
    return {
        "vacancy_id": v.id, "employer_id": v.employer_id, "region": v.region, "pc4": v.pc4,
        "skills_required": [s["skill"] for s in must], "hours_per_week": v.hours_per_week,
        "openings": max(v.openings - v.openings_filled, 0), "occupation": v.occupation,
        "must_have": must, "nice_to_have": _weighted(v, False), "conditions_offered": v.conditions_offered,
        "work_thinking_level": v.work_thinking_level, "visibility": v.visibility,
        "is_leerwerkbaan": v.is_leerwerkbaan, "banenafspraak_suitable": v.banenafspraak_suitable,
        "valid_through": v.valid_through.isoformat() if v.valid_through else None, "status": v.status,
        "steward_organisations": steward_organisations(v),
    }


def steward_dict(s: Steward) -> dict:
    return {"organisation": s.organisation, "professional": s.professional, "added_at": s.added_at.isoformat()}


# --- who may ------------------------------------------------------------------------------


def visible(v: Vacancy, caller: Actor) -> bool:
    return visibility.may_see_vacancy(Viewer.of(caller), v.visibility, v.region, steward_organisations(v))


def require_visible(v: Vacancy, caller: Actor) -> Vacancy:
    # NotFound, not Forbidden: a hidden vacancy's existence must not leak
    if not visible(v, caller):
        raise NotFound(f"no vacancy {v.id}")
    return v


def require_steward(v: Vacancy, caller: Actor) -> Vacancy:
    caller.require()
    require_visible(v, caller)
    if not domain.may_change(steward_organisations(v), v.region, caller.organisation, caller.region):
        raise Forbidden(f"only the stewards of vacancy {v.id} may change it ({', '.join(steward_organisations(v))})")
    return v


@cache  # the partner registry's file, as werkbrug_shared.actor reads it: the same in every replica
def _organisations(path: str) -> frozenset[str]:
    with open(path, encoding="utf-8") as f:
        return frozenset(p["id"] for p in (yaml.safe_load(f) or {}).get("partners", []))


def known_organisation(organisation: str) -> bool:
    return organisation in _organisations(partners.partners_file())


# --- employers ----------------------------------------------------------------------------


def register_employer(uow: UnitOfWork, data: dict, now: datetime) -> Employer:
    """A new employer; Conflict when its KvK number is registered already."""
    existing = uow.session.scalar(select(Employer).where(Employer.kvk_number == data["kvk_number"]))
    if existing is not None:
        raise Conflict(f"employer with this KvK number is already registered as {existing.id}")
    row = _add_employer(uow, data, now)
    uow.session.flush()
    return row


def _add_employer(uow: UnitOfWork, data: dict, now: datetime) -> Employer:
    # no look-up first: an import relies on the unique KvK number instead (see _employer_of)
    postcode = domain.normalise_postcode(data["postcode"])[0] if data.get("postcode") else None
    row = Employer(id=str(uuid.uuid4()), name=data["name"], kvk_number=data["kvk_number"], region=data["region"],
                   sbi=data.get("sbi"), postcode=postcode, registered_at=now)
    uow.session.add(row)
    # the name is business data, but events carry ids and groupings only
    uow.emit(EMPLOYER_REGISTERED, row.id, {"employer_id": row.id, "region": row.region, "sbi": row.sbi})
    return row


# --- vacancies ----------------------------------------------------------------------------


def _skill_rows(data: dict) -> list[tuple[str, float, bool]]:
    must = data.get("must_have")
    if must is None:
        must = [{"skill": s, "weight": 1.0} for s in data.get("skills_required", [])]
    return domain.requirements(must, data.get("nice_to_have", []))


@dataclass(frozen=True)
class NewVacancy:
    """A vacancy about to be written, as plain column values: the ORM for one,
    multi-row INSERTs for an import."""

    row: dict
    skills: list[dict]
    stewards: list[dict]

    @property
    def id(self) -> str:
        return self.row["id"]

    def view(self) -> SimpleNamespace:
        """Reads like a Vacancy, for vacancy_profile, without an ORM instance."""
        return SimpleNamespace(**self.row, skills=[SimpleNamespace(**s) for s in self.skills],
                               stewards=[SimpleNamespace(**s) for s in self.stewards])


def new_vacancy(caller: Actor, data: dict, employer_id: str, now: datetime) -> NewVacancy:
    """A vacancy from loaded input, with its skills and first steward (the
    caller, if a partner). Raises domain.Refused for input the rules refuse."""
    skills = _skill_rows(data)
    postcode, pc4 = domain.normalise_postcode(data["postcode"])
    vacancy_id = str(uuid.uuid4())
    row = {
        "id": vacancy_id, "employer_id": employer_id, "title": data["title"], "occupation": data["occupation"],
        "region": data["region"], "postcode": postcode, "pc4": pc4, "hours_per_week": data["hours_per_week"],
        "openings": data["openings"], "openings_filled": 0, "status": domain.OPEN, "visibility": data["visibility"],
        "conditions_offered": sorted(set(data["conditions_offered"])), "is_leerwerkbaan": data["is_leerwerkbaan"],
        "banenafspraak_suitable": data["banenafspraak_suitable"], "valid_through": data["valid_through"],
        "work_thinking_level": data["work_thinking_level"],
        "source_organisation": caller.organisation if data.get("source_ref") else None,
        "source_ref": data.get("source_ref"), "opened_at": now, "updated_at": None, "closed_reason": None,
        "closed_note": None, "closed_at": None,
    }
    return NewVacancy(
        row,
        [{"vacancy_id": vacancy_id, "skill": s, "weight": w, "must_have": m} for s, w, m in skills],
        [{"vacancy_id": vacancy_id, "organisation": caller.organisation, "professional": caller.professional,
          "added_at": now}] if caller.organisation else [],
    )


def open_vacancy(uow: UnitOfWork, caller: Actor, data: dict, now: datetime) -> Vacancy:
    """A vacancy from loaded input (OpenVacancy), its first steward the caller if a partner.
    The vacancy the caller's organisation opened before under the same ``source_ref`` if any."""
    ref = data.get("source_ref")
    if ref:
        if caller.partner is None:
            raise ValidationError.from_fields("vacancy", {"source_ref": ["needs a partner credential"]})
        made = by_source_refs(uow, caller.organisation, [ref])
        if made:
            return uow.get(Vacancy, made[ref], "vacancy")
    if uow.session.get(Employer, data["employer_id"]) is None:
        raise ValidationError.from_fields("vacancy", {"employer_id": [f"no employer {data['employer_id']}"]})
    try:
        new = new_vacancy(caller, data, data["employer_id"], now)
    except domain.Refused as exc:
        raise refused("vacancy", exc) from None
    row = Vacancy(**new.row, skills=[VacancySkill(**s) for s in new.skills],
                  stewards=[Steward(**s) for s in new.stewards])
    uow.session.add(row)
    uow.emit(VACANCY_OPENED, row.id, vacancy_profile(row))
    uow.session.flush()
    return row


def by_source_refs(uow: UnitOfWork, organisation: str, refs) -> dict[str, str]:
    """Vacancy ids an organisation's earlier imports made, by source_ref."""
    found: dict[str, str] = {}
    refs = sorted(refs)
    for i in range(0, len(refs), 500):
        found.update(uow.session.execute(
            select(Vacancy.source_ref, Vacancy.id).where(
                Vacancy.source_organisation == organisation, Vacancy.source_ref.in_(refs[i:i + 500]))
        ).tuples().all())
    return found


def open_many(uow: UnitOfWork, caller: Actor, rows, now: datetime) -> list[dict]:
    """Validate every row, then write the good ones: one transaction, one result per row."""
    if not isinstance(rows, list):
        raise ValidationError.from_fields("vacancies", {"vacancies": ["expected a list of vacancies"]})
    if len(rows) > MAX_ROWS:
        raise ValidationError.from_fields("vacancies", {"vacancies": [f"at most {MAX_ROWS} rows per call"]})
    refs = {r["source_ref"] for r in rows if isinstance(r, dict) and isinstance(r.get("source_ref"), str)}
    made = by_source_refs(uow, caller.organisation, refs) if refs else {}

    results: list[dict | None] = [None] * len(rows)
    loaded: dict[int, dict] = {}
    schema = BulkVacancy()
    for index, row in enumerate(rows):
        ref = row.get("source_ref") if isinstance(row, dict) else None
        if isinstance(ref, str) and ref in made:
            results[index] = {"index": index, "id": made[ref], "existing": True}
            continue
        if not isinstance(row, dict):
            results[index] = {"index": index, "errors": {"_schema": ["expected an object"]}}
            continue
        try:
            loaded[index] = schema.load(row)
        except SchemaError as exc:
            results[index] = {"index": index, "errors": exc.messages}

    employers = _employers_for(uow, loaded.values())
    opened: list[NewVacancy] = []
    for index, data in loaded.items():
        ref = data.get("source_ref")
        if ref is not None and ref in made:  # the same source_ref twice in one call
            results[index] = {"index": index, "id": made[ref], "existing": True}
            continue
        try:
            _skill_rows(data)  # refused before a new employer is registered for the row
            employer_id = _employer_of(uow, data, employers, now)
            row = new_vacancy(caller, data, employer_id, now)
        except domain.Refused as exc:
            results[index] = {"index": index, "errors": {exc.field: [exc.message]}}
            continue
        if ref is not None:
            made[ref] = row.id
        opened.append(row)
        results[index] = {"index": index, "id": row.id}
    uow.session.flush()  # new employers first: the vacancies refer to them
    _insert_many(uow, opened)
    return results


def _insert_many(uow: UnitOfWork, rows: list[NewVacancy]) -> None:
    """Many new vacancies as a few multi-row INSERTs rather than an ORM flush
    per object, and their vacancy.opened events as one outbox INSERT."""
    if not rows:
        return
    session = uow.session
    session.execute(Vacancy.__table__.insert(), [v.row for v in rows])
    for table, values in ((VacancySkill.__table__, [s for v in rows for s in v.skills]),
                          (Steward.__table__, [s for v in rows for s in v.stewards])):
        if values:
            session.execute(table.insert(), values)
    uow.emit_many(VACANCY_OPENED, [(v.id, vacancy_profile(v.view())) for v in rows])


def _employers_for(uow: UnitOfWork, rows) -> dict[str, str]:
    """Known employers the rows name: id -> id, and KvK number -> id."""
    rows = list(rows)
    ids = sorted({r["employer_id"] for r in rows if "employer_id" in r})
    kvks = sorted({r["employer_kvk"] for r in rows if "employer_kvk" in r})
    known: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        known.update((e, e) for e in uow.session.scalars(select(Employer.id).where(Employer.id.in_(ids[i:i + 500]))))
    for i in range(0, len(kvks), 500):
        known.update(uow.session.execute(
            select(Employer.kvk_number, Employer.id).where(Employer.kvk_number.in_(kvks[i:i + 500]))).tuples().all())
    return known


def _employer_of(uow: UnitOfWork, data: dict, employers: dict[str, str], now: datetime) -> str:
    """The row's employer id; a new KvK number registers its employer (once per call)."""
    if "employer_id" in data:
        if data["employer_id"] not in employers:
            raise domain.Refused("employer_id", f"no employer {data['employer_id']}")
        return data["employer_id"]
    kvk = data["employer_kvk"]
    if kvk in employers:
        return employers[kvk]
    for field in ("employer_name", "employer_region"):
        if not data.get(field):
            raise domain.Refused(field, f"needed to register the employer with KvK number {kvk}")
    try:
        # a savepoint: another import batch may register the same KvK number at this moment
        with uow.session.begin_nested():
            employer = _add_employer(uow, {
                "name": data["employer_name"], "kvk_number": kvk, "region": data["employer_region"],
                "sbi": data.get("employer_sbi"), "postcode": data.get("employer_postcode"),
            }, now)
            uow.session.flush()
        employers[kvk] = employer.id
    except IntegrityError:
        existing = uow.session.scalar(select(Employer.id).where(Employer.kvk_number == kvk))
        if existing is None:
            raise
        employers[kvk] = existing
    return employers[kvk]


# --- stewards' work: on a vacancy require_steward found to be the caller's ------------------


def _require_not_closed(v: Vacancy, message: str = "is closed") -> None:
    if v.status == domain.CLOSED:
        raise Conflict(f"vacancy {v.id} {message}")


def update_vacancy(uow: UnitOfWork, v: Vacancy, changes: dict, now: datetime) -> Vacancy:
    """Apply loaded changes (UpdateVacancy); vacancy.filled when the last opening went,
    vacancy.updated when anything a reader sees changed."""
    _require_not_closed(v)
    before = vacancy_dict(v)
    try:
        apply_changes(v, changes, now)
    except domain.Refused as exc:
        raise refused("changes", exc) from None
    if vacancy_dict(v) != before:
        if v.status == domain.FILLED and before["status"] != domain.FILLED:
            uow.emit(VACANCY_FILLED, v.id, {"vacancy_id": v.id, "openings_filled": v.openings_filled})
        uow.emit(VACANCY_UPDATED, v.id, vacancy_profile(v))
    return v


def close_vacancy(uow: UnitOfWork, v: Vacancy, data: dict, now: datetime) -> Vacancy:
    """Close for good with a reason code (CloseVacancy); the steward's note stays here."""
    _require_not_closed(v, "is already closed")
    v.status, v.closed_reason, v.closed_note, v.closed_at, v.updated_at = (
        domain.CLOSED, data["reason"], data["note"], now, now)
    uow.emit(VACANCY_CLOSED, v.id, {"vacancy_id": v.id, "reason": v.closed_reason})
    return v


def add_steward(uow: UnitOfWork, caller: Actor, v: Vacancy, data: dict, now: datetime) -> list[Steward]:
    """Another professional, of any partner organisation, looks after the vacancy too (AddSteward)."""
    if not known_organisation(data["organisation"]):
        raise ValidationError.from_fields("steward", {"organisation": ["not a partner organisation"]})
    _require_not_closed(v)
    organisations = steward_organisations(v)
    if not v.stewards:
        # the region partner taking charge of an unstewarded vacancy keeps charge of it
        v.stewards.append(Steward(organisation=caller.organisation, professional=caller.professional, added_at=now))
    if (data["organisation"], data["professional"]) not in {(s.organisation, s.professional) for s in v.stewards}:
        v.stewards.append(Steward(added_at=now, **data))
    if steward_organisations(v) != organisations:
        uow.emit(VACANCY_UPDATED, v.id, vacancy_profile(v))
    uow.session.flush()
    return list(v.stewards)


def add_candidate(uow: UnitOfWork, caller: Actor, v: Vacancy, data: dict, now: datetime) -> ShortlistEntry:
    """The caller shortlists a candidate (AddCandidate); adding again replaces the note."""
    _require_not_closed(v)
    entry = uow.session.get(ShortlistEntry, (v.id, data["candidate_id"]))
    if entry is None:
        entry = ShortlistEntry(vacancy_id=v.id, candidate_id=data["candidate_id"], added_at=now)
        uow.session.add(entry)
    entry.organisation, entry.professional = caller.organisation, caller.professional
    entry.note, entry.changed_at = data["note"], now
    chain.record(uow, caller, now, purpose=chain.MEDIATION, action=chain.CHANGE, operation="add_candidate",
                 candidate_id=entry.candidate_id, kind=SHORTLIST,
                 fields=SHORTLIST_FIELDS + (NOTE_FIELDS if entry.note is not None else ()))
    uow.session.flush()
    return entry


def shortlist(uow: UnitOfWork, v: Vacancy, reader: Viewer | None = None, now: datetime | None = None,
              caller: Actor | None = None) -> list[ShortlistEntry]:
    """The vacancy's shortlist; each person on it shown to ``reader`` is accounted for in the
    audit log (with the note when the reader's organisation wrote it)."""
    entries = list(uow.session.scalars(
        select(ShortlistEntry).where(ShortlistEntry.vacancy_id == v.id).order_by(ShortlistEntry.added_at)))
    if reader is not None and now is not None:
        for e in entries:
            noted = e.note is not None and visibility.may_read_note(reader, e.organisation)
            chain.record(uow, caller or reader, now, purpose=chain.MEDIATION, action=chain.READ,
                         operation="shortlist", candidate_id=e.candidate_id, kind=SHORTLIST,
                         fields=SHORTLIST_FIELDS + (NOTE_FIELDS if noted else ()))
    return entries


# --- accountability: inzage and retention ---------------------------------------------------

SHORTLIST = "shortlist_entry"  # a person put forward for a vacancy, with a steward's note (audit log's kind)
SHORTLIST_FIELDS = ("candidate_id", "organisation", "professional")
NOTE_FIELDS = ("note",)
SHORTLIST_COLUMNS = ("vacancy_id", "organisation", "professional", "note", "added_at", "changed_at")


def inzage(uow: UnitOfWork, caller: Actor, candidate_id: str, now: datetime) -> dict:
    """AVG inzage: the shortlists the person is on, notes included (the caller's custody was
    checked with candidates, see service.inzage)."""
    entries = uow.session.scalars(select(ShortlistEntry).where(ShortlistEntry.candidate_id == candidate_id)
                                  .order_by(ShortlistEntry.added_at, ShortlistEntry.vacancy_id)).all()
    if entries:
        chain.record(uow, caller, now, purpose=chain.INZAGE, action=chain.READ, operation="inzage",
                     candidate_id=candidate_id, kind=SHORTLIST, fields=SHORTLIST_FIELDS + NOTE_FIELDS)
    return chain.inzage_reply("vacancies", {
        "shortlist_entries": [chain.row_dict(e, SHORTLIST_COLUMNS) for e in entries],
        "audit_log": chain.entries_for(uow.session, candidate_id, limit=10_000, after=None)["items"],
    })


def remove_expired(uow: UnitOfWork, clock, days: int, batch: int = chain.RETENTION_BATCH) -> int:
    """Retention: a shortlist entry (and its note) goes ``days`` after its last activity.
    SKIP LOCKED: replicas take other rows, none twice."""
    cutoff = chain.retention_cutoff(clock, days)
    last = func.coalesce(ShortlistEntry.changed_at, ShortlistEntry.added_at)
    expired = uow.session.execute(
        select(ShortlistEntry.vacancy_id, ShortlistEntry.candidate_id).where(last < cutoff)
        .order_by(ShortlistEntry.vacancy_id, ShortlistEntry.candidate_id).limit(batch)
        .with_for_update(skip_locked=True)).all()
    now = clock.now()
    for e in expired:
        uow.session.execute(delete(ShortlistEntry).where(ShortlistEntry.vacancy_id == e.vacancy_id,
                                                         ShortlistEntry.candidate_id == e.candidate_id))
        chain.record(uow, None, now, purpose=chain.RETENTION, action=chain.REMOVE, operation="retention",
                     candidate_id=e.candidate_id, kind=SHORTLIST, fields=SHORTLIST_FIELDS + NOTE_FIELDS)
    return len(expired)


def apply_changes(v: Vacancy, changes: dict, now: datetime) -> None:
    """Set what ``changes`` names; raises domain.Refused for what the rules refuse."""
    for field in PLAIN_FIELDS:
        if field in changes:
            value = changes[field]
            setattr(v, field, sorted(set(value)) if field == "conditions_offered" else value)
    if "postcode" in changes:
        v.postcode, v.pc4 = domain.normalise_postcode(changes["postcode"])
    if {"skills_required", "must_have", "nice_to_have"} & changes.keys():
        current = {"must_have": _weighted(v, True), "nice_to_have": _weighted(v, False)}
        if "skills_required" in changes:
            current["must_have"] = [{"skill": s, "weight": 1.0} for s in changes["skills_required"]]
        current.update({k: changes[k] for k in ("must_have", "nice_to_have") if k in changes})
        _set_skills(v, _skill_rows(current))
    if "openings" in changes:
        domain.check_openings(changes["openings"], v.openings_filled)
        v.openings = changes["openings"]
        v.status = domain.status_for(v.openings, v.openings_filled, v.status)
    v.updated_at = now


def _set_skills(v: Vacancy, wanted: list[tuple[str, float, bool]]) -> None:
    # in place, so a kept skill is an UPDATE rather than a delete and re-insert of its key
    rows = {s.skill: s for s in v.skills}
    keep = {skill for skill, _, _ in wanted}
    for skill, row in rows.items():
        if skill not in keep:
            v.skills.remove(row)
    for skill, weight, must in wanted:
        if skill in rows:
            rows[skill].weight, rows[skill].must_have = weight, must
        else:
            v.skills.append(VacancySkill(skill=skill, weight=weight, must_have=must))


# --- placements move openings, once each -----------------------------------------------------


def placement_recorded(uow: UnitOfWork, vacancy_id: str, placement_id: str, now: datetime) -> Vacancy:
    v = uow.get(Vacancy, vacancy_id, "vacancy", for_update=True)
    if uow.session.get(PlacementSeen, placement_id) is not None:
        return v  # counted already, or it ended before this news arrived
    uow.session.add(PlacementSeen(placement_id=placement_id, vacancy_id=v.id, status=domain.PLACEMENT_ACTIVE,
                                  updated_at=now))
    before = vacancy_profile(v)
    v.openings_filled, v.status = domain.fill_opening(v.openings, v.openings_filled, v.status)
    _announce(uow, v, before, now)
    return v


def placement_ended(uow: UnitOfWork, vacancy_id: str, placement_id: str, now: datetime) -> Vacancy:
    v = uow.get(Vacancy, vacancy_id, "vacancy", for_update=True)
    seen = uow.session.get(PlacementSeen, placement_id)
    if seen is not None and seen.status == domain.PLACEMENT_GONE:
        return v
    if seen is None:
        # Not tracked: counted before placements were tracked (then the count
        # holds more than the tracked ones), or the end overtook its start.
        tracked = uow.session.scalar(select(func.count()).select_from(PlacementSeen).where(
            PlacementSeen.vacancy_id == v.id, PlacementSeen.status == domain.PLACEMENT_ACTIVE))
        uow.session.add(PlacementSeen(placement_id=placement_id, vacancy_id=v.id, status=domain.PLACEMENT_GONE,
                                      updated_at=now))
        if v.openings_filled <= tracked:
            return v
    else:
        seen.status, seen.updated_at = domain.PLACEMENT_GONE, now
    before = vacancy_profile(v)
    v.openings_filled, v.status = domain.free_opening(v.openings, v.openings_filled, v.status)
    _announce(uow, v, before, now)
    return v


def _announce(uow: UnitOfWork, v: Vacancy, before: dict, now: datetime) -> None:
    """After openings moved: vacancy.filled when the last one went, and the new
    profile for matching. A closed vacancy keeps its counts quietly."""
    v.updated_at = now
    if v.status == domain.CLOSED:
        return
    if v.status == domain.FILLED and before["status"] != domain.FILLED:
        uow.emit(VACANCY_FILLED, v.id, {"vacancy_id": v.id, "openings_filled": v.openings_filled})
    after = vacancy_profile(v)
    if after != before:
        uow.emit(VACANCY_UPDATED, v.id, after)


# --- erasure ---------------------------------------------------------------------------------


def erase_candidate(uow: UnitOfWork, candidate_id: str, now: datetime | None = None) -> None:
    """AVG erasure: the person leaves every shortlist, with the stewards' notes about them,
    and every recorded reply that names them."""
    gone = uow.session.execute(delete(ShortlistEntry).where(ShortlistEntry.candidate_id == candidate_id)).rowcount
    if gone and now is not None:
        chain.record(uow, None, now, purpose=chain.ERASURE, action=chain.REMOVE, operation="candidate.erased",
                     candidate_id=candidate_id, kind=SHORTLIST, fields=SHORTLIST_FIELDS + NOTE_FIELDS)
    uow.forget_replies_mentioning(candidate_id)
