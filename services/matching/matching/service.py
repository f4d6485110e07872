"""Matching: an anonymous index fed by events; ranked, explained matches both ways;
proposals, introductions and placements."""

from __future__ import annotations

from sqlalchemy import select

from matching import handlers
from matching.fairness_metrics import FairnessMetrics
from matching.live_index import LiveIndex
from matching.models import Match, Placement, metadata
from matching.schemas import CandidateQuery, EndPlacement, Introduce, Propose, RecordPlacement, Reject, VacancyQuery
from werkbrug_shared import audit, visibility
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.audit import Retention
from werkbrug_shared.clock import Today
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import NotFound, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.events.types import (
    AFTERCARE_TASK_COMPLETED,
    CANDIDATE_CONSENT_CHANGED,
    CANDIDATE_ERASED,
    CANDIDATE_PROFILE_UPDATED,
    CANDIDATE_REGISTERED,
    MATCHING_FAIRNESS_COUNTED,
    TRAJECTORY_DEFINED,
    VACANCY_CLOSED,
    VACANCY_FILLED,
    VACANCY_OPENED,
    VACANCY_UPDATED,
)
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.pagination import check_limit
from werkbrug_shared.roles import COORDINATOR, JOBCOACH, JOBHUNTER, KLANTMANAGER, OPERATOR
from werkbrug_shared.timers import configured_timer
from werkbrug_shared.validation import load, require_id
from werkbrug_shared.visibility import Viewer


def placement_dict(p: Placement) -> dict:
    return {
        "id": p.id, "candidate_id": p.candidate_id, "vacancy_id": p.vacancy_id, "employer_id": p.employer_id,
        "start_date": p.start_date.isoformat(), "hours_per_week": p.hours_per_week, "status": p.status,
        "match_id": p.match_id, "credited_organisations": p.credited_organisations or [],
        "end_date": p.end_date.isoformat() if p.end_date else None, "end_reason": p.end_reason,
        "request_id": p.request_id,
    }


def match_dict(m: Match, reader: Viewer | None = None) -> dict:
    """``note`` only for ``reader`` of the organisation that wrote it (it may name the person);
    None in write replies, which are kept for redelivery."""
    note = m.note if reader is not None and visibility.may_read_note(reader, m.note_by) else None
    return {
        "id": m.id, "candidate_id": m.candidate_id, "vacancy_id": m.vacancy_id, "status": m.status,
        "score": m.score, "breakdown": m.breakdown, "proposed_by": m.proposed_by,
        "proposed_at": m.proposed_at.isoformat(), "note": note, "rejected_reason": m.rejected_reason,
        "placement_id": m.placement_id,
    }


# the ranking queries' schemas, made once: a marshmallow schema costs more to make than to load with
CANDIDATE_QUERY, VACANCY_QUERY = CandidateQuery(), VacancyQuery()


def _ranking(ranking, id_key: str) -> dict:
    """The RPC's answer: results keep the spine's ``candidate_id`` / ``vacancy_id`` beside ``id``."""
    out = ranking.to_dict()
    for item in (*out["results"], *out["near_misses"]):
        item[id_key] = item["id"]
    return out


