"""Vacancies: employers and the shared pool of vacancies."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from vacancies import domain
from vacancies.models import Employer, Vacancy, metadata
from vacancies.schemas import OpenVacancy, RegisterEmployer
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Conflict, ValidationError
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.validation import load, require_id


def employer_dict(e: Employer) -> dict:
    return {"id": e.id, "name": e.name, "kvk_number": e.kvk_number, "region": e.region}


def vacancy_dict(v: Vacancy) -> dict:
    return {
        "id": v.id, "employer_id": v.employer_id, "title": v.title, "region": v.region,
        "postcode": v.postcode, "skills_required": v.skills_required, "hours_per_week": v.hours_per_week,
        "openings": v.openings, "openings_filled": v.openings_filled, "status": v.status,
    }


def vacancy_profile(v: Vacancy) -> dict:
    return {
        "vacancy_id": v.id, "employer_id": v.employer_id, "region": v.region, "pc4": v.pc4,
        "skills_required": v.skills_required, "hours_per_week": v.hours_per_week,
        "openings": v.openings - v.openings_filled,
    }


class VacanciesService:
    name = "vacancies"

    db = Database(metadata)
    metrics = EntrypointMetrics()

    @rpc
    def register_employer(self, employer):
        data = load(RegisterEmployer(), employer, "employer")
        existing = self.db.session.scalar(select(Employer).where(Employer.kvk_number == data["kvk_number"]))
        if existing is not None:
            raise Conflict(f"employer with this KvK number is already registered as {existing.id}")
        row = Employer(id=str(uuid.uuid4()), registered_at=utcnow(), **data)
        self.db.session.add(row)
        self.db.session.flush()
        self.db.emit("nl.werkbrug.employer.registered.v1", row.id, {"employer_id": row.id, "region": row.region})
        return employer_dict(row)

    @rpc
    def open(self, vacancy):
        data = load(OpenVacancy(), vacancy, "vacancy")
        if self.db.session.get(Employer, data["employer_id"]) is None:
            raise ValidationError.from_fields("vacancy", {"employer_id": [f"no employer {data['employer_id']}"]})
        postcode = data["postcode"].replace(" ", "").upper()
        row = Vacancy(
            id=str(uuid.uuid4()), employer_id=data["employer_id"], title=data["title"], region=data["region"],
            postcode=postcode, pc4=postcode[:4], skills_required=sorted(set(data["skills_required"])),
            hours_per_week=data["hours_per_week"], openings=data["openings"], openings_filled=0,
            status="open", opened_at=utcnow(),
        )
        self.db.session.add(row)
        self.db.session.flush()
        self.db.emit("nl.werkbrug.vacancy.opened.v1", row.id, vacancy_profile(row))
        return vacancy_dict(row)

    @rpc
    def get(self, vacancy_id):
        require_id(vacancy_id, "vacancy_id")
        row = self.db.get(Vacancy, vacancy_id, "vacancy")
        return vacancy_dict(row)

    @event_handler("nl.werkbrug.placement.recorded.v1")
    def on_placement_recorded(self, event):
        row = self.db.get(Vacancy, event.data["vacancy_id"], "vacancy", for_update=True)
        was = row.status
        row.openings_filled, row.status = domain.fill_opening(row.openings, row.openings_filled)
        if row.status == "filled" and was != "filled":
            self.db.emit("nl.werkbrug.vacancy.filled.v1", row.id,
                         {"vacancy_id": row.id, "openings_filled": row.openings_filled})
