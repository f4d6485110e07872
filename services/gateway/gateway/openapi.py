"""The gateway's OpenAPI 3 document, generated from its routes and the services' marshmallow schemas.

Every route's ``@route`` declaration (``gateway.routes.Doc``) gives its method, path, the
schema of its body and query (the very schemas the service behind it loads, through
apispec's MarshmallowPlugin), its page size cap and cursor, and its reply; errors are
``application/problem+json`` (RFC 9457). ``document()`` builds it once per process.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from candidates import schemas as candidate_schemas
from gateway import examples
from gateway.routes import Doc
from vacancies import schemas as vacancy_schemas
from vacancies.domain import POSTCODE as VACANCY_POSTCODE
from werkbrug_shared import roles as role_names
from werkbrug_shared.events.catalogue import ESCO_OCCUPATION, ESCO_SKILL
from werkbrug_shared.http_policy import API_VERSION
from werkbrug_shared.pagination import MAX_CURSOR

TITLE = "werkbrug partner API"
VERSION = API_VERSION  # the API's, as every response says (API-Version); /v1 is its major
OPENAPI_VERSION = "3.0.3"

TAGS = [
    {"name": "candidates", "description": "Registration, the werkprofiel, logbook and plan, trajectories, cohorts "
                                          "and enrolments, erasure (AVG)."},
    {"name": "vacancies", "description": "Employers and the shared pool of vacancies, with stewards and shortlist."},
    {"name": "matching", "description": "Explained rankings both ways, proposals (matches) and placements."},
    {"name": "aftercare", "description": "Nazorg: coaching organisations, jobcoaches, plans, tasks and escalations."},
    {"name": "reporting", "description": "The regional board's aggregates: small groups suppressed, no credential."},
    {"name": "board", "description": "The regional board's page."},
    {"name": "system", "description": "Health and this description."},
]

DESCRIPTION = """\
Every partner operation of werkbrug over HTTP+JSON. Each route calls one RPC operation of a
service (named in `x-werkbrug-rpc`), which validates, authorises and answers as it does over RPC.

**Credentials.** `Authorization: Bearer <credential>`, the partner organisation's; optionally
`X-Werkbrug-Professional` names which of its professionals acts. The organisation and region come
from the credential, never from a body. Only the board's aggregates, matching's fairness and
published vacancies need none.

**Personal data** is never in a path or query string: a candidate is named by an opaque id, and
look-ups by anything else go in a request body. Replies that may hold it are `Cache-Control: no-store`.

