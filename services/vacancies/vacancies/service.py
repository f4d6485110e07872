"""Vacancies: employers and the shared pool of vacancies, looked after by
stewards from any partner organisation."""

from __future__ import annotations

from sqlalchemy import delete, select

from vacancies import domain, pool, queries
from vacancies.models import Employer, ShortlistEntry, Steward, Vacancy, metadata
from vacancies.schemas import (
    AddCandidate,
    AddSteward,
    CloseVacancy,
    ListFilters,
    OpenVacancy,
    RegisterEmployer,
    UpdateVacancy,
)
from werkbrug_shared import clock, visibility
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import (
    CANDIDATE_ERASED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
    VACANCY_CLOSED,
    VACANCY_FILLED,
    VACANCY_UPDATED,
)
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load, require_id
from werkbrug_shared.visibility import Viewer


def shortlist_dict(e: ShortlistEntry, reader: Viewer | None = None) -> dict:
    """``note`` (a steward's words, which may name the person) only for ``reader`` of the
    organisation that wrote it; the other stewards see who is on the list, not what was said."""
    note = e.note if reader is not None and visibility.may_read_note(reader, e.organisation) else None
    return {"vacancy_id": e.vacancy_id, "candidate_id": e.candidate_id, "organisation": e.organisation,
            "professional": e.professional, "note": note, "added_at": e.added_at.isoformat()}


