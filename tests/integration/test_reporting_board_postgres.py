"""The board's figures on PostgreSQL (one GROUPING SETS query per fact table) equal what
``collect`` gives for each of the four figure sets, over random read models, in a private
database (no services)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from reporting import domain, queries
from reporting.models import Person, Placement, metadata
from tests.integration.harness import private_database


@pytest.fixture(scope="module")
def engine():
    with private_database("board") as engine:
        metadata.create_all(engine)
        yield engine


def month(d: date | None) -> str | None:
    return None if d is None else f"{d:%Y-%m}"


def fill(engine, seed: int, people: int) -> None:
    rng = random.Random(seed)
    masks = [0, *domain.BITS.values(), *(a | b for a in domain.BITS.values() for b in domain.BITS.values())]
    person_rows, placement_rows = [], []
    for i in range(people):
        enrolled = rng.choice([None, date(2025, 1, 1) + timedelta(days=rng.randrange(700))])
        first = rng.choice([None, None, date(2025, 3, 1) + timedelta(days=rng.randrange(700))])
        person_rows.append({
            "candidate_id": f"c{seed}-{i}", "cohort": rng.choice([None, "werkfit-1", "zorg-2", "bouw"]),
            "trajectory": rng.choice([None, "werkfit"]), "region": rng.choice([None, "Twente", "Rijnmond"]),
            "target_groups": rng.choice(masks), "enrolled_on": enrolled, "enrol_stamp": None,
            "profile_stamp": None, "first_start": first, "enrolled_month": month(enrolled),
            "placed_month": month(first) if rng.random() < 0.9 else None,
            "days_to_placement": rng.choice([None, *range(0, 400, 7)]) if first else None})
        for j in range(rng.choice([0, 0, 1, 2])):
            start = rng.choice([None, date(2025, 2, 1) + timedelta(days=rng.randrange(700))])
            decided_6 = rng.randint(0, 1)
            decided_12 = rng.randint(0, decided_6)
            placement_rows.append({
                "placement_id": f"p{seed}-{i}-{j}", "candidate_id": rng.choice([f"c{seed}-{i}", f"gone-{i}"]),
                "vacancy_id": None, "start_date": start, "target_groups": rng.choice(masks),
                "recorded_stamp": None, "end_date": None, "end_stamp": None, "sustained_months": 0,
                "start_month": month(start), "ended_early": rng.randint(0, 1), "decided_6": decided_6,
                "durable_6": rng.randint(0, decided_6), "decided_12": decided_12,
                "durable_12": rng.randint(0, decided_12)})
    with engine.begin() as conn:
        conn.execute(Person.__table__.delete())
        conn.execute(Placement.__table__.delete())
        if person_rows:
            conn.execute(insert(Person.__table__), person_rows)
        if placement_rows:
            conn.execute(insert(Placement.__table__), placement_rows)


def as_plain(figures: dict) -> dict:
    return {key: {slot: getattr(f, slot) for slot in domain.Figures.__slots__} for key, f in figures.items()}


@pytest.mark.parametrize("seed,people", [(1, 0), (2, 1), (3, 40), (4, 400), (5, 1500)])
def test_the_boards_grouping_sets_give_what_collect_gives(engine, seed, people):
    fill(engine, seed, people)
    base = {"suppress": True}
    with Session(engine) as session:
        fast = queries.collect_board(session)
        original = {
            "totals": queries.collect(session, base),
            "by_group": queries.collect(session, {**base, "group_by": "target_group"}),
            "by_cohort": queries.collect(session, {**base, "group_by": "cohort"}),
            "trend": queries.collect(session, {**base, "period": "month"}, durability=False, days=False),
        }
        for name in queries.BOARD_VARIANTS:
            assert as_plain(fast[name]) == as_plain(original[name]), name
        board = queries.board(session, [], date(2026, 12, 6))
    if people:
        assert board["totals"]["enrolled"] == domain.suppressed(people)
