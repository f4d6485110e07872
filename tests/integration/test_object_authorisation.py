"""Object-level authorisation (OWASP API1): another organisation tries every gateway route on
Gemeente Enschede's candidate, its match and placement, and on Soweco's aftercare plan, task
and jobcoach, and is refused (403 or 404) every time, but where a rule lets it (ALLOWED, each
with its reason): what every partner may do, and what the region's professionals do together.

The routes are found from the gateway itself, so a new route that names one of these objects
is tried as soon as it exists; how each is called comes from test_visibility's HTTP_CALLS (a
call valid for whoever may make it, so a refusal comes from who asks, not from what was asked).
Both outsiders hold every role (dev credentials), so a refusal here is about the object, not
the role (test_roles covers those).
"""

from __future__ import annotations

import pytest

from tests.integration.test_visibility import HTTP_CALLS, http_routes, make_world

HENGELO, UTRECHT = "dev-gemeente-hengelo", "dev-gemeente-utrecht"
OUTSIDERS = {
    "Gemeente Hengelo (Twente, like Enschede)": HENGELO,
    "Gemeente Utrecht (another region)": UTRECHT,
}
OBJECTS = ("candidate_id", "match_id", "placement_id", "plan_id", "task_id", "jobcoach_id")
REFUSED = {403, 404}
# What the rules let another organisation do with someone else's object, and why: every partner
# reads the anonymous matching profile (no personal data: test_visibility checks what such answers
# hold) and matching's answers from it; a partner working with a person keeps a logbook of its own
# on them, reading back only its own entries (the registering organisation reads all); a list of
# a candidate's placements holds only those the caller may see (test_visibility: none leak).
FOR_EVERY_PARTNER = {
    "GET /v1/candidates/<string:candidate_id>": "the anonymous matching profile",
    "GET /v1/candidates/<string:candidate_id>/vacancies": "matching from the anonymous profile",
    "GET /v1/candidates/<string:candidate_id>/occupations": "matching from the anonymous profile",
    "GET /v1/candidates/<string:candidate_id>/logbook": "its own entries only",
    "POST /v1/candidates/<string:candidate_id>/logbook": "an entry of its own",
    "GET /v1/candidates/<string:candidate_id>/placements": "only the placements it may see",
}
# The region's professionals work its vacancies together (DESIGN: a shared pool, hidden vacancies
# visible to the region's professionals): the matches and placements on a vacancy they may see
# are theirs to read and move on, whoever proposed them. Another region's organisations are
# refused these (unless a steward of the vacancy: test_matching).
FOR_THE_REGION = {
    "GET /v1/matches/<string:match_id>": "a match on a vacancy of its region",
    "POST /v1/matches/<string:match_id>/introduction": "a match on a vacancy of its region",
    "POST /v1/matches/<string:match_id>/rejection": "a match on a vacancy of its region",
    "GET /v1/placements/<string:placement_id>": "a placement on a vacancy of its region",
    "POST /v1/placements/<string:placement_id>/end": "a placement on a vacancy of its region",
    "POST /v1/placements/<string:placement_id>/ending": "a placement on a vacancy of its region",
}
ALLOWED = {HENGELO: {**FOR_EVERY_PARTNER, **FOR_THE_REGION}, UTRECHT: FOR_EVERY_PARTNER}


def object_routes() -> list[str]:
    return [route for route in http_routes() if any(f":{name}>" in route for name in OBJECTS)]


@pytest.fixture(scope="module")
def world(system):
    return make_world(system)


def test_the_routes_tried_cover_every_kind_of_object():
    routes = object_routes()
    assert len(routes) >= 25, routes
    for name in OBJECTS:
        assert any(f":{name}>" in route for route in routes), name


@pytest.mark.parametrize("outsider", sorted(OUTSIDERS))
def test_another_organisation_is_refused_every_route_on_what_is_not_theirs(system, world, outsider):
    credential = OUTSIDERS[outsider]
    let_through, tried = [], 0
    for route in object_routes():
        if route in ALLOWED[credential]:
            continue
        method = route.split(" ", 1)[0]
        path, body = HTTP_CALLS[route](world)
        response = system.http(method, path, headers={"Authorization": f"Bearer {credential}"},
                               **({"json": body} if body is not None else {}))
        tried += 1
        if response.status_code not in REFUSED:
            let_through.append(f"{route}: {response.status_code} {response.text[:200]}")
    print(f"\n{outsider}: {tried} routes on others' objects, {tried - len(let_through)} refused")
    assert let_through == [], "\n".join(let_through)


def test_the_owners_are_let_through(system, world):
    """The same calls by the organisations whose objects they are get answers, not refusals:
    the refusals above are about who asks."""
    owners = {"dev-gemeente-enschede": ("GET /v1/candidates/<string:candidate_id>/logbook",
                                        "GET /v1/matches/<string:match_id>",
                                        "GET /v1/placements/<string:placement_id>"),
              "dev-soweco": ("GET /v1/placements/<string:placement_id>/aftercare",
                             "GET /v1/jobcoaches/<string:jobcoach_id>/tasks",
                             "GET /v1/jobcoaches/<string:jobcoach_id>/workload")}
    for credential, routes in owners.items():
        for route in routes:
            path, _ = HTTP_CALLS[route](world)
            response = system.http("GET", path, headers={"Authorization": f"Bearer {credential}"})
            assert response.status_code == 200, (route, response.status_code, response.text[:300])
