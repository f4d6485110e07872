"""Every partner operation (README's table) and every gateway route, with how to
make each argument: from the operation's own marshmallow schema where it loads
one, otherwise from the kind of value it takes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from marshmallow import Schema

from aftercare import schemas as aftercare_schemas
from candidates import schemas as candidate_schemas
from matching import schemas as matching_schemas
from matching.scoring import CANDIDATE_FILTERS, VACANCY_FILTERS
from reporting.queries import FigureQuery
from tests.fuzz.generate import ALMOST, HOSTILE, VALID, Gen
from vacancies import schemas as vacancy_schemas
from vacancies.domain import CLOSE_REASONS
from werkbrug_shared.events.catalogue import MATCH_REJECT_REASONS, PLACEMENT_END_REASONS, TASK_OUTCOMES


@dataclass
class Arg:
    """How one argument is made valid; ``schema`` when it is a payload loaded through one."""

    make: object  # (gen) -> value
    schema: Schema | None = None
    optional: bool = False  # may be left out (a keyword with a default)


def payload(schema: Schema, partial: bool = False) -> Arg:
    return Arg(lambda g: g.payload(schema, partial), schema)


def an_id(kind: str) -> Arg:
    return Arg(lambda g: g.an_id(kind))


def one_of(*values, optional: bool = False) -> Arg:
    return Arg(lambda g: g.rng.choice(values), optional=optional)


def maybe(arg: Arg) -> Arg:
    return Arg(lambda g: None if g.rng.random() < 0.4 else arg.make(g), arg.schema, optional=True)


def whole(low: int, high: int, optional: bool = True) -> Arg:
    return Arg(lambda g: g.rng.randint(low, high), optional=optional)


def text(low: int = 1, high: int = 200) -> Arg:
    return Arg(lambda g: g.text(low, high), optional=True)


def a_date(optional: bool = False) -> Arg:
    return Arg(lambda g: g.a_date(), optional=optional)


def ids(kind: str) -> Arg:
    return Arg(lambda g: [g.an_id(kind) for _ in range(g.rng.randint(0, 5))])


FILTER_VALUES = {"region": ("Twente", "Midden-Utrecht"), "target_group": ("bijstand", "statushouder"),
                 "cohort": ("werkfit-1",), "visibility": ("public", "internal", "hidden")}


def ranking_filters(g: Gen, names) -> dict:
    """A few of matching's ranking filters: text ones from their values, the others true or false."""
    chosen = g.rng.sample(list(names), g.rng.randint(0, 2))
    return {n: g.rng.choice(FILTER_VALUES[n]) if n in FILTER_VALUES else g.rng.random() < 0.5 for n in chosen}


# cursors as a list gives them out, but carrying an id no database can compare with (NUL, a surrogate)
BAD_CURSORS = ("", "WyJ4Il0=", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgInhcdTAwMDAiXQ==",
               "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieFx1MDAwMCJd",
               "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIlx1ZGZmZiJd")
CANDIDATE = candidate_schemas.CheckedCandidate()
VACANCY = vacancy_schemas.OpenVacancy()
SCHEMAS = {"candidate": CANDIDATE, "vacancy": vacancy_schemas.BulkVacancy()}
ORGANISATION = one_of("gemeente-enschede", "gemeente-utrecht", "soweco", None)


@dataclass
class Op:
    service: str
    name: str
    args: dict  # parameter name -> Arg, in the method's order
    credential: str = "dev-gemeente-enschede"  # whose call it normally is
    writes: bool = False  # may write: a refusal is checked to have written nothing
    public: bool = False