class MatchingService:
    name = "matching"

    db = Database(metadata)
    index = LiveIndex()
    caller = CurrentActor()
    clock = Today()
    metrics = EntrypointMetrics()
    fairness_metrics = FairnessMetrics()
    retention = Retention()
    candidates = RpcProxy("candidates")  # whose candidate it is: asked with the caller's credential

    # --- ranking ---------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER,))
    def candidates_for_vacancy(self, vacancy_id, limit=10, filters=None):
        """The best candidates in the pool for a vacancy, each with a score breakdown,
        skill gaps and the modules that close them; near-misses say why not."""
        query = load(CANDIDATE_QUERY, {"vacancy_id": vacancy_id, "limit": limit, "filters": filters or {}},
                     "query")
        try:
            ranking = self.index.candidates_for_vacancy(query["vacancy_id"], query["limit"], query["filters"],
                                                        viewer=self.viewer)
        except KeyError:  # also a vacancy the caller may not see: its existence must not leak
            raise NotFound(f"no vacancy in the matching index: {query['vacancy_id']}") from None
        self.fairness_metrics.served(ranking.fairness)
        return _ranking(ranking, "candidate_id")

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
    def vacancies_for_candidate(self, candidate_id, limit=10, filters=None):
        """Open vacancies with a free opening, best first for this candidate, explained; only
        those the caller may see (werkbrug_shared.visibility)."""
        query = load(VACANCY_QUERY, {"candidate_id": candidate_id, "limit": limit, "filters": filters or {}},
                     "query")
        try:
            ranking = self.index.vacancies_for_candidate(query["candidate_id"], query["limit"], query["filters"],
                                                         today=self.clock.today(), viewer=self.viewer)
        except KeyError:
            raise NotFound(f"no candidate in the matching index: {query['candidate_id']}") from None
        return _ranking(ranking, "vacancy_id")

    @rpc(roles=(KLANTMANAGER, JOBHUNTER))
    def suggest_occupations(self, candidate_id, limit=10):
        """ESCO occupations this candidate's skills carry over to, for looking broader than the last job."""
        require_id(candidate_id, "candidate_id")
        check_limit(limit, maximum=50)
        try:
            return self.index.suggest_occupations(candidate_id, limit)
        except KeyError:
            raise NotFound(f"no candidate in the matching index: {candidate_id}") from None

    @rpc(public=True)  # shares per target group, no one in them: the board shows them
    def fairness(self):
        """Per target group: share of the top 10 served against share of the eligible pool,
        over every ranking the service served (every replica's, see ``fairness_metrics``)."""
        return self.fairness_metrics.report(self.db.session)

    @configured_timer("MATCHING_FAIRNESS_REPORT_SECONDS", 60)
    def report_fairness(self):
        """Hand what was served since the last report to reporting, as counts only."""
        counted, since = self.fairness_metrics.unreported_counts()
        if counted.rankings <= 0:
            return
        self.db.emit(MATCHING_FAIRNESS_COUNTED, self.fairness_metrics.instance, {
            "instance": self.fairness_metrics.instance, "period_start": since.isoformat(),
            "period_end": utcnow().isoformat(), "rankings": counted.rankings, "top_total": counted.top_total,
            "eligible_total": counted.pool_total,
            "groups": [{"target_group": g, "top": counted.in_top[g], "eligible": counted.in_pool[g]}
                       for g in sorted(set(counted.in_top) | set(counted.in_pool))],
        })
        metrics = self.fairness_metrics
        metrics.store(self.db.session, counted)
        self.db.on_commit(lambda: metrics.reported(counted))

    @rpc(roles=(OPERATOR,))
    def indexed(self, candidate_ids):
        """Which of these candidates the index holds, and whether each is in the pool."""
        if not isinstance(candidate_ids, list) or len(candidate_ids) > 1000:
            raise ValidationError.from_fields("query", {"candidate_ids": ["expected a list of at most 1000 ids"]})
        found = {}
        for candidate_id in candidate_ids:
            in_pool = self.index.in_pool(candidate_id) if isinstance(candidate_id, str) else None
            if in_pool is not None:
                found[candidate_id] = {"in_pool": in_pool}
        return found

    @rpc(roles=(OPERATOR,))
    def index_size(self):
        """How many candidates and vacancies the index holds (for readiness checks)."""
        return self.index.counts()

    # --- proposals -------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER,))
    def propose(self, candidate_id, vacancy_id):
        """A professional proposes a candidate for a vacancy; the match keeps the score it had."""
        data = load(Propose(), {"candidate_id": candidate_id, "vacancy_id": vacancy_id}, "proposal")
        self.caller.require()
        return match_dict(handlers.propose(self.db, self.viewer, data["candidate_id"], data["vacancy_id"], utcnow()))

    @rpc(roles=(JOBHUNTER,))
    def introduce(self, match_id, note=None):
        """The jobhunter introduced the candidate to the employer. The note stays in matching."""
        data = load(Introduce(), {"match_id": match_id, "note": note}, "introduction")
        self.caller.require()
        return match_dict(handlers.introduce(self.db, self.viewer, data["match_id"], data["note"], utcnow(),
                                             self.caller))

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
    def reject(self, match_id, reason, note=None):
        """The employer, the candidate or the professional ends the match; the reason is a code."""
        data = load(Reject(), {"match_id": match_id, "reason": reason, "note": note}, "rejection")
        self.caller.require()
        return match_dict(handlers.reject(self.db, self.viewer, data["match_id"], data["reason"], data["note"],
                                          utcnow(), self.caller))

    @rpc(roles=(JOBHUNTER, KLANTMANAGER))
    def get_match(self, match_id):
        require_id(match_id, "match_id")
        match = handlers.read_match(self.db, self.viewer, match_id, utcnow(), self.caller)
        return match_dict(match, reader=self.viewer)

    # --- placements ------------------------------------------------------------------------

    @rpc(roles=(JOBHUNTER,))
    def record_placement(self, placement):
        """A candidate starts work. From a match (``match_id``) or directly; the credit goes
        to every steward organisation of the vacancy and to whoever proposed or recorded it.

        ``request_id`` (the caller's own key, e.g. a uuid): sent again by the same organisation,
        the call answers the placement it made, unchanged, and records nothing new; with other
        content it is a Conflict. So a call whose reply was lost is safely retried."""
        data = load(RecordPlacement(), placement, "placement")
        if data["request_id"] is not None:
            self.caller.require()
        return placement_dict(handlers.record_placement(self.db, self.index, self.viewer, data, utcnow()))

    @rpc(roles=(JOBHUNTER,))
    def end_placement(self, placement_id, end_date, reason):
        """A placement ended: the candidate is back in the pool (unless still placed elsewhere)."""
        data = load(EndPlacement(), {"placement_id": placement_id, "end_date": end_date, "reason": reason},
                    "placement end")
        return placement_dict(handlers.end_placement(self.db, self.index, self.viewer, data["placement_id"],
                                                     data["end_date"], data["reason"]))

    @event_handler(AFTERCARE_TASK_COMPLETED)
    def on_aftercare_task_completed(self, event):
        """The jobcoach found the placement ended: end it here, where placements live."""
        if event.data["outcome"] == "ended":
            handlers.placement_ended_by_jobcoach(self.db, self.index, event.data["placement_id"],
                                                 event.data["end_date"], event.data["end_reason"])

    @rpc(roles=(JOBHUNTER, KLANTMANAGER, JOBCOACH))
    def placements_of(self, candidate_id):
        """A candidate's placements on vacancies the caller may see, newest first."""
        require_id(candidate_id, "candidate_id")
        rows = self.db.session.scalars(select(Placement).where(Placement.candidate_id == candidate_id)
                                       .order_by(Placement.recorded_at.desc())).all()
        seen = handlers.vacancies_seen(self.db, self.viewer, {p.vacancy_id for p in rows})
        return [placement_dict(p) for p in rows if p.vacancy_id in seen]

    @rpc(roles=(JOBHUNTER, KLANTMANAGER, JOBCOACH, COORDINATOR))
    def get_placement(self, placement_id):
        require_id(placement_id, "placement_id")
        placement = handlers.visible(self.db, self.viewer, self.db.get(Placement, placement_id, "placement"))
        return placement_dict(placement)

    # --- accountability ---------------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def audit_log(self, candidate_id, limit=100, cursor=None):
        """Who read or changed personal data about this candidate here (notes on matches), when,
        why, which fields, never the values: {"items", "next_cursor"}. For the organisation that
        registered the candidate (candidates says), else Forbidden."""
        return audit.page_asking_custody(self.db.session, self.candidates.custodian, candidate_id, limit, cursor)

    @rpc(roles=(KLANTMANAGER,))
    def inzage(self, candidate_id):
        """AVG inzage: what matching stores on the person, for the registering organisation."""
        self.candidates.custodian(require_id(candidate_id, "candidate_id"))
        return handlers.inzage(self.db, self.caller, candidate_id, utcnow())

    @configured_timer("RETENTION_SWEEP_SECONDS", 3600)
    def remove_expired(self):
        """Retention: notes on matches past RETENTION_DAYS go, on every replica (SKIP LOCKED)."""
        handlers.remove_expired(self.db, self.clock, self.retention)

    @property
    def viewer(self) -> Viewer:
        return Viewer.of(self.caller)

    # --- the index, fed by events --------------------------------------------------------------

    @event_handler(CANDIDATE_REGISTERED, batch=True)
    def on_candidate_registered(self, events):
        handlers.index_candidates(self.db, self.index, events)

    @event_handler(CANDIDATE_PROFILE_UPDATED, batch=True)
    def on_candidate_profile_updated(self, events):
        handlers.index_candidates(self.db, self.index, events)

    @event_handler(TRAJECTORY_DEFINED)
    def on_trajectory_defined(self, event):
        handlers.learn_modules(self.db, self.index, event.data["trajectory_id"], event.data["modules"], utcnow())

    @event_handler(VACANCY_OPENED)
    def on_vacancy_opened(self, event):
        handlers.index_vacancy(self.db, self.index, event)

    @event_handler(VACANCY_UPDATED, batch=True)
    def on_vacancy_updated(self, events):
        # every placement updates its vacancy (an opening fewer): a batch holds many updates of the
        # same few vacancies, and a queue's events come in order, so each vacancy's last one is its state
        for event in {e.data["vacancy_id"]: e for e in events}.values():
            handlers.index_vacancy(self.db, self.index, event)

    @event_handler(VACANCY_FILLED)
    def on_vacancy_filled(self, event):
        handlers.vacancy_status(self.db, self.index, event.data["vacancy_id"], "filled")

    @event_handler(VACANCY_CLOSED)
    def on_vacancy_closed(self, event):
        handlers.vacancy_status(self.db, self.index, event.data["vacancy_id"], "closed")

    @event_handler(CANDIDATE_CONSENT_CHANGED)
    def on_candidate_consent_changed(self, event):
        """Consent to matching withdrawn or given: out of (back in) every replica's rankings."""
        if event.data["purpose"] == visibility.MATCHING:
            handlers.consent_changed(self.db, self.index, event.data["candidate_id"], event.data["given"], event.time)

    @event_handler(CANDIDATE_ERASED)
    def on_candidate_erased(self, event):
        handlers.erase_candidate(self.db, self.index, event.data["candidate_id"], utcnow())