class VacanciesService:
    name = "vacancies"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    caller = CurrentActor()

    # --- employers --------------------------------------------------------------------------

    @rpc
    def register_employer(self, employer):
        data = load(RegisterEmployer(), employer, "employer")
        existing = self.db.session.scalar(select(Employer).where(Employer.kvk_number == data["kvk_number"]))
        if existing is not None:
            raise Conflict(f"employer with this KvK number is already registered as {existing.id}")
        row = pool.register_employer(self.db, data, utcnow())
        self.db.session.flush()
        return pool.employer_dict(row)

    @rpc
    def get_employer(self, employer_id):
        require_id(employer_id, "employer_id")
        return pool.employer_dict(self.db.get(Employer, employer_id, "employer"))

    # --- opening ----------------------------------------------------------------------------

    @rpc
    def open(self, vacancy):
        """Open a vacancy; with a credential the caller becomes its first steward."""
        data = load(OpenVacancy(), vacancy, "vacancy")
        if data.get("source_ref"):
            if self.caller.partner is None:
                raise ValidationError.from_fields("vacancy", {"source_ref": ["needs a partner credential"]})
            made = pool.by_source_refs(self.db, self.caller.organisation, [data["source_ref"]])
            if made:
                return pool.vacancy_dict(self.db.get(Vacancy, made[data["source_ref"]], "vacancy"))
        if self.db.session.get(Employer, data["employer_id"]) is None:
            raise ValidationError.from_fields("vacancy", {"employer_id": [f"no employer {data['employer_id']}"]})
        try:
            row = pool.open_vacancy(self.db, self.caller, data, data["employer_id"], utcnow())
        except domain.Refused as exc:
            raise pool.refused("vacancy", exc) from None
        self.db.session.flush()
        return pool.vacancy_dict(row)

    @rpc
    def open_many(self, vacancies):
        """Open up to 1,000 vacancies in one transaction; one result per row:
        ``{"index", "id"}``, ``{"index", "errors"}`` or ``{"index", "id", "existing": True}``."""
        self.caller.require()
        return pool.open_many(self.db, self.caller, vacancies, utcnow())

    # --- reading ----------------------------------------------------------------------------

    @rpc
    def get(self, vacancy_id):
        return pool.vacancy_dict(self._visible(vacancy_id))

    @rpc
    def list(self, filters=None, limit=50, cursor=None):
        """The vacancies the caller may see, newest first: ``{"items", "next_cursor"}``."""
        found = load(ListFilters(), filters or {}, "filters")
        return self._page(queries.visible_to(self.caller), found, limit, cursor)

    @rpc(public=True)  # what job sites show: public, open vacancies, no steward or note
    def list_published(self, filters=None, limit=50, cursor=None):
        """What may go to a job site: public, open and still valid."""
        found = load(ListFilters(exclude=("status", "visibility")), filters or {}, "filters")
        result = self._page(queries.published(clock.today()), found, limit, cursor)  # the Netherlands' date
        result["items"] = [queries.for_publication(item) for item in result["items"]]
        return result

    @rpc
    def stewards(self, vacancy_id):
        self.caller.require()
        return [pool.steward_dict(s) for s in self._visible(vacancy_id).stewards]

    # --- stewards' work ---------------------------------------------------------------------

    @rpc
    def update(self, vacancy_id, changes):
        row = pool.require_steward(self._row(vacancy_id, for_update=True), self.caller)
        data = load(UpdateVacancy(), changes, "changes")
        if row.status == "closed":
            raise Conflict(f"vacancy {row.id} is closed")
        before = pool.vacancy_dict(row)
        try:
            pool.apply_changes(row, data, utcnow())
        except domain.Refused as exc:
            raise pool.refused("changes", exc) from None
        after = pool.vacancy_dict(row)
        if after != before:
            if row.status == "filled" and before["status"] != "filled":
                self.db.emit(VACANCY_FILLED, row.id, {"vacancy_id": row.id, "openings_filled": row.openings_filled})
            self.db.emit(VACANCY_UPDATED, row.id, pool.vacancy_profile(row))
        return after

    @rpc
    def close(self, vacancy_id, reason=None, note=None):
        """Close for good; ``reason`` is one of domain.CLOSE_REASONS, ``note`` stays here."""
        row = pool.require_steward(self._row(vacancy_id, for_update=True), self.caller)
        given = {k: v for k, v in (("reason", reason), ("note", note)) if v is not None}
        data = load(CloseVacancy(), given, "close")
        if row.status == "closed":
            raise Conflict(f"vacancy {row.id} is already closed")
        now = utcnow()
        row.status, row.closed_reason, row.closed_note, row.closed_at, row.updated_at = (
            "closed", data["reason"], data["note"], now, now)
        self.db.emit(VACANCY_CLOSED, row.id, {"vacancy_id": row.id, "reason": row.closed_reason})
        return pool.vacancy_dict(row)

    @rpc
    def add_steward(self, vacancy_id, steward):
        """Another professional, of any partner organisation, looks after the vacancy too."""
        row = pool.require_steward(self._row(vacancy_id, for_update=True), self.caller)
        data = load(AddSteward(), steward, "steward")
        if not pool.known_organisation(data["organisation"]):
            raise ValidationError.from_fields("steward", {"organisation": ["not a partner organisation"]})
        if row.status == "closed":
            raise Conflict(f"vacancy {row.id} is closed")
        organisations = pool.steward_organisations(row)
        if not row.stewards:
            # the region partner taking charge of an unstewarded vacancy keeps charge of it
            row.stewards.append(Steward(organisation=self.caller.organisation,
                                        professional=self.caller.professional, added_at=utcnow()))
        if (data["organisation"], data["professional"]) not in {(s.organisation, s.professional) for s in row.stewards}:
            row.stewards.append(Steward(added_at=utcnow(), **data))
        if pool.steward_organisations(row) != organisations:
            self.db.emit(VACANCY_UPDATED, row.id, pool.vacancy_profile(row))
        self.db.session.flush()
        return [pool.steward_dict(s) for s in row.stewards]

    @rpc
    def add_candidate(self, vacancy_id, candidate_id, note=None):
        """A steward shortlists a candidate; adding again replaces the note."""
        row = pool.require_steward(self._row(vacancy_id), self.caller)
        given = {"candidate_id": candidate_id, **({"note": note} if note is not None else {})}
        data = load(AddCandidate(), given, "shortlist entry")
        if row.status == "closed":
            raise Conflict(f"vacancy {row.id} is closed")
        entry = self.db.session.get(ShortlistEntry, (row.id, data["candidate_id"]))
        if entry is None:
            entry = ShortlistEntry(vacancy_id=row.id, candidate_id=data["candidate_id"], added_at=utcnow())
            self.db.session.add(entry)
        entry.organisation, entry.professional = self.caller.organisation, self.caller.professional
        entry.note = data["note"]
        self.db.session.flush()
        # no note in the reply: write replies are kept for redelivery, notes may name people
        return {k: v for k, v in shortlist_dict(entry).items() if k != "note"}

    @rpc
    def shortlist(self, vacancy_id):
        """The stewards' shortlist, for the stewards only; each its own organisation's notes."""
        row = pool.require_steward(self._row(vacancy_id), self.caller)
        entries = self.db.session.scalars(
            select(ShortlistEntry).where(ShortlistEntry.vacancy_id == row.id).order_by(ShortlistEntry.added_at))
        reader = Viewer.of(self.caller)
        return [shortlist_dict(e, reader) for e in entries]

    # --- placements move openings -----------------------------------------------------------

    @event_handler(PLACEMENT_RECORDED)
    def on_placement_recorded(self, event):
        row = self.db.get(Vacancy, event.data["vacancy_id"], "vacancy", for_update=True)
        pool.placement_recorded(self.db, row, event.data["placement_id"], utcnow())

    @event_handler(CANDIDATE_ERASED)
    def on_candidate_erased(self, event):
        """AVG erasure: the person leaves every shortlist, with the stewards' notes about them."""
        self.db.session.execute(
            delete(ShortlistEntry).where(ShortlistEntry.candidate_id == event.data["candidate_id"])
        )
        self.db.forget_replies_mentioning(event.data["candidate_id"])

    @event_handler(PLACEMENT_ENDED)
    def on_placement_ended(self, event):
        row = self.db.get(Vacancy, event.data["vacancy_id"], "vacancy", for_update=True)
        pool.placement_ended(self.db, row, event.data["placement_id"], utcnow())

    # --- helpers ----------------------------------------------------------------------------

    def _row(self, vacancy_id, for_update: bool = False) -> Vacancy:
        require_id(vacancy_id, "vacancy_id")
        return self.db.get(Vacancy, vacancy_id, "vacancy", for_update=for_update)

    def _visible(self, vacancy_id) -> Vacancy:
        return pool.require_visible(self._row(vacancy_id), self.caller)

    def _page(self, where, filters: dict, limit, cursor) -> dict:
        return queries.page(self.db.session, where, filters, limit, cursor)
