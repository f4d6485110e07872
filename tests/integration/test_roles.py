"""Function-level authorisation: every operation, tried by every role that may not call it.

The operations come from the service classes' own entrypoints, so a new one is tried as soon
as it exists; one that declares no roles fails here (and does not even start). Each is called
over RPC against the running system with the development registry's single-role credentials
(``dev-gemeente-enschede-<role>``): a role the operation does not name gets Forbidden, every
time. The call's arguments do not fit the method on purpose: the role is checked before
anything else, so a role that may call it gets the argument error instead, and nothing is
ever done. Over HTTP the gateway passes the credential on, so the same check answers 403:
every gateway route in front of a non-public operation (found from the routes' own
declarations) is tried by every role its operation does not name.
"""

from __future__ import annotations

import importlib
import inspect
import re
import time
import uuid

from nameko.exceptions import IncorrectSignature, RemoteError

from werkbrug_shared import config, roles
from werkbrug_shared.entrypoints import Rpc
from werkbrug_shared.errors import Forbidden, Unauthorized

BAD_ARGS = tuple(f"x{i}" for i in range(12))  # more than any operation takes


def single_role_credential(role: str) -> str:
    return f"dev-gemeente-enschede-{role}"


def service_class(service: str):
    module = importlib.import_module(f"{service}.service")
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass)
              if getattr(c, "name", None) == service and c.__module__ == module.__name__]
    return cls


def rpc_operations() -> dict[str, Rpc]:
    return {f"{service}.{name}": ep
            for service in config.SERVICES if service != "gateway"
            for name, member in inspect.getmembers(service_class(service))
            for ep in getattr(member, "nameko_entrypoints", ()) if isinstance(ep, Rpc)}


def outcome(proxy, operation: str) -> str:
    service, name = operation.split(".")
    try:
        getattr(getattr(proxy, service), name)(*BAD_ARGS)
    except Forbidden:
        return "Forbidden"
    except Unauthorized:
        return "Unauthorized"
    except IncorrectSignature:
        return "let through"
    except RemoteError as exc:
        return f"RemoteError {exc.exc_type}"
    return "answered"


def test_every_operation_refuses_every_role_it_does_not_name(system):
    operations = rpc_operations()
    assert len(operations) >= 59
    undeclared = sorted(op for op, ep in operations.items() if not ep.public and not ep.roles)
    assert undeclared == [], "operations nobody declared roles for"
    guarded = {op: ep.roles for op, ep in operations.items() if not ep.public}
    problems, tried = [], {"Forbidden": 0, "let through": 0}
    for role in sorted(roles.ALL):
        with system.rpc(single_role_credential(role)) as proxy:
            for operation, allowed in sorted(guarded.items()):
                got = outcome(proxy, operation)
                expected = "let through" if role in allowed else "Forbidden"
                tried[expected] += 1
                if got != expected:
                    problems.append(f"{operation} as {role} (for {', '.join(sorted(allowed))}): {got}, "
                                    f"expected {expected}")
    print(f"\nroles: {len(guarded)} guarded operations x {len(roles.ALL)} roles: {tried}")
    assert problems == [], "\n".join(problems)
    assert tried["Forbidden"] > 0 and tried["let through"] >= len(guarded)  # each is someone's


def test_public_operations_take_any_credential_and_none(system):
    public = sorted(op for op, ep in rpc_operations().items() if ep.public)
    assert "reporting.board" in public and "matching.fairness" in public
    for credential in (single_role_credential(roles.OPERATOR), None):
        with system.rpc(credential) as proxy:
            assert {op: outcome(proxy, op) for op in public} == dict.fromkeys(public, "let through")


def test_over_http_a_role_that_may_not_is_refused_with_403(system):
    board = {"Authorization": f"Bearer {single_role_credential(roles.BOARD)}"}
    person = {"given_name": "Rol", "family_name": "Proef", "region": "rollen", "postcode": "7511 AB",
              "target_groups": ["bijstand"], "hours_per_week": 24,
              "skills": ["http://data.europa.eu/esco/skill/021cf226-3dac-4712-9738-24bf0952c064"]}
    refused = system.http("POST", "/v1/candidates", headers=board, json=person)
    assert refused.status_code == 403, refused.text
    assert system.http("GET", "/v1/matching/fairness", headers=board).status_code == 200
    klantmanager = {"Authorization": f"Bearer {single_role_credential(roles.KLANTMANAGER)}"}
    made = system.http("POST", "/v1/candidates", headers=klantmanager, json=person)
    assert made.status_code in (200, 201), made.text


def gateway_routes() -> dict[str, str]:
    """Every gateway route that calls a non-public operation: "METHOD url" -> the operation."""
    operations = rpc_operations()
    found = {}
    for _, member in inspect.getmembers(service_class("gateway")):
        doc = getattr(member, "openapi", None)
        if doc is not None and doc.rpc and not operations[doc.rpc].public:
            found[f"{doc.method} {doc.url}"] = doc.rpc
    return found


def refused_over_http(system, method: str, url: str, credential: str):
    path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", lambda _: str(uuid.uuid4()), url)
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    while True:
        response = system.http(method, path, headers={"Authorization": f"Bearer {credential}"}, **body)
        if response.status_code != 429:  # the organisation's rate limit, shared with other tests: wait as told
            return response
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 5))


def test_over_http_every_route_refuses_every_role_its_operation_does_not_name(system):
    """The gateway passes the credential on: each route answers 403 where its operation would
    refuse the role, with what it was given (an empty body, unknown ids) never looked at."""
    operations, routes = rpc_operations(), gateway_routes()
    assert len(routes) >= 40, routes
    problems, tried = [], 0
    for route, operation in sorted(routes.items()):
        method, url = route.split(" ", 1)
        for role in sorted(roles.ALL - operations[operation].roles):
            tried += 1
            response = refused_over_http(system, method, url, single_role_credential(role))
            if response.status_code != 403:
                problems.append(f"{route} ({operation}) as {role}: {response.status_code} {response.text[:200]}")
    print(f"\nroles over HTTP: {len(routes)} routes, {tried} refusals tried")
    assert problems == [], "\n".join(problems)
