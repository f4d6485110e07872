"""Reading the pool: what a caller may see, filtered, a page at a time.

The SQL here states :func:`werkbrug_shared.visibility.may_see_vacancy` for a
whole table (through its :func:`~werkbrug_shared.visibility.reach`), so a list
never returns what ``get`` would answer NotFound for.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from vacancies import domain
from vacancies.handlers import vacancy_dict
from vacancies.models import Steward, Vacancy, VacancySkill
from werkbrug_shared import pagination, visibility
from werkbrug_shared.actor import Actor
from werkbrug_shared.visibility import Viewer

EQUALS = ("region", "status", "visibility", "is_leerwerkbaan", "banenafspraak_suitable", "employer_id")
# what a job site gets: the vacancy, not how the partners organise it
NOT_PUBLISHED = ("steward_organisations", "source_ref", "closed_reason")


def visible_to(caller: Actor):
    seen = visibility.reach(Viewer.of(caller))
    where = [Vacancy.visibility.in_(sorted(seen.anywhere))]
    if seen.region is not None and seen.own_region - seen.anywhere:
        where.append(and_(Vacancy.region == seen.region, Vacancy.visibility.in_(sorted(seen.own_region))))
    if seen.organisation is not None and seen.stewarded - seen.anywhere:
        stewarded = exists().where(Steward.vacancy_id == Vacancy.id, Steward.organisation == seen.organisation)
        where.append(and_(stewarded, Vacancy.visibility.in_(sorted(seen.stewarded))))
    return or_(*where)


def published(today: date):
    return and_(Vacancy.visibility == visibility.PUBLIC, Vacancy.status == domain.OPEN,
                or_(Vacancy.valid_through.is_(None), Vacancy.valid_through >= today))


def page(session: Session, where, filters: dict, limit, cursor) -> dict:
    """One page, newest first, and the cursor for the next one (None after the last)."""
    query = select(Vacancy).where(where)
    for field in EQUALS:
        if field in filters:
            query = query.where(getattr(Vacancy, field) == filters[field])
    if "skill" in filters:
        wanted = select(VacancySkill.vacancy_id).where(VacancySkill.skill == filters["skill"])
        query = query.where(Vacancy.id.in_(wanted))
    return pagination.page(session, query, Vacancy.opened_at, Vacancy.id, limit, cursor, vacancy_dict,
                           newest_first=True)


def for_publication(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in NOT_PUBLISHED}