**Lists** take `limit` (each route's cap is in its schema) and, where they are paged, the opaque
`cursor` of the page before (`next_cursor`; `null` on the last page).

**Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`, and for
a refused request the fields at fault (`invalidParams`, and `errors` mapping each field to its
messages). Every response carries `API-Version`.
"""

# --- reply schemas: what the services answer (the services build these as dicts) -----------------

STRING, INTEGER, NUMBER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
MOMENT = {"type": "string", "format": "date-time"}


def nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def obj(properties: dict | None = None, required: tuple = (), description: str = "") -> dict:
    out: dict = {"type": "object", "properties": properties or {}}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def array(items: dict, description: str = "") -> dict:
    return {"type": "array", "items": items, **({"description": description} if description else {})}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def page(item: str) -> dict:
    return obj({"items": array(ref(item)), "next_cursor": nullable({**STRING, "description": "pass back as "
                                                                                              "`cursor`; null on "
                                                                                              "the last page"})},
               ("items", "next_cursor"))


REPLIES = {
    "Health": obj({"status": {"type": "string", "enum": ["ok", "degraded"]}, "broker": STRING},
                  ("status", "broker")),
    "Candidate": obj({"id": STRING, "status": STRING, "region": STRING, "target_groups": array(STRING),
                      "given_name": STRING, "family_name": STRING, "has_bsn": BOOLEAN,
                      "plan": nullable(obj({"goal": STRING, "steps": array(STRING)}))}, ("id", "status"),
                     "The profile; personal data (names, contact, address, `has_bsn`, plan) only for the "
                     "registering organisation."),
    "CandidatePage": page("Candidate"),
    "Erased": obj({"id": STRING, "status": STRING}, ("id", "status")),
    "RowResults": array(obj({"index": INTEGER, "id": STRING, "existing": BOOLEAN,
                             "errors": obj(description="field to messages"), "conflict": STRING}, ("index",))),
    "LogEntryWritten": obj({"id": STRING, "candidate_id": STRING, "organisation": STRING,
                            "professional": nullable(STRING), "date": DATE, "recorded_at": MOMENT},
                           ("id", "candidate_id")),
    "LogEntries": array(obj({"id": STRING, "organisation": STRING, "professional": nullable(STRING), "date": DATE,
                             "text": STRING, "recorded_at": MOMENT}, ("id", "text"))),
    "PlanSet": obj({"candidate_id": STRING, "steps": INTEGER, "updated_at": MOMENT}, ("candidate_id",)),
    "Trajectory": obj({"id": STRING, "name": STRING, "weeks": INTEGER, "organisation": STRING,
                       "modules": array(obj({"code": STRING, "name": STRING,
                                             "certificate_skill": nullable(STRING)}))}, ("id", "name")),
    "Cohort": obj({"id": STRING, "name": STRING, "trajectory_id": STRING, "trajectory": STRING, "start_date": DATE,
                   "region": STRING, "organisation": STRING, "enrolled": INTEGER,
                   "completed": obj(description="module code to how many completed it")}, ("id", "name")),
    "EnrolmentMade": obj({"candidate_id": STRING, "cohort_id": STRING, "cohort": STRING, "trajectory": STRING,
                          "status": STRING}, ("candidate_id", "cohort_id")),
    "ModuleCompleted": obj({"candidate_id": STRING, "cohort_id": STRING, "module_code": STRING,
                            "skill": nullable(STRING)}, ("candidate_id", "cohort_id", "module_code")),
    "Employer": obj({"id": STRING, "name": STRING, "kvk_number": STRING, "region": STRING}, ("id",)),
    "Vacancy": obj({"id": STRING, "employer_id": STRING, "title": STRING, "region": STRING, "status": STRING,
                    "openings": INTEGER, "hours_per_week": INTEGER}, ("id",)),
    "VacancyPage": page("Vacancy"),
    "Stewards": array(obj({"organisation": STRING, "professional": nullable(STRING)})),
    "ShortlistEntry": obj({"vacancy_id": STRING, "candidate_id": STRING, "organisation": STRING,
                           "professional": nullable(STRING), "added_at": MOMENT}, ("vacancy_id", "candidate_id")),
    "Shortlist": array(obj({"vacancy_id": STRING, "candidate_id": STRING, "organisation": STRING,
                            "professional": nullable(STRING), "note": nullable(STRING), "added_at": MOMENT},
                           ("vacancy_id", "candidate_id"))),
    "Ranking": obj({"results": array(obj({"id": STRING, "score": NUMBER}, ("id",))),
                    "near_misses": array(obj({"id": STRING}, ("id",)))}, ("results", "near_misses"),
                   "Results best first, each with its score breakdown and skill gaps; near-misses with why not."),
    "Occupations": array(obj(description="an ESCO occupation and how the candidate's skills carry over")),
    "Match": obj({"id": STRING, "candidate_id": STRING, "vacancy_id": STRING, "status": STRING,
                  "score": nullable(NUMBER), "proposed_by": STRING, "proposed_at": MOMENT, "note": nullable(STRING),
                  "rejected_reason": nullable(STRING), "placement_id": nullable(STRING)}, ("id", "status")),
    "Placement": obj({"id": STRING, "candidate_id": STRING, "vacancy_id": STRING, "employer_id": nullable(STRING),
                      "start_date": DATE, "hours_per_week": INTEGER, "status": STRING, "match_id": nullable(STRING),
                      "credited_organisations": array(STRING), "end_date": nullable(DATE),
                      "end_reason": nullable(STRING), "request_id": nullable(STRING)}, ("id", "status")),
    "Placements": array(ref("Placement")),
    "Fairness": {"description": "per target group: share of the top 10 served against share of the eligible pool"},
    "IndexLookup": obj(description="candidate id to `{in_pool}`, for the ids the index holds"),
    "IndexSize": obj(description="how many candidates and vacancies the index holds"),
    "CoachingOrganisation": obj({"id": STRING, "name": STRING}, ("id", "name")),
    "Jobcoach": obj({"id": STRING, "name": STRING, "organisation": STRING, "regions": array(STRING),
                     "capacity_hours": NUMBER, "expertise": array(STRING), "active": BOOLEAN,
                     "email": nullable(STRING)}, ("id",)),
    "Jobcoaches": array(ref("Jobcoach")),
    "JobcoachDeactivated": obj({"id": STRING, "active": BOOLEAN, "plans_reassigned": INTEGER,
                                "plans_unassigned": INTEGER}, ("id",)),
    "Task": obj({"id": STRING, "plan_id": STRING, "placement_id": STRING, "jobcoach_id": nullable(STRING),
                 "kind": STRING, "due": DATE, "status": STRING, "outcome": nullable(STRING), "hours": NUMBER,
                 "hours_spent": nullable(NUMBER), "overdue": BOOLEAN}, ("id", "status")),
    "Tasks": array(ref("Task")),
    "Workload": obj(description="a jobcoach's open and overdue tasks, hours a week planned against capacity, "
                                "active plans"),
    "Workloads": array(ref("Workload")),
    "AftercarePlan": obj({"id": STRING, "placement_id": STRING, "jobcoach_id": nullable(STRING),
                          "status": STRING, "unassigned": BOOLEAN, "start_date": DATE,
                          "budget": obj({"hours_per_year": array(NUMBER), "planned_per_year": array(NUMBER),
                                         "used_per_year": array(NUMBER)}),
                          "tasks": array(ref("Task"))}, ("id", "placement_id", "tasks")),
    "Escalations": array(obj({"id": STRING, "kind": STRING, "plan_id": nullable(STRING),
                              "task_id": nullable(STRING), "organisation": nullable(STRING), "region": STRING,
                              "created_at": MOMENT, "resolved": BOOLEAN}, ("id",))),
    "Sweep": obj({"announced": INTEGER, "overdue": INTEGER, "by_organisation": obj()},
                 ("announced", "overdue", "by_organisation")),
    "Figures": obj(description="totals and `rows` per grouping; counts of 1-4 read \"< 5\" (or \"x\"), rates "
                               "from them null"),
    "Targets": array(obj({"id": STRING, "label": STRING, "target": INTEGER}, ("id",))),
    "Board": obj({"version": INTEGER}, ("version",), "the regional board (reporting's `board()`)"),
    "BoardVersion": obj({"version": INTEGER}, ("version",)),
}

PROBLEM = obj({
    "type": {"type": "string", "description": "a URI naming the kind of problem"},
    "title": {**STRING, "description": "the kind of problem, the same for every occurrence"},
    "status": {**INTEGER, "minimum": 100, "maximum": 599},
    "detail": {**STRING, "description": "this occurrence; never repeats personal data the caller did not send"},
    "instance": STRING,
    "invalidParams": array(obj({"name": {**STRING, "description": "the field, dotted when nested"},
                                "reason": STRING}, ("name", "reason")),
                           "a refused request's fields at fault (NL GOV API Design Rules)"),
    "error": {**STRING, "description": "werkbrug's name of the error (ValidationError, NotFound, ...)"},
    "message": {**STRING, "description": "the same as `detail`"},
    "errors": obj(description="a refused request's fields, each to its messages (nested for nested fields)"),
}, ("type", "title", "status", "detail"), "RFC 9457 problem details")

ERRORS = {
    "400": ("BadRequest", "the request is refused: the fields at fault are named"),
    "401": ("Unauthorized", "no credential, or one nobody issued"),
    "403": ("Forbidden", "a known partner asking for what it may not do or see"),
    "404": ("NotFound", "no such thing, or none the caller may see"),
    "406": ("NotAcceptable", "the reply can only be JSON"),
    "409": ("Conflict", "against what is stored (a BSN registered before, a request_id with other content, "
                        "a change the state does not allow)"),
    "413": ("PayloadTooLarge", "the body is too large"),
    "414": ("UriTooLong", "the request line is over 8 KiB: answered by the web server, without a body"),
    "415": ("UnsupportedMediaType", "the body must be application/json"),
    "429": ("TooManyRequests", "the organisation's rate limit: try again after `Retry-After` seconds"),
    "500": ("InternalError", "the service failed"),
    "503": ("ServiceUnavailable", "a service behind the gateway is not running: try again after `Retry-After`"),
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": INTEGER}}


VERSION_HEADER = {"API-Version": {"$ref": "#/components/headers/API-Version"}}


def _error(code: str) -> dict:
    name, description = ERRORS[code]
    if code == "414":
        return {"description": description}
    out = {"description": description, "content": {"application/problem+json": {"schema": ref("Problem")}},
           "headers": {**VERSION_HEADER, **(RETRY_AFTER if code in ("429", "503") else {})}}
    return out


def error_codes(doc: Doc) -> list[str]:
    # 414 everywhere: the web server's own answer to a request line over 8 KiB (eventlet's, no body)
    if not doc.url.startswith("/v1/"):
        return ["404", "414", "429", "500"] if doc.path_params else ["414", "429", "500"]
    # 404 everywhere: a body or query may name what does not exist (or what the caller may not see)
    codes = ["400", "404", "406", "414", "429", "500", "503"]
    if not doc.public:
        codes += ["401", "403"]
    if doc.method != "GET":
        codes += ["409", "413", "415"] if doc.body is not None else ["409"]
    return sorted(set(codes))


# --- the document -------------------------------------------------------------------------------------


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


def routes(service_cls) -> list[tuple[str, Doc]]:
    """(method name, description) of every route of the service class, by path and method."""
    found = [(name, member.openapi) for name, member in inspect.getmembers(service_cls)
             if isinstance(getattr(member, "openapi", None), Doc)]
    return sorted(found, key=lambda item: (item[1].path, item[1].method))


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _parameters(doc: Doc) -> list:
    params: list = [{"in": "path", "name": name, "required": True,
                     "schema": {"type": "string", "minLength": 1,
                                **({"maxLength": 64} if name.endswith("_id") else {})}}
                    for name in doc.path_params]
    if doc.query is not None:
        params.append({"in": "query", "schema": doc.query})  # one parameter per field (MarshmallowPlugin)
    if doc.limit is not None:
        params.append({"in": "query", "name": "limit", "required": False, "description": "page size",
                       "schema": {"type": "integer", "minimum": 1, "maximum": doc.limit.maximum,
                                  "default": doc.limit.default}})
    if doc.cursor:
        params.append({"in": "query", "name": "cursor", "required": False,
                       "description": "the `next_cursor` of the page before; left out for the first page",
                       "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR}})
    return params


def _body(spec: APISpec, name: str, body, example: dict | None) -> dict:
    if isinstance(body, dict):
        schema = body
    else:
        component = f"{_camel(name)}Body"
        spec.components.schema(component, schema=body)
        schema = ref(component)
    media = {"schema": schema, **({"example": example} if example is not None else {})}
    return {"required": True, "content": {"application/json": media}}


def _success(doc: Doc) -> dict:
    if doc.status == 204:
        return {"description": "done; nothing to answer", "headers": VERSION_HEADER}
    if doc.media != "application/json":
        return {"description": doc.summary, "content": {doc.media: {"schema": {"type": "string"}}},
                "headers": VERSION_HEADER}
    schema = ref(doc.reply) if isinstance(doc.reply, str) else (doc.reply or {})
    description = {201: "created", 200: "done"}.get(doc.status, "done")
    return {"description": description, "content": {"application/json": {"schema": schema}},
            "headers": VERSION_HEADER}


@functools.cache
def declared_roles(service: str) -> dict[str, tuple[str, ...]]:
    """Each ``@rpc`` operation of a service and the roles it names (``()`` for a public one), read
    from its service.py's source: importing it would load what only the service needs (numba).
    A role given by a name is looked up in the module's own constants, then in werkbrug_shared.roles;
    what cannot be read is left out of the document (tests/unit/test_openapi.py holds it complete)."""
    try:
        origin = importlib.util.find_spec(f"{service}.service").origin
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (ImportError, AttributeError, OSError, SyntaxError):
        return {}
    constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}

    def resolve(expr, depth: int = 0) -> list[str]:
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return [role for item in expr.elts for role in resolve(item, depth)]
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        name = expr.id if isinstance(expr, ast.Name) else expr.attr if isinstance(expr, ast.Attribute) else None
        if name in constants and depth < 5:
            return resolve(constants[name], depth + 1)
        if name is not None and isinstance(getattr(role_names, name, None), str):
            return [getattr(role_names, name)]
        raise ValueError(f"cannot read the roles of {service}: {ast.dump(expr)[:80]}")

    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if not (isinstance(target, ast.Name) and target.id == "rpc"):
                continue
            named = next((k.value for k in (call.keywords if call else ()) if k.arg == "roles"), None)
            try:
                found[node.name] = tuple(sorted(set(resolve(named)))) if named is not None else ()
            except ValueError:
                continue
    return found


def roles_of(rpc: str) -> tuple[str, ...]:
    service, name = rpc.split(".")
    return declared_roles(service).get(name, ())


def operation(spec: APISpec, name: str, doc: Doc) -> dict:
    op: dict = {
        "operationId": name, "summary": doc.summary, "tags": [doc.tag],
        "parameters": _parameters(doc),
        "responses": {str(doc.status): _success(doc), **{code: _error(code) for code in error_codes(doc)}},
    }
    if doc.description:
        op["description"] = doc.description
    if doc.rpc:
        op["x-werkbrug-rpc"] = doc.rpc
        if not doc.public and (allowed := roles_of(doc.rpc)):
            op["x-werkbrug-roles"] = list(allowed)
            op["description"] = f"{doc.description}\n\nRoles: {', '.join(allowed)}.".lstrip()
    if doc.body is not None:
        op["requestBody"] = _body(spec, name, doc.body, examples.BODIES.get(name))
    if doc.public:
        op["security"] = []  # answered without a credential (one sent is not looked at)
    else:
        op["parameters"].append("Professional")  # apispec refers to the component by name
    for key, value in doc.extra.items():  # a dict merged (responses by status), a list added to (parameters)
        if isinstance(value, dict):
            op[key] = {**op.get(key, {}), **value}
        elif isinstance(value, list):
            op[key] = [*op.get(key, []), *value]
        else:
            op[key] = value
    return op


# checks the services make in code, as the patterns they imply (what the pattern cannot say, the
# description does: a URI ESCO knows, a postcode in a known PC4 area)
KNOWN = {
    vacancy_schemas.known_postcode: (VACANCY_POSTCODE.pattern, "a Dutch postcode in a known PC4 area"),
    vacancy_schemas.known_skill: (ESCO_SKILL, "an ESCO skill URI that ESCO knows"),
    vacancy_schemas.known_occupation: (ESCO_OCCUPATION, "an ESCO occupation URI that ESCO knows"),
}


def _checked_in_code(converter, field, **kwargs) -> dict:
    """Candidates' skill (a plain ESCO URI, the spine's form, or a claim with level and evidence),
    and the fields the services check with a function of their own."""
    if isinstance(field, candidate_schemas.Skill):
        return {"anyOf": [{"type": "string", "pattern": ESCO_SKILL}, ref("SkillClaim")],
                "description": "an ESCO skill ESCO knows"}
    if field.name == "postcode" and isinstance(field.parent, candidate_schemas.RegisterCandidate):
        return {"pattern": r"^\s*[1-9][0-9]{3}\s?([A-Za-z]{2})?\s*$",
                "description": "a Dutch postcode (1234 AB) in a known PC4 area"}
    for check, (pattern, description) in KNOWN.items():
        if check in getattr(field, "validators", ()):
            return {"pattern": pattern, "description": description}
    return {}


def build(service_cls) -> dict:
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title=TITLE, version=VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        # the contact is the region's werkbedrijf running it; the project names no URL or licence of its own
        info={"description": DESCRIPTION, "contact": {"name": "werkbrug"}},
        servers=[{"url": "/", "description": "this werkbrug gateway"}],
        tags=TAGS,
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "the partner organisation's credential (`werkbrug partners add`)"})
    spec.components.parameter("Professional", "header", {
        "name": "X-Werkbrug-Professional", "required": False,
        "description": "which of the organisation's professionals acts (an id of theirs, not a name)",
        "schema": {"type": "string", "maxLength": 64}})
    spec.components.header("API-Version", {
        "description": "the API's full version (NL GOV API Design Rules)", "required": True,
        "schema": {"type": "string", "example": VERSION}})
    plugin.converter.add_attribute_function(_checked_in_code)
    spec.components.schema("SkillClaim", schema=candidate_schemas.SkillClaim)
    spec.components.schema("Problem", PROBLEM)
    for name, schema in REPLIES.items():
        spec.components.schema(name, schema)
    paths: dict[str, dict] = {}
    for name, doc in routes(service_cls):
        paths.setdefault(doc.path, {})[doc.method.lower()] = operation(spec, name, doc)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return ecma_patterns(spec.to_dict())


def ecma_patterns(node):
    """The services' patterns are Python's, anchored with ``\\Z``; JSON Schema's are ECMA 262, whose
    ``$`` (no multiline) means the same, the very end."""
    if isinstance(node, dict):
        return {k: (v.replace("\\Z", "$") if k == "pattern" and isinstance(v, str) else ecma_patterns(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [ecma_patterns(v) for v in node]
    return node


@functools.cache
def document(service_cls) -> dict:
    """Built once per process: the routes do not change while it runs."""
    return build(service_cls)