def ops() -> list[Op]:
    figure = {name: maybe(one_of("werkfit-1", "Twente", "bijstand", "month", "quarter", "cohort", "region"))
              for name in FigureQuery().load_fields if name != "suppress"}
    figure["suppress"] = one_of(True, False, optional=True)
    soweco = "dev-soweco"
    return [
        # candidates
        Op("candidates", "register", {"candidate": payload(CANDIDATE)}, writes=True),
        Op("candidates", "register_many", {"candidates": Arg(lambda g: [g.payload(CANDIDATE)
                                                                         for _ in range(g.rng.randint(1, 3))])},
           writes=True),
        Op("candidates", "get", {"candidate_id": an_id("candidate")}),
        Op("candidates", "update", {"candidate_id": an_id("candidate"),
                                    "changes": payload(candidate_schemas.candidate_schema(update=True), True)},
           writes=True),
        Op("candidates", "list", {"filters": maybe(payload(candidate_schemas.ListFilters(), True)),
                                  "limit": whole(1, 50), "cursor": maybe(one_of(*BAD_CURSORS))}),
        Op("candidates", "change_status", {"candidate_id": an_id("candidate"),
                                           "status": one_of("intake", "in_trajectory", "available"),
                                           "reason": maybe(text(1, 100))}, writes=True),
        Op("candidates", "add_log_entry", {"candidate_id": an_id("candidate"),
                                           "entry": payload(candidate_schemas.LogEntryInput())}, writes=True),
        Op("candidates", "log", {"candidate_id": an_id("candidate")}),
        Op("candidates", "set_plan", {"candidate_id": an_id("candidate"),
                                      "plan": payload(candidate_schemas.PlanInput())}, writes=True),
        Op("candidates", "define_trajectory", {"trajectory": payload(candidate_schemas.DefineTrajectory())},
           writes=True),
        Op("candidates", "start_cohort", {"cohort": payload(candidate_schemas.StartCohort())}, writes=True),
        Op("candidates", "get_cohort", {"cohort_id": an_id("cohort")}),
        Op("candidates", "enrol", {"candidate_id": an_id("candidate"), "cohort_id": an_id("cohort")}, writes=True),
        Op("candidates", "complete_module", {"candidate_id": an_id("candidate"), "cohort_id": an_id("cohort"),
                                             "module_code": one_of("VCA", "NT2", "A100", "werkfit")}, writes=True),
        Op("candidates", "erase", {"candidate_id": an_id("candidate")}, writes=True),
        # vacancies
        Op("vacancies", "register_employer", {"employer": payload(vacancy_schemas.RegisterEmployer())},
           writes=True),
        Op("vacancies", "get_employer", {"employer_id": an_id("employer")}),
        Op("vacancies", "open", {"vacancy": payload(VACANCY)}, writes=True),
        Op("vacancies", "open_many", {"vacancies": Arg(lambda g: [g.payload(SCHEMAS["vacancy"])
                                                                  for _ in range(g.rng.randint(1, 3))])},
           writes=True),
        Op("vacancies", "get", {"vacancy_id": an_id("vacancy")}),
        Op("vacancies", "update", {"vacancy_id": an_id("vacancy"),
                                   "changes": payload(vacancy_schemas.UpdateVacancy())}, writes=True),
        Op("vacancies", "close", {"vacancy_id": an_id("vacancy"),
                                  "reason": maybe(one_of(*CLOSE_REASONS)),
                                  "note": maybe(text(1, 100))}, writes=True),
        Op("vacancies", "list", {"filters": maybe(payload(vacancy_schemas.ListFilters(), True)),
                                 "limit": whole(1, 50), "cursor": maybe(one_of(*BAD_CURSORS))}),
        Op("vacancies", "list_published", {"filters": maybe(payload(vacancy_schemas.ListFilters(
            exclude=("status", "visibility")), True)), "limit": whole(1, 50)}, public=True),
        Op("vacancies", "stewards", {"vacancy_id": an_id("vacancy")}),
        Op("vacancies", "add_steward", {"vacancy_id": an_id("vacancy"),
                                        "steward": payload(vacancy_schemas.AddSteward())}, writes=True),
        Op("vacancies", "add_candidate", {"vacancy_id": an_id("vacancy"), "candidate_id": an_id("candidate"),
                                          "note": maybe(text(1, 100))}, writes=True),
        Op("vacancies", "shortlist", {"vacancy_id": an_id("vacancy")}),
        # matching
        Op("matching", "candidates_for_vacancy", {
            "vacancy_id": an_id("vacancy"), "limit": whole(1, 20),
            "filters": maybe(Arg(lambda g: ranking_filters(g, CANDIDATE_FILTERS)))}),
        Op("matching", "vacancies_for_candidate", {
            "candidate_id": an_id("candidate"), "limit": whole(1, 20),
            "filters": maybe(Arg(lambda g: ranking_filters(g, VACANCY_FILTERS)))}),
        Op("matching", "suggest_occupations", {"candidate_id": an_id("candidate"), "limit": whole(1, 20)}),
        Op("matching", "propose", {"candidate_id": an_id("candidate"), "vacancy_id": an_id("vacancy")},
           writes=True),
        Op("matching", "introduce", {"match_id": an_id("match"), "note": maybe(text(1, 100))}, writes=True),
        Op("matching", "reject", {"match_id": an_id("match"), "reason": one_of(*MATCH_REJECT_REASONS),
                                  "note": maybe(text(1, 100))}, writes=True),
        Op("matching", "get_match", {"match_id": an_id("match")}),
        Op("matching", "record_placement", {"placement": payload(matching_schemas.RecordPlacement())},
           writes=True),
        Op("matching", "end_placement", {"placement_id": an_id("placement"), "end_date": a_date(),
                                         "reason": one_of(*PLACEMENT_END_REASONS)}, writes=True),
        Op("matching", "get_placement", {"placement_id": an_id("placement")}),
        Op("matching", "placements_of", {"candidate_id": an_id("candidate")}),
        Op("matching", "fairness", {}, public=True),
        Op("matching", "indexed", {"candidate_ids": ids("candidate")}),
        Op("matching", "index_size", {}),
        # aftercare
        Op("aftercare", "register_organisation", {"organisation": payload(aftercare_schemas.RegisterOrganisation())},
           soweco, writes=True),
        Op("aftercare", "register_jobcoach", {"jobcoach": payload(aftercare_schemas.RegisterJobcoach())},
           soweco, writes=True),
        Op("aftercare", "update_jobcoach", {"jobcoach_id": an_id("jobcoach"),
                                            "changes": payload(aftercare_schemas.UpdateJobcoach(), True)},
           soweco, writes=True),
        Op("aftercare", "deactivate_jobcoach", {"jobcoach_id": an_id("jobcoach")}, soweco, writes=True),
        Op("aftercare", "jobcoaches", {"region": maybe(one_of("Twente", "Midden-Utrecht"))}, soweco),
        Op("aftercare", "reassign", {"plan_id": an_id("plan"), "jobcoach_id": an_id("jobcoach")}, soweco,
           writes=True),
        Op("aftercare", "plan_for_placement", {"placement_id": an_id("placement")}, soweco),
        Op("aftercare", "tasks", {"jobcoach_id": maybe(an_id("jobcoach")),
                                  "status": maybe(one_of("open", "done", "cancelled")),
                                  "due_before": maybe(a_date()), "placement_id": maybe(an_id("placement"))},
           soweco),
        Op("aftercare", "workload", {"jobcoach_id": maybe(an_id("jobcoach")), "organisation": maybe(ORGANISATION)},
           soweco),
        Op("aftercare", "complete_task", {
            "task_id": an_id("task"), "outcome": one_of(*TASK_OUTCOMES), "note": maybe(text(1, 100)),
            "hours_spent": maybe(whole(0, 10)), "end_date": maybe(a_date()),
            "end_reason": maybe(one_of(*PLACEMENT_END_REASONS))}, soweco, writes=True),
        Op("aftercare", "escalations", {"organisation": maybe(ORGANISATION), "open_only": one_of(True, False,
                                                                                                   optional=True)},
           soweco),
        # sweep(today) writes (announces overdue tasks as of that day): fuzzed with bad dates only, see below
        Op("aftercare", "sweep", {"today": Arg(lambda g: None, optional=True)}, soweco, writes=True),
        # reporting: public aggregates
        Op("reporting", "outflow", figure, public=True),
        Op("reporting", "durability", figure, public=True),
        Op("reporting", "targets", {}, public=True),
        Op("reporting", "board", {}, public=True),
        Op("reporting", "board_version", {}, public=True),
    ]


