"""Figures out of the read models: ``GROUP BY``s over the fact rows, rolled up
in Python by :class:`reporting.domain.Figures` (target groups expand from the
bit mask, months into quarters and years, days to placement into medians).

Suppression happens here, on the way out; the sums underneath are exact (the
business metrics use them unsuppressed).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from reporting import domain
from reporting.models import Fairness, Person, Placement, ReadModelState, Task, Vacancy
from reporting.projections import STATE_ID, read_state
from werkbrug_shared.errors import ValidationError
from werkbrug_shared.events import TARGET_GROUPS

DIMENSIONS = ("cohort", "trajectory", "region", "target_group")
TREND_MONTHS = 36


# --- input ---------------------------------------------------------------------------------


class FigureQuery(Schema):
    cohort = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80))
    trajectory = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=120))
    target_group = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TARGET_GROUPS))
    region = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=80))
    period = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(domain.PERIODS))
    group_by = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DIMENSIONS))
    suppress = fields.Boolean(load_default=True)


class TargetDefinition(Schema):
    """One entry of ``REPORTING_TARGETS`` in config.yml."""

    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}\Z"))
    label = fields.String(required=True, validate=validate.Length(min=1, max=200))
    counts = fields.String(load_default="placements", validate=validate.OneOf(("placements",)))
    trajectory = fields.String(load_default=None, allow_none=True)
    target_group = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(TARGET_GROUPS))
    leerwerkbaan = fields.Boolean(load_default=None, allow_none=True)  # only placements on (or not on) one
    target = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def _period(self, data, **_):
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise SchemaError({"end": ["before start"]})


def load_targets(raw) -> list[dict]:
    """``REPORTING_TARGETS`` checked; a ValidationError names the entry and the field."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationError.from_fields("REPORTING_TARGETS", {"REPORTING_TARGETS": ["expected a list"]})
    schema, errors, targets = TargetDefinition(), {}, []
    for i, entry in enumerate(raw):
        if isinstance(entry, dict):  # YAML gives dates as dates; the schema wants them as text or dates
            entry = {k: v.isoformat() if isinstance(v, date) else v for k, v in entry.items()}
        try:
            targets.append(schema.load(entry if isinstance(entry, dict) else {}))
        except SchemaError as exc:
            for field, messages in exc.messages.items():
                errors[f"REPORTING_TARGETS[{i}].{field}"] = messages
    ids = [t["id"] for t in targets]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        errors[f"REPORTING_TARGETS.{dup}"] = ["id used twice"]
    if errors:
        raise ValidationError.from_fields("REPORTING_TARGETS", errors)
    return targets


# --- figures per group and period -----------------------------------------------------------

_PERSON_COLUMN = {"cohort": Person.cohort, "trajectory": Person.trajectory, "region": Person.region}


def _where(query: dict) -> list:
    clauses = [_PERSON_COLUMN[d] == query[d] for d in ("cohort", "trajectory", "region") if query.get(d) is not None]
    if query.get("target_group") is not None:
        clauses.append(Person.target_groups.op("&")(domain.BITS[query["target_group"]]) != 0)
    return clauses


def _group_columns(group_by: str | None) -> list:
    if group_by is None:
        return []
    if group_by == "target_group":
        return [Person.target_groups]
    return [_PERSON_COLUMN[group_by]]


def _keys(row, group_by, period, n_group: int):
    """The (group, period) keys one result row adds to; a target-group mask adds to each of its groups."""
    if group_by is None:
        groups = [None]
    elif group_by == "target_group":
        groups = domain.groups_of(row[0])
    else:
        groups = [row[0]]
    if period is None:
        return [(g, None) for g in groups]
    month = row[n_group]
    if month is None:
        return []
    when = domain.period_of(month, period)
    return [(g, when) for g in groups]


