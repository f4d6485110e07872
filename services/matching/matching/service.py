"""Matching: an anonymous index fed by events; ranked, explained matches both ways;
proposals, introductions and placements."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from matching import domain, scoring
from matching.changes import CANDIDATE, MODULE, POOL, VACANCY
from matching.fairness_metrics import FairnessMetrics
from matching.live_index import LiveIndex, candidate_profile_of, vacancy_profile_of
from matching.models import (
    ErasedCandidate,
    IndexedCandidate,
    IndexedVacancy,
    LearnedModule,
    Match,
    Placement,
    metadata,
)
from matching.schemas import CandidateQuery, EndPlacement, Introduce, Propose, RecordPlacement, Reject, VacancyQuery
from werkbrug_shared import visibility
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.clock import Today
from werkbrug_shared.db import Database, insert_rows
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, NotFound, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.timers import configured_timer
from werkbrug_shared.validation import load, require_id
from werkbrug_shared.visibility import Viewer

CANDIDATE_FIELDS = ("region", "pc4", "target_groups", "skills", "hours_per_week", "conditions", "cohort")
VACANCY_FIELDS = ("employer_id", "region", "pc4", "skills_required", "hours_per_week", "openings", "visibility")
# what a retried record_placement must repeat to get its placement back (request_id)
PLACEMENT_REQUEST_FIELDS = ("candidate_id", "vacancy_id", "start_date", "hours_per_week", "match_id")


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


def may_see(viewer: Viewer, vacancy: IndexedVacancy) -> bool:
    return visibility.may_see_vacancy(viewer, vacancy.visibility, vacancy.region, vacancy.steward_organisations or ())


def placement_request(row: Placement) -> dict:
    return {"candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id, "start_date": row.start_date,
            "hours_per_week": row.hours_per_week, "match_id": row.match_id}


def request_id_taken(request_id: str, differences=()) -> Conflict:
    other = f" (its {', '.join(differences)} differed)" if differences else ""
    return Conflict(f"request_id {request_id!r} was already used by your organisation for another placement"
                    f"{other}; a retry sends the same placement, a new request a new request_id")


class MatchingService:
    name = "matching"

    db = Database(metadata)
    index = LiveIndex()
    caller = CurrentActor()
    clock = Today()
    metrics = EntrypointMetrics()
    fairness_metrics = FairnessMetrics()

    # --- ranking ---------------------------------------------------------------------------

    @rpc
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

    @rpc
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

    @rpc
    def suggest_occupations(self, candidate_id, limit=10):
        """ESCO occupations this candidate's skills carry over to, for looking broader than the last job."""
        require_id(candidate_id, "candidate_id")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 50:
            raise ValidationError.from_fields("query", {"limit": ["must be between 1 and 50"]})
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
        self.db.emit("nl.werkbrug.matching.fairness_counted.v1", self.fairness_metrics.instance, {
            "instance": self.fairness_metrics.instance, "period_start": since.isoformat(),
            "period_end": utcnow().isoformat(), "rankings": counted.rankings, "top_total": counted.top_total,
            "eligible_total": counted.pool_total,
            "groups": [{"target_group": g, "top": counted.in_top[g], "eligible": counted.in_pool[g]}
                       for g in sorted(set(counted.in_top) | set(counted.in_pool))],
        })
        metrics = self.fairness_metrics
        metrics.store(self.db.session, counted)
        self.db.on_commit(lambda: metrics.reported(counted))

    @rpc
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

    @rpc
    def index_size(self):
        """How many candidates and vacancies the index holds (for readiness checks)."""
        return self.index.counts()

    # --- proposals -------------------------------------------------------------------------

    @rpc
    def propose(self, candidate_id, vacancy_id):
        """A professional proposes a candidate for a vacancy; the match keeps the score it had."""
        data = load(Propose(), {"candidate_id": candidate_id, "vacancy_id": vacancy_id}, "proposal")
        actor = self.caller.require()
        session = self.db.session
        candidate = self.db.get(IndexedCandidate, data["candidate_id"], "candidate in the matching index:")
        vacancy = self._visible_vacancy(data["vacancy_id"])
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
            proposed_by=actor.organisation, proposed_at=utcnow(),
        )
        session.add(match)
        self.db.emit("nl.werkbrug.match.proposed.v1", match.id, {
            "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
            "score": match.score, "proposed_by": match.proposed_by,
        })
        session.flush()
        return match_dict(match)

    @rpc
    def introduce(self, match_id, note=None):
        """The jobhunter introduced the candidate to the employer. The note stays in matching."""
        data = load(Introduce(), {"match_id": match_id, "note": note}, "introduction")
        self.caller.require()
        match = self._match_moving_to(data["match_id"], domain.INTRODUCED)
        match.status, match.introduced_at = domain.INTRODUCED, utcnow()
        match.note, match.note_by = data["note"], self.caller.organisation if data["note"] else None
        self.db.emit("nl.werkbrug.match.introduced.v1", match.id, {
            "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
        })
        return match_dict(match)

    @rpc
    def reject(self, match_id, reason, note=None):
        """The employer, the candidate or the professional ends the match; the reason is a code."""
        data = load(Reject(), {"match_id": match_id, "reason": reason, "note": note}, "rejection")
        self.caller.require()
        match = self._match_moving_to(data["match_id"], domain.REJECTED)
        match.status, match.rejected_reason, match.decided_at = domain.REJECTED, data["reason"], utcnow()
        if data["note"]:
            match.note, match.note_by = data["note"], self.caller.organisation
        self.db.emit("nl.werkbrug.match.rejected.v1", match.id, {
            "match_id": match.id, "candidate_id": match.candidate_id, "vacancy_id": match.vacancy_id,
            "reason": match.rejected_reason,
        })
        return match_dict(match)

    @rpc
    def get_match(self, match_id):
        require_id(match_id, "match_id")
        return match_dict(self._visible(self.db.get(Match, match_id, "match")), reader=self.viewer)

    def _match_moving_to(self, match_id: str, status: str) -> Match:
        match = self._visible(self.db.get(Match, match_id, "match", for_update=True))
        try:
            domain.check_match_transition(match.status, status)
        except domain.RuleBroken as exc:
            raise Conflict(str(exc)) from None
        return match

    # --- placements ------------------------------------------------------------------------

    @rpc
    def record_placement(self, placement):
        """A candidate starts work. From a match (``match_id``) or directly; the credit goes
        to every steward organisation of the vacancy and to whoever proposed or recorded it.

        ``request_id`` (the caller's own key, e.g. a uuid): sent again by the same organisation,
        the call answers the placement it made, unchanged, and records nothing new; with other
        content it is a Conflict. So a call whose reply was lost is safely retried."""
        data = load(RecordPlacement(), placement, "placement")
        organisation = self.caller.organisation
        if data["request_id"] is not None:
            self.caller.require()
            if (made := self._placement_requested(organisation, data)) is not None:
                return made
        session = self.db.session
        candidate = self.db.get(IndexedCandidate, data["candidate_id"], "candidate in the matching index:",
                                for_update=True)
        if data["request_id"] is not None and (made := self._placement_requested(organisation, data)) is not None:
            return made  # the same request, committed while we waited for the candidate's lock
        vacancy = self._visible_vacancy(data["vacancy_id"])
        match = None
        if data["match_id"] is not None:
            match = self._match_moving_to(data["match_id"], domain.PLACED)
            if (match.candidate_id, match.vacancy_id) != (candidate.candidate_id, vacancy.vacancy_id):
                raise ValidationError.from_fields("placement", {"match_id": ["is a match of another candidate "
                                                                             "or vacancy"]})
        active = session.scalars(select(Placement).where(
            Placement.candidate_id == candidate.candidate_id, Placement.status == domain.ACTIVE)).all()
        if any(p.vacancy_id == vacancy.vacancy_id for p in active):
            raise Conflict("this candidate already has an active placement on this vacancy")
        try:
            domain.check_hours_fit([p.hours_per_week for p in active], data["hours_per_week"],
                                   candidate.hours_per_week)
        except domain.RuleBroken as exc:
            raise Conflict(str(exc)) from None
        row = Placement(
            id=str(uuid.uuid4()), candidate_id=candidate.candidate_id, vacancy_id=vacancy.vacancy_id,
            employer_id=vacancy.employer_id, start_date=data["start_date"], hours_per_week=data["hours_per_week"],
            status=domain.ACTIVE, recorded_at=utcnow(), match_id=match.id if match else None,
            credited_organisations=domain.credited_organisations(
                vacancy.steward_organisations or [], match.proposed_by if match else None, organisation),
            recorded_by=organisation, request_id=data["request_id"],
        )
        session.add(row)
        if match is not None:
            match.status, match.placement_id, match.decided_at = domain.PLACED, row.id, utcnow()
        candidate.in_pool = False
        if data["request_id"] is None:
            session.flush()
        else:
            try:
                with session.begin_nested():  # the same request_id at this moment, for another candidate
                    session.flush()
            except IntegrityError:
                raise request_id_taken(data["request_id"]) from None
        self.db.emit("nl.werkbrug.placement.recorded.v1", row.id, {
            "placement_id": row.id, "candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id,
            "employer_id": row.employer_id, "start_date": row.start_date.isoformat(),
            "hours_per_week": row.hours_per_week, "region": candidate.region,
            "target_groups": candidate.target_groups, "cohort": candidate.cohort,
            "match_id": row.match_id, "credited_organisations": row.credited_organisations,
            "conditions": (candidate.profile or {}).get("conditions", []),
            "dutch_level": (candidate.profile or {}).get("dutch_level"),
        })
        self.index.changed(POOL, [candidate.candidate_id])
        return placement_dict(row)

    def _placement_requested(self, organisation: str, data: dict) -> dict | None:
        """The placement this organisation's request_id made before, if the request is the same."""
        row = self.db.session.scalar(select(Placement).where(
            Placement.recorded_by == organisation, Placement.request_id == data["request_id"]))
        if row is None:
            return None
        differences = domain.request_differences(placement_request(row),
                                                 {k: data[k] for k in PLACEMENT_REQUEST_FIELDS})
        if differences:
            raise request_id_taken(data["request_id"], differences)
        return placement_dict(row)

    @rpc
    def end_placement(self, placement_id, end_date, reason):
        """A placement ended: the candidate is back in the pool (unless still placed elsewhere)."""
        data = load(EndPlacement(), {"placement_id": placement_id, "end_date": end_date, "reason": reason},
                    "placement end")
        row = self._visible(self.db.get(Placement, data["placement_id"], "placement", for_update=True))
        if row.status != domain.ACTIVE:
            raise Conflict(f"placement {row.id} has already ended")
        self._end(row, data["end_date"], data["reason"])
        return placement_dict(row)

    @event_handler("nl.werkbrug.aftercare_task.completed.v1")
    def on_aftercare_task_completed(self, event):
        """The jobcoach found the placement ended: end it here, where placements live."""
        if event.data["outcome"] != "ended":
            return
        row = self.db.session.get(Placement, event.data["placement_id"], with_for_update=True)
        if row is None or row.status != domain.ACTIVE:
            return  # ended already (by the employer, or an earlier outcome)
        self._end(row, max(event.data["end_date"], row.start_date), event.data["end_reason"])

    def _end(self, row: Placement, end_date, reason: str) -> None:
        """End a placement: the candidate is back in the pool (unless still placed elsewhere)."""
        if end_date < row.start_date:
            raise ValidationError.from_fields("placement end", {"end_date": ["is before the start date"]})
        row.status, row.end_date, row.end_reason = domain.ENDED, end_date, reason
        session = self.db.session
        session.flush()
        still_placed = session.scalar(select(func.count()).select_from(Placement).where(
            Placement.candidate_id == row.candidate_id, Placement.status == domain.ACTIVE))
        candidate = session.get(IndexedCandidate, row.candidate_id)
        if candidate is not None and not still_placed:
            candidate.in_pool = True
            self.index.changed(POOL, [row.candidate_id])
        self.db.emit("nl.werkbrug.placement.ended.v1", row.id, {
            "placement_id": row.id, "candidate_id": row.candidate_id, "vacancy_id": row.vacancy_id,
            "end_date": row.end_date.isoformat(), "reason": row.end_reason,
        })

    @rpc
    def placements_of(self, candidate_id):
        """A candidate's placements on vacancies the caller may see, newest first."""
        require_id(candidate_id, "candidate_id")
        rows = self.db.session.scalars(select(Placement).where(Placement.candidate_id == candidate_id)
                                       .order_by(Placement.recorded_at.desc())).all()
        seen = self._vacancies_seen({p.vacancy_id for p in rows})
        return [placement_dict(p) for p in rows if p.vacancy_id in seen]

    @rpc
    def get_placement(self, placement_id):
        require_id(placement_id, "placement_id")
        return placement_dict(self._visible(self.db.get(Placement, placement_id, "placement")))

    # --- who may see what (werkbrug_shared.visibility) -----------------------------------------

    @property
    def viewer(self) -> Viewer:
        return Viewer.of(self.caller)

    def _vacancies_seen(self, vacancy_ids) -> set[str]:
        """Of these vacancies, those the caller may see; one matching does not hold, nobody."""
        if not vacancy_ids:
            return set()
        rows = self.db.session.scalars(select(IndexedVacancy).where(IndexedVacancy.vacancy_id.in_(vacancy_ids)))
        return {v.vacancy_id for v in rows if may_see(self.viewer, v)}

    def _visible_vacancy(self, vacancy_id: str) -> IndexedVacancy:
        vacancy = self.db.session.get(IndexedVacancy, vacancy_id)
        if vacancy is None or not may_see(self.viewer, vacancy):
            raise NotFound(f"no vacancy in the matching index: {vacancy_id}")
        return vacancy

    def _visible(self, row: Match | Placement) -> Match | Placement:
        """A match or placement, if the caller may see its vacancy; else as if it did not exist."""
        if row.vacancy_id not in self._vacancies_seen({row.vacancy_id}):
            raise NotFound(f"no {'match' if isinstance(row, Match) else 'placement'} {row.id}")
        return row

    # --- the index, fed by events --------------------------------------------------------------

    @event_handler("nl.werkbrug.candidate.registered.v1", batch=True)
    def on_candidate_registered(self, events):
        self._index_candidates(events)

    @event_handler("nl.werkbrug.candidate.profile_updated.v1", batch=True)
    def on_candidate_profile_updated(self, events):
        self._index_candidates(events)

    @event_handler("nl.werkbrug.trajectory.defined.v1")
    def on_trajectory_defined(self, event):
        """A trajectory's certificate modules (a module that adds a skill, such as VCA) close
        that skill's gap from now on: a must-have it teaches no longer excludes a candidate,
        and results name the module. Kept, so a restart knows them too."""
        session, learned = self.db.session, []
        for module in event.data["modules"]:
            skill = module.get("skill")
            if skill and session.get(LearnedModule, (module["name"], skill)) is None:
                session.add(LearnedModule(module=module["name"], skill=skill,
                                          trajectory_id=event.data["trajectory_id"], learned_at=utcnow()))
                learned.append((module["name"], skill))
        self.index.changed(MODULE, [name for name, _ in learned])

    @event_handler("nl.werkbrug.vacancy.opened.v1")
    def on_vacancy_opened(self, event):
        self._index_vacancy(event)

    @event_handler("nl.werkbrug.vacancy.updated.v1", batch=True)
    def on_vacancy_updated(self, events):
        # every placement updates its vacancy (an opening fewer): a batch holds many updates of the
        # same few vacancies, and a queue's events come in order, so each vacancy's last one is its state
        for event in {e.data["vacancy_id"]: e for e in events}.values():
            self._index_vacancy(event)

    @event_handler("nl.werkbrug.vacancy.filled.v1")
    def on_vacancy_filled(self, event):
        self._vacancy_status(event.data["vacancy_id"], "filled")

    @event_handler("nl.werkbrug.vacancy.closed.v1")
    def on_vacancy_closed(self, event):
        self._vacancy_status(event.data["vacancy_id"], "closed")

    @event_handler("nl.werkbrug.candidate.erased.v1")
    def on_candidate_erased(self, event):
        """AVG erasure: the profile leaves the index; matches and placements keep only ids and
        codes, for the counts (a professional's note may name the person, so it goes)."""
        candidate_id = event.data["candidate_id"]
        session = self.db.session
        row = session.get(IndexedCandidate, candidate_id)
        if row is not None:
            session.delete(row)
        session.execute(update(Match).where(Match.candidate_id == candidate_id).values(note=None, note_by=None))
        self.db.forget_replies_mentioning(candidate_id)  # replies kept for redelivery once echoed notes
        if session.get(ErasedCandidate, candidate_id) is None:
            session.add(ErasedCandidate(candidate_id=candidate_id, erased_at=utcnow()))
        self.index.changed(CANDIDATE, [candidate_id])

    def _index_candidates(self, events):
        """Upsert a batch of profiles: two queries to find what exists, one COPY for the new
        ones, and the index follows after the commit."""
        session = self.db.session
        latest = {e.data["candidate_id"]: e for e in events}  # a repeated id: the last profile wins
        with session.no_autoflush:
            erased = set(session.scalars(
                select(ErasedCandidate.candidate_id).where(ErasedCandidate.candidate_id.in_(latest))))
            rows = {r.candidate_id: r for r in session.scalars(
                select(IndexedCandidate).where(IndexedCandidate.candidate_id.in_(latest)))}
        new, indexed = [], []
        for candidate_id, event in latest.items():
            if candidate_id in erased:
                continue  # a late profile event must not bring an erased person back
            data = event.data
            values = {field: data[field] for field in CANDIDATE_FIELDS}
            values["profile"] = event.wire_data
            row = rows.get(candidate_id)
            if row is None:
                new.append({"candidate_id": candidate_id, "in_pool": True, **values})
            else:
                for field, value in values.items():
                    setattr(row, field, value)
            indexed.append(candidate_id)
        insert_rows(session, IndexedCandidate.__table__, new)
        self.index.changed(CANDIDATE, indexed)

    def _index_vacancy(self, event):
        data = event.data
        row = self.db.session.get(IndexedVacancy, data["vacancy_id"])
        if row is None:
            row = IndexedVacancy(vacancy_id=data["vacancy_id"])
            self.db.session.add(row)
        for field in VACANCY_FIELDS:
            setattr(row, field, data[field])
        row.steward_organisations = sorted(set(data["steward_organisations"]))
        row.status = data["status"]
        row.profile = event.wire_data
        self.index.changed(VACANCY, [row.vacancy_id])

    def _vacancy_status(self, vacancy_id: str, status: str):
        row = self.db.session.get(IndexedVacancy, vacancy_id)
        if row is None:
            return  # never indexed (opened before matching listened): nothing to change
        row.status = status
        self.index.changed(VACANCY, [vacancy_id])
