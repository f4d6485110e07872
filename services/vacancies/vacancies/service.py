"""Vacancies: employers and the shared pool of vacancies, looked after by
stewards from any partner organisation."""

from __future__ import annotations

from vacancies import handlers, queries
from vacancies.models import Employer, ShortlistEntry, Vacancy, metadata
from vacancies.schemas import (
    AddCandidate,
    AddSteward,
    CloseVacancy,
    ListFilters,
    OpenVacancy,
    RegisterEmployer,
    UpdateVacancy,
)
from werkbrug_shared import audit, clock, visibility
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.audit import Retention
from werkbrug_shared.clock import Today
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import (
    CANDIDATE_ERASED,
    PLACEMENT_ENDED,
    PLACEMENT_RECORDED,
)
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.roles import JOBCOACH, JOBHUNTER, KLANTMANAGER
from werkbrug_shared.timers import configured_timer
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
    today = Today()  # the clock retention counts with
    retention = Retention()
    candidates = RpcProxy("candidates")  # whose candidate it is: asked with the caller's credential

    # --- employers --------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER,))
    def register_employer(self, employer):
        data = load(RegisterEmployer(), employer, "employer")
        return handlers.employer_dict(handlers.register_employer(self.db, data, utcnow()))

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
    def get_employer(self, employer_id):
        require_id(employer_id, "employer_id")
        return handlers.employer_dict(self.db.get(Employer, employer_id, "employer"))

    # --- opening ----------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER,))
    def open(self, vacancy):
        """Open a vacancy; with a credential the caller becomes its first steward."""
        data = load(OpenVacancy(), vacancy, "vacancy")
        return handlers.vacancy_dict(handlers.open_vacancy(self.db, self.caller, data, utcnow()))

    @rpc(roles=(JOBHUNTER,))
    def open_many(self, vacancies):
        """Open up to 1,000 vacancies in one transaction; one result per row:
        ``{"index", "id"}``, ``{"index", "errors"}`` or ``{"index", "id", "existing": True}``."""
        self.caller.require()
        return handlers.open_many(self.db, self.caller, vacancies, utcnow())

    # --- reading ----------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER, KLANTMANAGER, JOBCOACH))
    def get(self, vacancy_id):
        return handlers.vacancy_dict(self._visible(vacancy_id))

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
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

    @rpc(roles=(JOBHUNTER,))
    def stewards(self, vacancy_id):
        self.caller.require()
        return [handlers.steward_dict(s) for s in self._visible(vacancy_id).stewards]

    # --- stewards' work: authorised before the payload is read, as always ----------------

    @rpc(roles=(JOBHUNTER,))
    def update(self, vacancy_id, changes):
        row = self._stewarded(vacancy_id, for_update=True)
        data = load(UpdateVacancy(), changes, "changes")
        return handlers.vacancy_dict(handlers.update_vacancy(self.db, row, data, utcnow()))

    @rpc(roles=(JOBHUNTER,))
    def close(self, vacancy_id, reason=None, note=None):
        """Close for good; ``reason`` is one of domain.CLOSE_REASONS, ``note`` stays here."""
        row = self._stewarded(vacancy_id, for_update=True)
        given = {k: v for k, v in (("reason", reason), ("note", note)) if v is not None}
        data = load(CloseVacancy(), given, "close")
        return handlers.vacancy_dict(handlers.close_vacancy(self.db, row, data, utcnow()))

    @rpc(roles=(JOBHUNTER,))
    def add_steward(self, vacancy_id, steward):
        """Another professional, of any partner organisation, looks after the vacancy too."""
        row = self._stewarded(vacancy_id, for_update=True)
        data = load(AddSteward(), steward, "steward")
        return [handlers.steward_dict(s) for s in handlers.add_steward(self.db, self.caller, row, data, utcnow())]

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
    def add_candidate(self, vacancy_id, candidate_id, note=None):
        """A steward shortlists a candidate; adding again replaces the note."""
        row = self._stewarded(vacancy_id)
        given = {"candidate_id": candidate_id, **({"note": note} if note is not None else {})}
        data = load(AddCandidate(), given, "shortlist entry")
        entry = handlers.add_candidate(self.db, self.caller, row, data, utcnow())
        # no note in the reply: write replies are kept for redelivery, notes may name people
        return {k: v for k, v in shortlist_dict(entry).items() if k != "note"}

    @rpc(roles=(JOBHUNTER,))
    def shortlist(self, vacancy_id):
        """The stewards' shortlist, for the stewards only; each its own organisation's notes."""
        row = self._stewarded(vacancy_id)
        reader = Viewer.of(self.caller)
        return [shortlist_dict(e, reader) for e in handlers.shortlist(self.db, row, reader, utcnow(), self.caller)]

    # --- accountability --------------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def audit_log(self, candidate_id, limit=100, cursor=None):
        """Who read or changed personal data about this candidate here (shortlists and notes),
        when, why, which fields, never the values: {"items", "next_cursor"}. For the organisation
        that registered the candidate (candidates says), else Forbidden."""
        return audit.page_asking_custody(self.db.session, self.candidates.custodian, candidate_id, limit, cursor)

    @rpc(roles=(KLANTMANAGER,))
    def inzage(self, candidate_id):
        """AVG inzage: the shortlists the person is on, notes included, for the registering organisation."""
        self.candidates.custodian(require_id(candidate_id, "candidate_id"))
        return handlers.inzage(self.db, self.caller, candidate_id, utcnow())

    @configured_timer("RETENTION_SWEEP_SECONDS", 3600)
    def remove_expired(self):
        """Retention: shortlist entries past RETENTION_DAYS go, on every replica (SKIP LOCKED)."""
        handlers.remove_expired(self.db, self.today, self.retention)

    # --- placements move openings -----------------------------------------------------------

    @event_handler(PLACEMENT_RECORDED)
    def on_placement_recorded(self, event):
        handlers.placement_recorded(self.db, event.data["vacancy_id"], event.data["placement_id"], utcnow())

    @event_handler(CANDIDATE_ERASED)
    def on_candidate_erased(self, event):
        """AVG erasure: the person leaves every shortlist, with the stewards' notes about them."""
        handlers.erase_candidate(self.db, event.data["candidate_id"], utcnow())

    @event_handler(PLACEMENT_ENDED)
    def on_placement_ended(self, event):
        handlers.placement_ended(self.db, event.data["vacancy_id"], event.data["placement_id"], utcnow())

    # --- helpers ----------------------------------------------------------------------------

    def _row(self, vacancy_id, for_update: bool = False) -> Vacancy:
        require_id(vacancy_id, "vacancy_id")
        return self.db.get(Vacancy, vacancy_id, "vacancy", for_update=for_update)

    def _visible(self, vacancy_id) -> Vacancy:
        return handlers.require_visible(self._row(vacancy_id), self.caller)

    def _stewarded(self, vacancy_id, for_update: bool = False) -> Vacancy:
        return handlers.require_steward(self._row(vacancy_id, for_update=for_update), self.caller)

    def _page(self, where, filters: dict, limit, cursor) -> dict:
        return queries.page(self.db.session, where, filters, limit, cursor)