def collect(session: Session, query: dict, *, outflow: bool = True, durability: bool = True,
            days: bool = True) -> dict[tuple, domain.Figures]:
    """Figures per (group, period) for the people and placements ``query`` selects."""
    group_by, period = query.get("group_by"), query.get("period")
    group = _group_columns(group_by)
    n = len(group)
    where = _where(query)
    figures: dict[tuple, domain.Figures] = defaultdict(domain.Figures)
    if outflow:
        cols = [*group, *([Person.enrolled_month] if period else [])]
        for row in session.execute(select(*cols, func.count()).select_from(Person).where(*where).group_by(*cols)):
            for key in _keys(row, group_by, period, n):
                figures[key].enrolled += row[-1]
        cols = [*group, *([Person.placed_month] if period else []), *([Person.days_to_placement] if days else [])]
        placed = (select(*cols, func.count()).select_from(Person)
                  .where(*where, Person.first_start.is_not(None)).group_by(*cols))
        for row in session.execute(placed):
            for key in _keys(row, group_by, period, n):
                figures[key].placed += row[-1]
                if days and row[-2] is not None:
                    figures[key].days[row[-2]] += row[-1]
    cols = [*group, *([Placement.start_month] if period else [])]
    sums = [func.count(), func.coalesce(func.sum(Placement.ended_early), 0)]
    if durability:
        sums += [func.coalesce(func.sum(getattr(Placement, c)), 0)
                 for c in ("decided_6", "durable_6", "decided_12", "durable_12")]
    facts = (select(*cols, *sums).select_from(Placement).join(Person, Person.candidate_id == Placement.candidate_id)
             .where(*where, Placement.start_date.is_not(None)).group_by(*cols))
    for row in session.execute(facts):
        values = row[len(cols):]
        for key in _keys(row, group_by, period, n):
            f = figures[key]
            f.placements += values[0]
            f.ended_early += values[1]
            if durability:
                f.decided_6 += values[2]
                f.durable_6 += values[3]
                f.decided_12 += values[4]
                f.durable_12 += values[5]
    return figures


BOARD_VARIANTS = ("totals", "by_group", "by_cohort", "trend")


def collect_board(session: Session) -> dict[str, dict[tuple, domain.Figures]]:
    """The board's four figure sets: ``collect`` of the totals, per target group, per cohort
    (each with durability and days) and per month (neither), keyed by ``BOARD_VARIANTS``.

    On PostgreSQL one query per fact with GROUPING SETS instead of four each: the board
    took twelve round trips, and while a page watched it, the time boards took was both
    the wait before the next board and time the event handler waited behind. Each
    result row is added exactly as ``collect`` adds it (a test holds the two equal)."""
    if session.get_bind().dialect.name != "postgresql":
        base = {"suppress": True}
        return {
            "totals": collect(session, base),
            "by_group": collect(session, {**base, "group_by": "target_group"}),
            "by_cohort": collect(session, {**base, "group_by": "cohort"}),
            "trend": collect(session, {**base, "period": "month"}, durability=False, days=False),
        }
    out = {name: defaultdict(domain.Figures) for name in BOARD_VARIANTS}
    # grouping(a, b, c): a bit per column left out of the row's grouping set, the first the highest
    variant_of = {7: ("totals", None), 3: ("by_group", "target_group"), 5: ("by_cohort", "cohort"),
                  6: ("trend", None)}
    enrolled = session.execute(text(
        "SELECT grouping(target_groups, cohort, enrolled_month), target_groups, cohort, enrolled_month, count(*) "
        "FROM rm_people GROUP BY GROUPING SETS ((), (target_groups), (cohort), (enrolled_month))"))
    for g, mask, cohort, month, count in enrolled:
        name, group_by = variant_of[g]
        period = "month" if name == "trend" else None
        row = _board_row(group_by, mask, cohort, month)
        for key in _keys(row, group_by, period, 1 if group_by else 0):
            out[name][key].enrolled += count
    # placed: with days to placement but in the trend; grouping(target_groups, cohort, placed_month, days)
    placed_variant = {14: ("totals", None), 6: ("by_group", "target_group"), 10: ("by_cohort", "cohort"),
                      13: ("trend", None)}
    placed = session.execute(text(
        "SELECT grouping(target_groups, cohort, placed_month, days_to_placement), target_groups, cohort, "
        "placed_month, days_to_placement, count(*) FROM rm_people WHERE first_start IS NOT NULL "
        "GROUP BY GROUPING SETS ((days_to_placement), (target_groups, days_to_placement), "
        "(cohort, days_to_placement), (placed_month))"))
    for g, mask, cohort, month, days, count in placed:
        name, group_by = placed_variant[g]
        period = "month" if name == "trend" else None
        row = _board_row(group_by, mask, cohort, month)
        for key in _keys(row, group_by, period, 1 if group_by else 0):
            out[name][key].placed += count
            if name != "trend" and days is not None:
                out[name][key].days[days] += count
    facts = session.execute(text(
        "SELECT grouping(p.target_groups, p.cohort, f.start_month), p.target_groups, p.cohort, f.start_month, "
        "count(*), coalesce(sum(f.ended_early), 0), coalesce(sum(f.decided_6), 0), coalesce(sum(f.durable_6), 0), "
        "coalesce(sum(f.decided_12), 0), coalesce(sum(f.durable_12), 0) "
        "FROM rm_placements AS f JOIN rm_people AS p ON p.candidate_id = f.candidate_id "
        "WHERE f.start_date IS NOT NULL "
        "GROUP BY GROUPING SETS ((), (p.target_groups), (p.cohort), (f.start_month))"))
    for g, mask, cohort, month, *values in facts:
        name, group_by = variant_of[g]
        period = "month" if name == "trend" else None
        row = _board_row(group_by, mask, cohort, month)
        for key in _keys(row, group_by, period, 1 if group_by else 0):
            f = out[name][key]
            f.placements += values[0]
            f.ended_early += values[1]
            if name != "trend":
                f.decided_6 += values[2]
                f.durable_6 += values[3]
                f.decided_12 += values[4]
                f.durable_12 += values[5]
    return out