def make_call(op: Op, gen: Gen, kind: str) -> tuple[tuple, dict]:
    """Positional arguments up to the last one given, the optional rest as keywords."""
    values = {name: arg.make(gen) for name, arg in op.args.items()}
    names = list(op.args)
    if kind != VALID and names:
        spoilt = names if kind == HOSTILE and gen.rng.random() < 0.5 else [gen.rng.choice(names)]
        for name in spoilt:
            arg = op.args[name]
            if arg.schema is not None or isinstance(values[name], dict):
                values[name] = gen.spoil(values[name], arg.schema, kind == HOSTILE)
            elif isinstance(values[name], list) and values[name] and gen.rng.random() < 0.5:
                items = list(values[name])
                items[gen.rng.randrange(len(items))] = gen.spoil_scalar(None, kind == HOSTILE)
                values[name] = items
            else:
                values[name] = gen.spoil_scalar(values[name], kind == HOSTILE)
    elif op.name == "sweep":
        values["today"] = None  # a valid sweep runs as of the services' date
    args, kwargs = [], {}
    for name in names:
        arg = op.args[name]
        if arg.optional and values[name] is None and gen.rng.random() < 0.5:
            continue  # left out: its default
        if kwargs or (arg.optional and gen.rng.random() < 0.5):
            kwargs[name] = values[name]
        else:
            args.append(values[name])
    return tuple(args), kwargs


