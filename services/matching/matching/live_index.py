"""The in-memory matching index of one service process, kept with its database.

Built from matching's own tables when the service starts, then changed only
after the transaction that changed those tables committed (see
``UnitOfWork.on_commit``): the index is never ahead of the rows it is rebuilt
from, so a rolled-back or retried event leaves no trace in it.
"""

from __future__ import annotations

import gc
import logging
import time

from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.index import MatchingIndex, compile_queries
from matching.models import IndexedCandidate, IndexedVacancy, LearnedModule
from matching.modules import ModuleCatalogue
from matching.profiles import CandidateProfile, VacancyProfile
from werkbrug_shared.db import databases_of

log = logging.getLogger(__name__)


def candidate_profile_of(row: IndexedCandidate) -> CandidateProfile:
    """A stored row as a profile; rows indexed before full profiles were kept have the spine's fields."""
    data = row.profile or {
        "candidate_id": row.candidate_id, "region": row.region, "pc4": row.pc4,
        "target_groups": row.target_groups, "skills": row.skills, "hours_per_week": row.hours_per_week,
        "conditions": row.conditions, "cohort": row.cohort,
    }
    return CandidateProfile.from_event(data)


def vacancy_profile_of(row: IndexedVacancy) -> VacancyProfile:
    data = dict(row.profile or {
        "vacancy_id": row.vacancy_id, "employer_id": row.employer_id, "region": row.region, "pc4": row.pc4,
        "skills_required": row.skills_required, "hours_per_week": row.hours_per_week, "openings": row.openings,
    })
    data["status"], data["openings"] = row.status, row.openings
    # who may see it: the columns, kept also for rows indexed before profiles were
    data["visibility"] = row.visibility or data.get("visibility")
    if row.steward_organisations is not None:
        data["steward_organisations"] = row.steward_organisations
    return VacancyProfile.from_event(data)


class LiveIndex(DependencyProvider):
    """One :class:`MatchingIndex` per container, shared by every worker.

    nameko starts every extension at once, so a call or an event can arrive
    while the index is still being built: its worker waits for it.
    """

    def __init__(self):
        self.index: MatchingIndex | None = None
        self._built = None

    def setup(self):
        self._built = Event()

    def start(self):
        (db,) = databases_of(self.container)
        started = time.monotonic()
        compile_queries()
        with Session(db.engine) as session:  # the built-in modules and those trajectories taught it
            modules = ModuleCatalogue()
            for row in session.scalars(select(LearnedModule)):
                modules.register(row.module, row.skill)
        index = MatchingIndex(modules=modules)
        # The build makes millions of objects at once, and the garbage collector would walk
        # them again at every threshold (a third of the start-up). What it leaves (the index,
        # ESCO's knowledge) lives as long as the process: frozen, later collections, which
        # come every few requests, leave it out (a full one took a third of a second).
        gc.disable()
        try:
            with Session(db.engine) as session:
                candidates = session.scalars(select(IndexedCandidate).execution_options(yield_per=5000))
                profiles, placed = [], []
                for row in candidates:
                    profiles.append(candidate_profile_of(row))
                    if not row.in_pool:
                        placed.append(row.candidate_id)
                vacancies = [vacancy_profile_of(row) for row in session.scalars(select(IndexedVacancy))]
            index.load(profiles, vacancies, not_in_pool=placed)
            counts = len(profiles), len(vacancies)
            del profiles, vacancies, placed
        finally:
            gc.enable()
        gc.collect()
        gc.freeze()
        self.index = index
        self._built.send(True)
        log.info("matching index built from the database: %s candidates, %s vacancies in %.1f s",
                 *counts, time.monotonic() - started)

    def get_dependency(self, worker_ctx):
        if self.index is None:
            self._built.wait()
        return self.index