def _board_row(group_by, mask, cohort, month) -> tuple:
    """A GROUPING SETS row in the shape ``_keys`` reads ``collect``'s rows: the group column if
    there is one, else the month (read only for a period, which the board groups on alone)."""
    if group_by == "target_group":
        return (mask,)
    if group_by == "cohort":
        return (cohort,)
    return (month,)


def _rows(figures: dict, query: dict, render, total: domain.Figures) -> list[dict]:
    """A row per (group, period), as ``render`` shows its figures; suppressed, the rows are
    protected against telling a small group from the total (``domain.protect_rows``)."""
    group_by = query.get("group_by")
    rows, shown = [], []
    for (group, when), f in sorted(figures.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        row = {}
        if group_by is not None:
            row[group_by] = group
        row["period"] = when
        row.update(render(f))
        rows.append(row)
        shown.append(f)
    if query["suppress"]:
        domain.protect_rows(rows, shown, total)
    return rows


def _echo(query: dict) -> dict:
    return {k: query.get(k) for k in ("cohort", "trajectory", "target_group", "region", "period", "group_by")}


def outflow(session: Session, query: dict) -> dict:
    """Totals for the selection, and ``rows`` per group and/or period."""
    suppress = query["suppress"]
    total = collect(session, {**query, "group_by": None, "period": None}, durability=False).get(
        (None, None), domain.Figures())
    result = {**_echo(query), **total.outflow(suppress)}
    if query.get("group_by") or query.get("period"):
        rows = _rows(collect(session, query, durability=False), query, lambda f: f.outflow(suppress), total)
    else:
        rows = [{"period": None, **{k: result[k] for k in domain.Figures().outflow()}}]
    result["rows"] = rows
    return result


def durability(session: Session, query: dict) -> dict:
    """Placements and how many reached the 6 and 12 month marks, by the start date's period."""
    suppress = query["suppress"]
    total = collect(session, {**query, "group_by": None, "period": None}, outflow=False).get(
        (None, None), domain.Figures())
    result = {**_echo(query), **total.durability(suppress)}
    if query.get("group_by") or query.get("period"):
        rows = _rows(collect(session, query, outflow=False), query, lambda f: f.durability(suppress), total)
    else:
        rows = [{"period": None, **{k: result[k] for k in domain.Figures().durability()}}]
    result["rows"] = rows
    return result


# --- targets, aftercare, fairness ------------------------------------------------------------


def target_rows(session: Session) -> list[tuple]:
    cols = [Placement.start_date, Placement.target_groups, Person.trajectory, Vacancy.is_leerwerkbaan]
    stmt = (select(*cols, func.count())
            .join(Person, Person.candidate_id == Placement.candidate_id)
            .outerjoin(Vacancy, Vacancy.vacancy_id == Placement.vacancy_id)
            .where(Placement.start_date.is_not(None)).group_by(*cols))
    return [tuple(r) for r in session.execute(stmt)]


def targets(session: Session, definitions: list[dict], today: date) -> list[dict]:
    if not definitions:
        return []
    rows = target_rows(session)
    return [domain.target_progress(t, rows, today) for t in definitions]


def aftercare(session: Session, only_open: bool = True) -> list[tuple[str, int, int]]:
    """(organisation, open, overdue) per organisation (with tasks open, unless ``only_open`` is
    False), unsuppressed; tasks no organisation holds under "unassigned"."""
    stmt = (select(Task.organisation, func.sum(Task.is_open), func.sum(Task.is_overdue))
            .group_by(Task.organisation))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for organisation, open_, overdue in session.execute(stmt):
        name = organisation or domain.NO_ORGANISATION
        totals[name][0] += int(open_ or 0)
        totals[name][1] += int(overdue or 0)
    return [(name, o, d) for name, (o, d) in sorted(totals.items()) if o or not only_open]


def fairness(session: Session, state: dict | None) -> list[dict]:
    """Per target group its share of the top-10 places against its share of the eligible places."""
    rows = {r.target_group: r for r in session.scalars(select(Fairness))}
    top_total = (state or {}).get("fairness_top_total") or 0
    eligible_total = (state or {}).get("fairness_eligible_total") or 0
    out = []
    for group in TARGET_GROUPS:
        row = rows.get(group)
        if row is None:
            continue
        top_share = None if not top_total or domain.is_small(row.top) else round(row.top / top_total, 4)
        pool_share = None if not eligible_total or domain.is_small(row.eligible) else \
            round(row.eligible / eligible_total, 4)
        out.append({"target_group": group, "top_share": top_share, "pool_share": pool_share})
    return out


# --- the board --------------------------------------------------------------------------------


def version(session: Session) -> int:
    return session.scalar(select(ReadModelState.version).where(ReadModelState.id == STATE_ID)) or 0


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else domain.utc(moment).isoformat()


def board(session: Session, target_definitions: list[dict], today: date) -> dict:
    """The regional board: see ``ReportingService.board`` for the shape (a contract)."""
    state = read_state(session) or {}
    figures = collect_board(session)
    totals = figures["totals"].get((None, None), domain.Figures())
    by_group, by_cohort, trend = figures["by_group"], figures["by_cohort"], figures["trend"]
    months = sorted(m for _, m in trend)
    trend_rows, trend_figures = [], []
    if months:
        for month in domain.months_between(months[0], months[-1])[-TREND_MONTHS:]:
            f = trend.get((None, month), domain.Figures())
            trend_rows.append({"period": month, "enrolled": domain.suppressed(f.enrolled),
                               "placed": domain.suppressed(f.placed)})
            trend_figures.append(f)
    domain.protect_rows(trend_rows, trend_figures, totals)
    group_figures = [by_group.get((g, None), domain.Figures()) for g in TARGET_GROUPS]
    group_rows = [{"target_group": g, **f.board()} for g, f in zip(TARGET_GROUPS, group_figures, strict=True)]
    domain.protect_rows(group_rows, group_figures, totals)  # only if nobody is in two: else they add up to more
    cohorts = sorted(((c, f) for (c, _), f in by_cohort.items() if c is not None), key=lambda cf: cf[0])
    cohort_rows = [{"cohort": c, **f.board()} for c, f in cohorts]
    domain.protect_rows(cohort_rows, [f for _, f in cohorts], totals)
    return {
        "version": int(state.get("version") or 0),
        "as_of": _iso(state.get("as_of")),
        "totals": totals.board(),
        "by_target_group": group_rows,
        "by_cohort": cohort_rows,
        "trend": trend_rows,
        "targets": targets(session, target_definitions, today),
        "aftercare": [{"organisation": name, "open": domain.suppressed(o), "overdue": domain.suppressed(d)}
                      for name, o, d in aftercare(session)],
        "fairness": fairness(session, state),
    }