# --- the gateway -------------------------------------------------------------------------------


@dataclass
class Route:
    method: str
    path: str  # with {kind} placeholders for ids
    body: object = None  # (gen) -> dict, or None for no body
    query: object = None  # (gen) -> dict


def routes() -> list[Route]:
    return [
        Route("GET", "/health"),
        Route("POST", "/v1/candidates", lambda g: g.payload(CANDIDATE)),
        Route("GET", "/v1/candidates/{candidate}"),
        Route("GET", "/v1/vacancies/{vacancy}/candidates",
              query=lambda g: {"limit": str(g.rng.randint(1, 20)), "region": g.region}),
        Route("GET", "/v1/candidates/{candidate}/vacancies",
              query=lambda g: {"limit": str(g.rng.randint(1, 20)), "is_leerwerkbaan": "false"}),
        Route("GET", "/v1/candidates/{candidate}/occupations", query=lambda g: {"limit": "5"}),
        Route("POST", "/v1/matches",
              lambda g: {"candidate_id": g.an_id("candidate"), "vacancy_id": g.an_id("vacancy")}),
        Route("POST", "/v1/matches/{match}/introduction", lambda g: {"note": g.text(1, 50)}),
        Route("POST", "/v1/matches/{match}/rejection",
              lambda g: {"reason": g.rng.choice(MATCH_REJECT_REASONS), "note": g.text(1, 50)}),
        Route("POST", "/v1/placements", lambda g: g.payload(matching_schemas.RecordPlacement())),
        Route("POST", "/v1/placements/{placement}/end",
              lambda g: {"end_date": g.a_date(), "reason": g.rng.choice(PLACEMENT_END_REASONS)}),
        Route("GET", "/v1/matching/fairness"),
        Route("GET", "/v1/jobcoaches/{jobcoach}/tasks", query=lambda g: {"status": "open"}),
        Route("GET", "/v1/jobcoaches/{jobcoach}/workload"),
        Route("POST", "/v1/aftercare/tasks/{task}/completion", lambda g: {"outcome": "going_well", "note": "ok"}),
        Route("GET", "/v1/placements/{placement}/aftercare"),
        Route("POST", "/v1/aftercare/plans/{plan}/reassignment", lambda g: {"jobcoach_id": g.an_id("jobcoach")}),
        Route("GET", "/v1/outflow", query=lambda g: {"group_by": g.rng.choice(["cohort", "region"])}),
        Route("GET", "/v1/durability", query=lambda g: {"period": g.rng.choice(["month", "year"])}),
        Route("GET", "/v1/targets"),
        Route("GET", "/v1/board"),
        Route("GET", "/v1/board/version"),
        Route("GET", "/board"),
        Route("GET", "/board/static/{asset}"),
    ]


HOSTILE_BODIES = [b"[" * 100_000, b"{", b"null", b"[]", b'"text"', b"\xff\xfe\x00", b'{"a": NaN}',
                  b'{"note": "\\udfff"}', b'{"note": "7511\\u0000AB"}', b"{}" * 1000, b"x" * 1_000_000]


def make_request(route: Route, gen: Gen, kind: str) -> tuple[str, bytes | None, dict]:
    """The path (ids filled in, URL-quoted), the body and the query of one request."""
    rng = gen.rng
    path = route.path
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        value = gen.an_id(path[start + 1:end])
        if kind != VALID and rng.random() < 0.5:
            bad = gen.spoil_scalar(value, kind == HOSTILE)
            value = bad if isinstance(bad, str) and bad else rng.choice(["%00", "\x00", "\udfff", "..", "a/b"])
        path = path[:start] + quote(value[:5000], safe="", errors="surrogatepass") + path[end + 1:]
    body = route.body(gen) if route.body else None
    query = route.query(gen) if route.query else {}
    if kind != VALID:
        if body is not None and rng.random() < 0.6:
            if rng.random() < 0.3:
                return path, rng.choice(HOSTILE_BODIES), query
            body = gen.spoil(body, None, kind == HOSTILE)
        elif query or rng.random() < 0.3:
            key = rng.choice([*query, "limit", "status", "period"]) if query else "limit"
            bad = gen.spoil_scalar(None, kind == HOSTILE)
            query = {**query, key: bad if isinstance(bad, str) else json.dumps(bad)[:1000]}
    data = None if body is None else json.dumps(body).encode()  # ensure_ascii: surrogates travel as escapes
    return path, data, {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}


KINDS_CYCLE = (VALID, ALMOST, HOSTILE)
